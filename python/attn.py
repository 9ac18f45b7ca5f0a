"""attn: call attnc kernels from Python.

A small pure-Python layer (ctypes) over libattn's C API (runtime/include/attn.h): compile an
attention spec (.attn text) for a CPU or an NVIDIA GPU, read the kernel's signature, launch it
on torch tensors (CPU or CUDA) or numpy arrays (CPU), and run the f64 reference on host data.

    import attn, torch
    kern = attn.compile(open("examples/causal.attn").read(), target="sm_90a")
    kern(q=q, k=k, v=v, o=o, lse=lse)            # on torch's current CUDA stream
    kern(q=q, k=k, v=v, o=o, window=1024)        # runtime params by name
    kern.reference(q=qc, k=kc, v=vc, o=oc)       # f64 math, host tensors (CUDA ones are copied)

Tensors are passed as they are: data pointer, dtype, shape and strides in elements; nothing is
copied or made contiguous (the last dimension of q, k, v and o must be contiguous). A numpy
array must be in the machine's byte order, and an output must be writable (a read-only array,
such as np.frombuffer of bytes, is refused). A tensor with no elements (B = 0, Lk = 0) is
accepted, as by the C API. Every failure raises AttnError, whose message is libattn's
attn_last_error() (spec diagnostics included).

The library is found, in this order, at: $ATTN_LIBRARY; the libattn installed with this file
(`cmake --install`); next to this file; the build folders of the source tree this file sits in
(build*/); the system's library path. A library built with AddressSanitizer is passed over
unless the ASan runtime is already loaded (LD_PRELOAD), since loading it would end the process.
"""

import ctypes
import ctypes.util
import glob
import os
import struct

__all__ = ["AttnError", "Kernel", "compile", "compile_file", "reference", "version",
           "library_path", "F32", "F16", "BF16", "I32", "F64"]

# AttnDtype
F32, F16, BF16, I32, F64 = range(5)
_DTYPE_NAMES = {F32: "f32", F16: "f16", BF16: "bf16", I32: "i32", F64: "f64"}
# AttnStatus
_STATUS_NAMES = ["ok", "spec", "arg", "unsupported", "target", "cuda", "io", "nomem", "internal"]
_MAX_RANK = 8


class AttnError(RuntimeError):
    """A libattn call failed. `status` is the AttnStatus name ("spec", "arg", ...), `code` its
    number, and the message is attn_last_error() (for a spec, the rendered diagnostics)."""

    def __init__(self, message, status="internal", code=None):
        super().__init__(message)
        self.status = status
        self.code = code


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int32),
                ("shape", ctypes.c_int64 * _MAX_RANK), ("strides", ctypes.c_int64 * _MAX_RANK)]


class _Define(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_double)]


class _CompileOptions(ctypes.Structure):
    _fields_ = [("target", ctypes.c_char_p), ("defines", ctypes.POINTER(_Define)),
                ("ndefines", ctypes.c_int32), ("no_cache", ctypes.c_int32),
                ("kernel", ctypes.c_char_p), ("dtype", ctypes.c_char_p)]


class _LaunchOptions(ctypes.Structure):
    _fields_ = [("stream", ctypes.c_void_p), ("num_threads", ctypes.c_int32),
                ("reuse_tile_map", ctypes.c_int32)]


_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int32
_TP = ctypes.POINTER(_Tensor)
_DP = ctypes.POINTER(ctypes.c_double)
# name: (restype, argtypes), from attn.h. Bound lazily so that a library that lacks a function
# still loads and the error names what is missing.
_PROTOTYPES = {
    "attn_compile": (ctypes.c_int, [_S, _S, ctypes.POINTER(_CompileOptions), ctypes.POINTER(_P)]),
    "attn_compile_file": (ctypes.c_int, [_S, ctypes.POINTER(_CompileOptions), ctypes.POINTER(_P)]),
    "attn_kernel_free": (None, [_P]),
    "attn_kernel_name": (_S, [_P]),
    "attn_kernel_target": (_S, [_P]),
    "attn_kernel_num_tensors": (_I, [_P]),
    "attn_kernel_tensor_name": (_S, [_P, _I]),
    "attn_kernel_tensor_kind": (ctypes.c_int, [_P, _I]),
    "attn_kernel_tensor_dtype": (ctypes.c_int, [_P, _I]),
    "attn_kernel_tensor_rank": (_I, [_P, _I]),
    "attn_kernel_tensor_dim": (_I, [_P, _I, _I, ctypes.POINTER(_S)]),
    "attn_kernel_num_params": (_I, [_P]),
    "attn_kernel_param_name": (_S, [_P, _I]),
    "attn_kernel_param_default": (_I, [_P, _I, _DP]),
    "attn_launch": (ctypes.c_int, [_P, _TP, _I, _DP, _I, ctypes.POINTER(_LaunchOptions)]),
    "attn_reference": (ctypes.c_int, [_P, _TP, _I, _DP, _I]),
    "attn_last_error": (_S, []),
    "attn_status_name": (_S, [ctypes.c_int]),
    "attn_version": (_S, []),
}


# The installed libattn, relative to this file: `cmake --install` writes it into the copy it
# installs (cmake/install_python.cmake); None in the source tree.
_INSTALLED_LIBRARY = None


def _candidates():
    env = os.environ.get("ATTN_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    if _INSTALLED_LIBRARY:
        yield os.path.normpath(os.path.join(here, _INSTALLED_LIBRARY))
    for name in ("libattn.so", "libattn.so.0"):
        yield os.path.join(here, name)
    root = os.path.dirname(here)
    for d in sorted(glob.glob(os.path.join(root, "build*"))):
        yield os.path.join(d, "libattn.so")
    found = ctypes.util.find_library("attn")
    if found:
        yield found
    yield "libattn.so.0"


def _built_with_asan(path):
    """Whether the ELF64 shared library at `path` is instrumented by AddressSanitizer: its
    dynamic string table (symbol and needed-library names) holds __asan_init, which gcc's and
    clang's instrumentation both call. False for anything that cannot be read as ELF64."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:
                return False
            order = "<" if head[5] == 1 else ">"
            shoff, = struct.unpack_from(order + "Q", head, 0x28)
            shentsize, shnum = struct.unpack_from(order + "HH", head, 0x3A)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            # A section header starts: name, type, flags, addr, offset, size, link.
            fields = order + "IIQQQQI"
            for i in range(shnum):
                sh = struct.unpack_from(fields, table, i * shentsize)
                if sh[1] == 11:          # SHT_DYNSYM; its link is its string table, .dynstr
                    strtab = struct.unpack_from(fields, table, sh[6] * shentsize)
                    f.seek(strtab[4])
                    return b"__asan_init" in f.read(strtab[5])
    except (OSError, struct.error):
        pass
    return False


def _asan_loaded():
    """Whether this process already has the ASan runtime (python started with it in LD_PRELOAD),
    so that an instrumented libattn can be loaded."""
    return hasattr(ctypes.CDLL(None), "__asan_init")


class _Lib:
    """The loaded libattn and its functions, bound on first use."""

    def __init__(self):
        self.handle = None
        self.path = None
        self.fns = {}

    def load(self):
        if self.handle is not None:
            return
        tried = []
        hint = ""
        for path in _candidates():
            if os.path.sep in path and not os.path.exists(path):
                tried.append(path + " (absent)")
                continue
            # Loading an ASan build into a process without the ASan runtime does not fail:
            # the runtime ends the process. So such a library is passed over, before dlopen.
            if os.path.sep in path and _built_with_asan(path) and not _asan_loaded():
                tried.append(path + " (built with AddressSanitizer, whose runtime this process "
                             "lacks)")
                hint = (" An ASan build loads only into a python started with its runtime: "
                        "LD_PRELOAD=$(cc -print-file-name=libasan.so) python3 ...")
                continue
            try:
                self.handle = ctypes.CDLL(path)
                self.path = path
                return
            except OSError as e:
                tried.append("%s (%s)" % (path, e))
        raise AttnError("no libattn could be loaded; set ATTN_LIBRARY to libattn.so. Tried: "
                        + "; ".join(tried) + "." + hint, "target")

    def __getattr__(self, name):
        if not name.startswith("attn_"):
            raise AttributeError(name)
        fn = self.fns.get(name)
        if fn is None:
            self.load()
            try:
                fn = getattr(self.handle, name)
            except AttributeError:
                raise AttnError("%s lacks %s (an older libattn?)" % (self.path, name)) from None
            fn.restype, fn.argtypes = _PROTOTYPES[name]
            self.fns[name] = fn
        return fn


_lib = _Lib()


def _str(b):
    return b.decode("utf-8", "replace") if b is not None else None


def _check(status, what):
    if status != 0:
        code = int(status)
        name = _STATUS_NAMES[code] if 0 <= code < len(_STATUS_NAMES) else str(code)
        msg = _str(_lib.attn_last_error()) or _str(_lib.attn_status_name(code))
        raise AttnError("%s: %s" % (what, msg), name, code)


def library_path():
    """The path of the libattn that is (or would be) used."""
    _lib.load()
    return _lib.path


def version():
    return _str(_lib.attn_version())


# ---- tensors ------------------------------------------------------------------------------------

def _torch_dtype(t):
    import torch
    table = {torch.float32: F32, torch.float16: F16, torch.bfloat16: BF16, torch.int32: I32,
             torch.float64: F64}
    return table.get(t.dtype)


def _numpy_dtype(a):
    name = a.dtype.name
    return {"float32": F32, "float16": F16, "bfloat16": BF16, "int32": I32,
            "float64": F64}.get(name)


def _row_major(shape):
    """Contiguous strides, in elements, of a tensor of this shape."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(1, n)
    return tuple(reversed(strides))


def _describe(name, x, is_output):
    """Returns (AttnTensor, device) for a torch tensor or numpy array; device is "cpu" or
    "cuda:N". Raises AttnError naming the argument for anything else, for a numpy output that
    is read-only, and for a numpy array that is not in the machine's byte order."""
    desc = _Tensor()
    mod = type(x).__module__
    if mod.startswith("torch"):
        dt = _torch_dtype(x)
        ptr, shape, strides = x.data_ptr(), tuple(x.shape), tuple(x.stride())
        device = "cpu" if x.device.type == "cpu" else "%s:%d" % (x.device.type, x.device.index or 0)
        kind = str(x.dtype)
    elif hasattr(x, "__array_interface__") and hasattr(x, "ctypes"):
        dt = _numpy_dtype(x)
        if dt is not None and not x.dtype.isnative:
            raise AttnError("tensor '%s': dtype %s is not in this machine's byte order; "
                            "convert it with .astype(a.dtype.newbyteorder('='))"
                            % (name, x.dtype.str), "arg")
        if is_output and not x.flags.writeable:
            raise AttnError("tensor '%s': the array is read-only, and an output is written"
                            % name, "arg")
        item = x.dtype.itemsize
        if any(s % item for s in x.strides):
            raise AttnError("tensor '%s': strides %s are not a multiple of the element size"
                            % (name, x.strides), "arg")
        ptr, shape = x.ctypes.data, x.shape
        strides = tuple(s // item for s in x.strides)
        device = "cpu"
        kind = str(x.dtype)
    else:
        raise AttnError("tensor '%s': expected a torch tensor or a numpy array, got %s"
                        % (name, type(x).__name__), "arg")
    if dt is None:
        raise AttnError("tensor '%s': dtype %s is not one of f32, f16, bf16, i32, f64"
                        % (name, kind), "arg")
    if len(shape) > _MAX_RANK:
        raise AttnError("tensor '%s': rank %d is over %d" % (name, len(shape), _MAX_RANK), "arg")
    if 0 in shape:
        # Nothing is read or written, so the strides do not matter; numpy gives such arrays
        # strides of 0, which libattn refuses for a last dim.
        strides = _row_major(shape)
    desc.data = ptr
    desc.dtype = dt
    desc.rank = len(shape)
    for d, (n, s) in enumerate(zip(shape, strides)):
        desc.shape[d] = n
        desc.strides[d] = s
    return desc, device


# ---- kernels --------------------------------------------------------------------------------

class TensorInfo:
    """A declared tensor: name, kind ("in"/"out"), dtype (attn.F32, ...), rank, and dims (each
    an int for a fixed size or the symbol's name, "Lk", for a runtime size)."""
    __slots__ = ("name", "kind", "dtype", "rank", "dims")

    def __init__(self, name, kind, dtype, rank, dims):
        self.name, self.kind, self.dtype, self.rank, self.dims = name, kind, dtype, rank, dims

    def __repr__(self):
        return "%s %s: %s[%s]" % (self.kind, self.name, _DTYPE_NAMES.get(self.dtype, "?"),
                                  ", ".join(str(d) for d in self.dims))


class Kernel:
    """A compiled spec. Call it with its tensors and params by name."""

    def __init__(self, handle):
        self._h = ctypes.c_void_p(handle)
        self._free = _lib.attn_kernel_free
        self.name = _str(_lib.attn_kernel_name(self._h))
        self.target = _str(_lib.attn_kernel_target(self._h))
        self.tensors = []
        for i in range(_lib.attn_kernel_num_tensors(self._h)):
            kind = "out" if _lib.attn_kernel_tensor_kind(self._h, i) == 1 else "in"
            rank = _lib.attn_kernel_tensor_rank(self._h, i)
            dims = []
            for d in range(rank):
                sym = ctypes.c_char_p()
                n = _lib.attn_kernel_tensor_dim(self._h, i, d, ctypes.byref(sym))
                dims.append(_str(sym.value) if sym.value else n)
            self.tensors.append(TensorInfo(_str(_lib.attn_kernel_tensor_name(self._h, i)), kind,
                                           _lib.attn_kernel_tensor_dtype(self._h, i), rank, dims))
        self.params = {}    # name -> default value, or None when a launch must give it
        for i in range(_lib.attn_kernel_num_params(self._h)):
            value = ctypes.c_double()
            has = _lib.attn_kernel_param_default(self._h, i, ctypes.byref(value))
            self.params[_str(_lib.attn_kernel_param_name(self._h, i))] = (
                value.value if has else None)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            self._free(h)
            self._h = None

    @property
    def is_cuda(self):
        return bool(self.target) and self.target.startswith("sm_")

    def signature(self):
        parts = [repr(t) for t in self.tensors]
        parts += ["param %s%s" % (n, "" if d is None else " = %g" % d)
                  for n, d in self.params.items()]
        return "%s (%s): %s" % (self.name, self.target, "; ".join(parts))

    def __repr__(self):
        return "<attn.Kernel %s>" % self.signature()

    def _bind(self, args, any_float_out=False):
        """Turns keyword arguments into the C arrays of tensors and params; the rest of args
        (launch options) is returned. Checks names, dtypes and ranks, so that a mistake is
        reported before anything runs. any_float_out: outputs may have any floating dtype
        (the reference writes f64 outputs at full precision)."""
        args = dict(args)
        descs = (_Tensor * max(1, len(self.tensors)))()
        devices = []
        for n, info in enumerate(self.tensors):
            if info.name not in args:
                raise AttnError("missing tensor '%s' (%r)" % (info.name, info), "arg")
            x = args.pop(info.name)
            desc, device = _describe(info.name, x, info.kind == "out")
            if any_float_out and info.kind == "out" and desc.dtype != I32:
                pass
            elif desc.dtype != info.dtype:
                raise AttnError("tensor '%s' is %s, the spec declares %s" % (
                    info.name, _DTYPE_NAMES[desc.dtype], _DTYPE_NAMES.get(info.dtype, "?")), "arg")
            if desc.rank != info.rank:
                raise AttnError("tensor '%s' has rank %d, the spec declares %d"
                                % (info.name, desc.rank, info.rank), "arg")
            descs[n] = desc
            devices.append((info.name, device, x))
        params = (ctypes.c_double * max(1, len(self.params)))()
        for n, (name, default) in enumerate(self.params.items()):
            if name in args:
                params[n] = float(args.pop(name))
            elif default is not None:
                params[n] = default
            else:
                raise AttnError("missing param '%s' (it has no default)" % name, "arg")
        return descs, params, devices, args

    def __call__(self, stream=None, num_threads=0, reuse_tile_map=False, **args):
        """Launches the kernel. CUDA kernels run on `stream` (a CUstream handle as an int, or
        a torch.cuda.Stream), else on torch's current stream of the tensors' device. CPU
        kernels use `num_threads` workers (0: all cores). Returns None; outputs are written
        in place. reuse_tile_map=True (CUDA, masks that read side tensors such as doc ids)
        promises that those tensors are the ones of this kernel's last launch, unchanged, so
        the tile map built then serves again, as one FlexAttention BlockMask serves every
        layer; other tensors or shapes rebuild it. (A spec param named `stream`,
        `num_threads` or `reuse_tile_map` is shadowed by these.)"""
        descs, params, devices, rest = self._bind(args)
        if rest:
            known = [t.name for t in self.tensors] + list(self.params)
            raise AttnError("unknown argument(s) %s; the kernel takes %s"
                            % (", ".join(sorted(rest)), ", ".join(known)), "arg")
        want_cuda = self.is_cuda
        for name, device, _ in devices:
            if want_cuda and not device.startswith("cuda"):
                raise AttnError("tensor '%s' is on %s; kernel %s runs on %s"
                                % (name, device, self.name, self.target), "arg")
            if want_cuda and device != "cuda:0":   # kernels are loaded on device 0 only
                raise AttnError("tensor '%s' is on %s, but attnc's GPU kernels run on cuda:0 "
                                "only; move the tensors there (or make that GPU device 0 with "
                                "CUDA_VISIBLE_DEVICES)" % (name, device), "arg")
            if not want_cuda and device != "cpu":
                raise AttnError("tensor '%s' is on %s; kernel %s runs on the CPU"
                                % (name, device, self.name), "arg")
        opts = _LaunchOptions()
        opts.num_threads = int(num_threads)
        opts.reuse_tile_map = 1 if reuse_tile_map else 0
        if want_cuda:
            if stream is None and devices:
                import torch
                stream = torch.cuda.current_stream(devices[0][2].device)
            if stream is not None and not isinstance(stream, int):
                stream = stream.cuda_stream
            opts.stream = stream or None
        _check(_lib.attn_launch(self._h, descs, len(self.tensors), params, len(self.params),
                                ctypes.byref(opts)), "launch of %s" % self.name)

    def reference(self, **args):
        """Evaluates the spec's math in f64 (libattn's reference, no tiling) and writes the
        outputs in their dtypes (give f64 outputs for full precision). Host tensors are used in
        place; torch CUDA tensors are copied to the host and the outputs copied back. Slow:
        meant for small shapes."""
        host = {}
        for info in self.tensors:
            x = args.get(info.name)
            if x is not None and type(x).__module__.startswith("torch") and x.device.type != "cpu":
                host[info.name] = (x, x.cpu())
                args[info.name] = host[info.name][1]
        descs, params, _, rest = self._bind(args, any_float_out=True)
        if rest:
            raise AttnError("unknown argument(s) %s" % ", ".join(sorted(rest)), "arg")
        _check(_lib.attn_reference(self._h, descs, len(self.tensors), params, len(self.params)),
               "reference of %s" % self.name)
        for info in self.tensors:
            if info.kind == "out" and info.name in host:
                dev, cpu = host[info.name]
                dev.copy_(cpu)


def _compile_options(target, defines, cache, kernel, dtype):
    if target == "cuda":
        import torch
        major, minor = torch.cuda.get_device_capability()
        target = "sm_90a" if (major, minor) == (9, 0) else "sm_%d%d" % (major, minor)
    opts = _CompileOptions()
    opts.target = target.encode() if target else None
    items = list((defines or {}).items())
    arr = (_Define * max(1, len(items)))()
    keep = []
    for n, (name, value) in enumerate(items):
        b = str(name).encode()
        keep.append(b)
        arr[n].name = b
        arr[n].value = float(value)
    opts.defines = arr if items else None
    opts.ndefines = len(items)
    opts.no_cache = 0 if cache else 1
    kname = kernel.encode() if kernel else None
    opts.kernel = kname
    dname = str(_DTYPE_NAMES.get(dtype, dtype)).encode() if dtype is not None else None
    opts.dtype = dname
    return opts, (arr, keep, kname, dname)


def compile(spec, target="native", defines=None, name=None, cache=True, kernel=None,
            dtype=None):
    """Compiles spec text for `target` ("native", "x86-64-v3", "x86-64-v4", "sm_80",
    "sm_90a", or "cuda" for the current torch device) and returns a Kernel. `defines`
    overrides the spec's consts ({"cap": 30.0}); `name` names the text in diagnostics;
    cache=False bypasses the disk cache; `kernel` picks an `attention` of a text that holds
    several (default: the first); `dtype` ("f32", "bf16", "f16", or attn.F32, ...) replaces
    the dtype of q, k, v and o, as `attnc run --dtype` does (numpy has no bf16: dtype="f32"
    runs a bf16 spec on float32 arrays). Raises AttnError (status "spec" with clang-style
    diagnostics for a bad spec, "arg" for another dtype)."""
    opts, _keep = _compile_options(target, defines, cache, kernel, dtype)
    out = ctypes.c_void_p()
    _check(_lib.attn_compile(spec.encode(), name.encode() if name else None, ctypes.byref(opts),
                             ctypes.byref(out)), "compile")
    return Kernel(out.value)


def compile_file(path, target="native", defines=None, cache=True, kernel=None, dtype=None):
    """As compile(), reading the spec from a file (diagnostics name the file)."""
    opts, _keep = _compile_options(target, defines, cache, kernel, dtype)
    out = ctypes.c_void_p()
    _check(_lib.attn_compile_file(os.fsencode(path), ctypes.byref(opts), ctypes.byref(out)),
           "compile of %s" % path)
    return Kernel(out.value)


def reference(kernel, **args):
    """attn.reference(kernel, q=..., ...): the f64 reference; see Kernel.reference."""
    kernel.reference(**args)

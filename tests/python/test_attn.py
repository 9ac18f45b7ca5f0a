#!/usr/bin/env python3
"""test_attn.py: python/attn.py on the CPU, against a float64 numpy evaluation of the same math.

    test_attn.py [module|arrays|dtype|asan]

module (the default): the signature read back from a compiled spec; a launch on numpy arrays
(GQA, a runtime param given by name, keys in a BLHD layout passed as strided views, decode
alignment with Lq < Lk); libattn's own f64 reference through the module; torch CPU tensors when
torch is installed; and that mistakes raise AttnError naming the argument, with the outputs
untouched.
arrays: what numpy arrays are refused (read-only outputs, a byte order not the machine's) and
accepted (read-only inputs; tensors with no elements, as np.zeros makes them, as the C API
takes them).
dtype: compile(dtype=...) retypes q, k, v and o, so a bf16 spec runs on float32 arrays.
asan: a libattn built with AddressSanitizer, in a python without the ASan runtime, is passed
over with a reason instead of ending the interpreter (needs $ATTN_TEST_CC to build one).
Exit code 77 (a skip for ctest) when numpy is missing, or when this libattn cannot compile.
"""
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import attn  # noqa: E402

SKIP = 77
D = 32
SPEC = """
attention py_window {
  in  q: f32[B, Hq, Lq, 32];
  in  k: f32[B, Hkv, Lk, 32];
  in  v: f32[B, Hkv, Lk, 32];
  out o: f32[B, Hq, Lq, 32];
  param window: i32 = 16;
  mask = j <= i && i - j < window;
}
"""
failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def expect_error(fn, status, words, what):
    try:
        fn()
    except attn.AttnError as e:
        msg = str(e)
        check(e.status == status and all(w in msg for w in words),
              "%s -> AttnError(%s): %s" % (what, e.status, msg.splitlines()[0][:100]))
        return
    check(False, "%s raised nothing" % what)


def reference(np, q, k, v, window):
    """softmax(q k^T * scale, sliding-window causal mask) v in float64; the queries are the
    last Lq positions when Lq < Lk."""
    B, Hq, Lq, _ = q.shape
    Hkv, Lk = k.shape[1], k.shape[2]
    kk = np.repeat(k.astype(np.float64), Hq // Hkv, axis=1)
    vv = np.repeat(v.astype(np.float64), Hq // Hkv, axis=1)
    # The default scale is an f32 constant of the spec (1/sqrt(D) rounded to f32), and the
    # f64 reference evaluates the spec with that value.
    s = q.astype(np.float64) @ kk.swapaxes(-1, -2) * float(np.float32(1 / math.sqrt(D)))
    i = np.arange(Lq)[:, None] + (Lk - Lq if Lq < Lk else 0)
    j = np.arange(Lk)[None, :]
    s = np.where((j <= i) & (i - j < window), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p @ vv) / p.sum(axis=-1, keepdims=True)


def rel(np, a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def check_module(np, kern):
    check([t.name for t in kern.tensors] == ["q", "k", "v", "o"], "tensor names in order")
    check([t.kind for t in kern.tensors] == ["in", "in", "in", "out"], "tensor kinds")
    check(all(t.dtype == attn.F32 and t.rank == 4 for t in kern.tensors), "dtypes and ranks")
    check(kern.tensors[1].dims == ["B", "Hkv", "Lk", 32], "dims of k: %s" % kern.tensors[1].dims)
    check(kern.params == {"window": 16.0}, "param window with default 16")
    check(not kern.is_cuda, "a CPU target (%s)" % kern.target)

    rng = np.random.default_rng(7)
    B, Hq, Hkv, L = 2, 4, 2, 77
    q = rng.standard_normal((B, Hq, L, D), dtype=np.float32)
    # keys and values stored BLHD, passed as BHLD views with non-standard strides
    k = rng.standard_normal((B, L, Hkv, D), dtype=np.float32).transpose(0, 2, 1, 3)
    v = rng.standard_normal((B, L, Hkv, D), dtype=np.float32).transpose(0, 2, 1, 3)
    check(not k.flags.c_contiguous, "k is a strided view")
    o = np.full((B, Hq, L, D), np.nan, dtype=np.float32)
    kern(q=q, k=k, v=v, o=o, num_threads=2)
    err = rel(np, o, reference(np, q, k, v, 16))
    check(np.isfinite(o).all() and err < 1e-5, "numpy launch, default window: rel err %.2e" % err)
    kern(q=q, k=k, v=v, o=o, window=5)
    err = rel(np, o, reference(np, q, k, v, 5))
    check(err < 1e-5, "window=5 by name, no recompile: rel err %.2e" % err)
    o[:] = np.nan
    kern(q=q, k=k, v=v, o=o, window=5, reuse_tile_map=True)   # a CUDA option; the CPU ignores it
    err = rel(np, o, reference(np, q, k, v, 5))
    check(err < 1e-5, "reuse_tile_map accepted on the CPU: rel err %.2e" % err)

    qd = rng.standard_normal((B, Hq, 3, D), dtype=np.float32)     # decode-like: Lq < Lk
    od = np.full((B, Hq, 3, D), np.nan, dtype=np.float32)
    kern(q=qd, k=k, v=v, o=od, window=1000)
    err = rel(np, od, reference(np, qd, k, v, 1000))
    check(err < 1e-5, "Lq 3 < Lk 77 aligned to the last positions: rel err %.2e" % err)

    o64 = np.zeros((B, Hq, L, D), dtype=np.float64)
    try:
        kern.reference(q=q, k=k, v=v, o=o64, window=7)
        err = rel(np, o64, reference(np, q, k, v, 7))
        check(err < 1e-12, "attn_reference with an f64 output: rel err %.2e" % err)
    except attn.AttnError as e:
        if e.status != "unsupported":
            raise
        print("note: %s" % e)

    o.fill(7.0)
    expect_error(lambda: kern(q=q.astype(np.float64), k=k, v=v, o=o), "arg", ["'q'", "f64"],
                 "f64 q")
    expect_error(lambda: kern(q=q, k=k, o=o), "arg", ["'v'"], "missing v")
    expect_error(lambda: kern(q=q, k=k, v=v, o=o, windwo=3), "arg", ["windwo"], "misspelt param")
    short = np.zeros((B, Hkv, L - 1, D), dtype=np.float32)      # Lk disagrees between k and v
    expect_error(lambda: kern(q=q, k=k, v=short, o=o), "arg", ["'v'"], "v shorter than k")
    check(bool((o == 7.0).all()), "outputs untouched after the failed launches")
    expect_error(lambda: attn.compile("attention bad {\n  in q: f32[B, H, L, 32];\n  mask = j <;\n}\n",
                                      name="bad.attn"), "spec", ["bad.attn:3"], "malformed spec")

    try:
        import torch
    except ImportError:
        print("note: torch not installed; torch CPU tensors not checked")
    else:
        tq, tk, tv = torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v)
        to = torch.full((B, Hq, L, D), float("nan"))
        kern(q=tq, k=tk, v=tv, o=to, window=9)
        err = rel(np, to.numpy(), reference(np, q, k, v, 9))
        check(err < 1e-5, "torch CPU tensors (strided k, v): rel err %.2e" % err)
        expect_error(lambda: kern(q=tq.bfloat16(), k=tk, v=tv, o=to), "arg", ["'q'", "bf16"],
                     "bf16 torch q")


def check_arrays(np, kern):
    rng = np.random.default_rng(11)
    B, H, L = 1, 2, 9
    q = rng.standard_normal((B, H, L, D), dtype=np.float32)
    k = rng.standard_normal((B, H, L, D), dtype=np.float32)
    v = rng.standard_normal((B, H, L, D), dtype=np.float32)
    frozen = bytes(q.nbytes)                  # an immutable buffer seen as an array
    ro = np.frombuffer(frozen, dtype=np.float32).reshape(q.shape)
    check(not ro.flags.writeable, "np.frombuffer(bytes) is read-only")
    expect_error(lambda: kern(q=q, k=k, v=v, o=ro), "arg", ["'o'", "read-only"],
                 "read-only output")
    ro64 = np.frombuffer(bytes(q.size * 8), dtype=np.float64).reshape(q.shape)
    expect_error(lambda: kern.reference(q=q, k=k, v=v, o=ro64), "arg", ["'o'", "read-only"],
                 "read-only reference output")
    check(frozen == bytes(q.nbytes) and not ro64.any(), "the read-only buffers are unchanged")
    o = np.zeros_like(q)
    kern(q=ro, k=k, v=v, o=o)
    check(True, "a read-only input is accepted")

    swapped = q.astype(q.dtype.newbyteorder(">" if sys.byteorder == "little" else "<"))
    check(bool((swapped == q).all()), "the byte-swapped copy holds the same values")
    expect_error(lambda: kern(q=swapped, k=k, v=v, o=o), "arg", ["'q'", "byte order"],
                 "q in the other byte order")
    o_swapped = np.zeros_like(swapped)
    expect_error(lambda: kern(q=q, k=k, v=v, o=o_swapped), "arg", ["'o'", "byte order"],
                 "o in the other byte order")

    # Tensors with no elements: np.zeros gives them strides of 0; the C API takes them.
    e = np.zeros((0, H, L, D), dtype=np.float32)
    try:
        kern(q=e, k=e, v=e, o=np.zeros_like(e))
        check(True, "B = 0 launches")
    except attn.AttnError as err:
        check(False, "B = 0 refused: %s" % err)
    nokeys = np.zeros((B, H, 0, D), dtype=np.float32)
    o = np.full_like(q, np.nan)
    try:
        kern(q=q, k=nokeys, v=nokeys, o=o)
        check(bool((o == 0).all()), "Lk = 0 launches and gives o = 0 (no key takes part)")
    except attn.AttnError as err:
        check(False, "Lk = 0 refused: %s" % err)


def check_dtype(np):
    bf16 = SPEC.replace("f32", "bf16")
    kern = attn.compile(bf16, name="py_window_bf16.attn", dtype="f32")
    check([t.dtype for t in kern.tensors] == [attn.F32] * 4, "dtype='f32' retypes a bf16 spec")
    rng = np.random.default_rng(3)
    q = rng.standard_normal((1, 2, 40, D), dtype=np.float32)
    k = rng.standard_normal((1, 2, 40, D), dtype=np.float32)
    v = rng.standard_normal((1, 2, 40, D), dtype=np.float32)
    o = np.zeros_like(q)
    kern(q=q, k=k, v=v, o=o)
    err = rel(np, o, reference(np, q, k, v, 16))
    check(err < 1e-5, "the retyped kernel on float32 arrays: rel err %.2e" % err)
    kern = attn.compile(SPEC, dtype=attn.F16)
    check([t.dtype for t in kern.tensors] == [attn.F16] * 4, "dtype=attn.F16 retypes f32")
    expect_error(lambda: attn.compile(SPEC, dtype="f64"), "arg", ["f32, bf16 or f16", "f64"],
                 "dtype='f64'")
    here = os.path.dirname(os.path.abspath(__file__))
    causal = os.path.join(here, "..", "..", "examples", "causal.attn")
    kern = attn.compile_file(causal, dtype="f32")
    dtypes = {t.name: t.dtype for t in kern.tensors}
    check(dtypes == {"q": attn.F32, "k": attn.F32, "v": attn.F32, "o": attn.F32,
                     "lse": attn.F32}, "compile_file(examples/causal.attn, dtype='f32')")


def check_recur(np):
    """A recurrence with its state carried in and out (examples/deltanet.attn, retyped to f32):
    the kernel against the f64 reference, then two launches of 29 and 1 steps, the second
    starting from the first's final state, against one launch of 30."""
    here = os.path.dirname(os.path.abspath(__file__))
    kern = attn.compile_file(os.path.join(here, "..", "..", "examples", "deltanet.attn"), dtype="f32")
    rng = np.random.default_rng(5)
    B, H, T, D = 1, 2, 30, 128
    x = {n: (rng.uniform(-1, 1, (B, H, T, D)) / np.sqrt(D)).astype(np.float32) for n in ("q", "k")}
    x["v"] = rng.uniform(-1, 1, (B, H, T, D)).astype(np.float32)
    x["beta"] = rng.uniform(0, 1, (B, H, T)).astype(np.float32)
    x["s0"] = rng.uniform(-1, 1, (B, H, D, D)).astype(np.float32)
    o, s1 = np.zeros((B, H, T, D), np.float32), np.zeros((B, H, D, D), np.float32)
    kern(o=o, s1=s1, **x)
    ro, rs = np.zeros((B, H, T, D), np.float64), np.zeros((B, H, D, D), np.float64)
    kern.reference(o=ro, s1=rs, **x)
    check(rel(np, o, ro) < 1e-5 and rel(np, s1, rs) < 1e-5,
          "deltanet on float32 arrays: o rel %.2e, final state rel %.2e" % (rel(np, o, ro), rel(np, s1, rs)))
    part = {n: np.ascontiguousarray(a[:, :, :29]) for n, a in x.items() if n != "s0"}
    o1, mid = np.zeros((B, H, 29, D), np.float32), np.zeros((B, H, D, D), np.float32)
    kern(o=o1, s1=mid, s0=x["s0"], **part)
    last = {n: np.ascontiguousarray(a[:, :, 29:]) for n, a in x.items() if n != "s0"}
    o2, end = np.zeros((B, H, 1, D), np.float32), np.zeros((B, H, D, D), np.float32)
    kern(o=o2, s1=end, s0=mid, **last)
    check(np.array_equal(np.concatenate([o1, o2], axis=2), o) and np.array_equal(end, s1),
          "29 steps, then 1 from the carried state, equal 30 steps")


def check_asan():
    cc = os.environ.get("ATTN_TEST_CC")
    if not cc:
        print("SKIP: ATTN_TEST_CC (a C compiler with -fsanitize=address) is not set")
        return SKIP
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        lib = os.path.join(tmp, "libattn.so")
        with open(src, "w") as f:
            f.write('const char *attn_version(void) { return "asan probe"; }\n')
        if subprocess.run([cc, "-shared", "-fPIC", "-fsanitize=address", "-o", lib, src]).returncode:
            print("SKIP: %s cannot build with -fsanitize=address" % cc)
            return SKIP
        # A fresh interpreter without the ASan runtime (what LD_PRELOAD would give it), the
        # module copied away from any build folder, and only the instrumented library to load.
        env = {n: x for n, x in os.environ.items() if n not in ("LD_PRELOAD", "ASAN_OPTIONS")}
        env["ATTN_LIBRARY"] = lib
        module = os.path.join(os.path.dirname(os.path.abspath(attn.__file__)), "attn.py")
        with open(module) as f, open(os.path.join(tmp, "attn.py"), "w") as g:
            g.write(f.read())
        probe = ("import attn\n"
                 "try:\n    print('loaded', attn.library_path())\n"
                 "except attn.AttnError as e:\n    print('AttnError', e.status, e)\n")
        r = subprocess.run([sys.executable, "-c", probe], cwd=tmp, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = r.stdout.strip()
        print(out)
        check(r.returncode == 0, "the interpreter survives an ASan libattn (exit %d)"
              % r.returncode)
        if out.startswith("loaded"):      # a libattn installed on the system's path
            check(not out.endswith(lib), "the ASan library is passed over for another")
        else:
            check(out.startswith("AttnError target") and "AddressSanitizer" in out
                  and "LD_PRELOAD" in out, "the ASan library is passed over, and the error "
                  "says why and how to load it")
    return 0


def main():
    section = sys.argv[1] if len(sys.argv) > 1 else "module"
    print("libattn %s at %s" % (attn.version(), attn.library_path()))
    if section == "asan":
        skip = check_asan()
        if skip:
            return skip
    else:
        try:
            import numpy as np
        except ImportError:
            print("SKIP: numpy is not installed (the module's array checks need it)")
            return SKIP
        try:
            kern = attn.compile(SPEC, target="native", name="py_window.attn")
        except attn.AttnError as e:
            if e.status in ("unsupported", "target", "internal"):
                print("SKIP: this libattn cannot compile for the CPU: %s" % e)
                return SKIP
            raise
        print(kern.signature())
        if section == "module":
            check_module(np, kern)
        elif section == "arrays":
            check_arrays(np, kern)
        elif section == "dtype":
            check_dtype(np)
        elif section == "recur":
            check_recur(np)
        else:
            check(False, "a known section (%s)" % section)

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

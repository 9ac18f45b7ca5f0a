#!/usr/bin/env python3
"""installed_module.py PREFIX PYDIR: the Python module as `cmake --install --prefix PREFIX` left
it, imported through PYTHONPATH=PREFIX/PYDIR with ATTN_LIBRARY unset: the imported attn.py is the
installed one, it loads PREFIX's libattn, and it compiles and launches a spec (numpy permitting).
Also PYDIR is a folder this Python searches under some prefix, so that installing into that
prefix needs no PYTHONPATH."""
import os
import sys

prefix, pydir = os.path.realpath(sys.argv[1]), sys.argv[2]
failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


import attn  # noqa: E402

module = os.path.realpath(attn.__file__)
check(module == os.path.join(prefix, pydir, "attn.py"), "imported the installed %s" % module)
lib = os.path.realpath(attn.library_path())
check(lib.startswith(prefix + os.sep), "loaded the prefix's libattn: %s" % lib)
print("libattn %s" % attn.version())
searched = [p for p in sys.path if p.rstrip(os.sep).endswith(os.sep + pydir.rstrip(os.sep))
            and not os.path.realpath(p).startswith(prefix + os.sep)]    # not PYTHONPATH's
check(bool(searched), "this Python searches %s under a prefix: %s" % (pydir, searched))
try:
    import numpy as np
except ImportError:
    print("note: numpy is not installed; no launch")
else:
    kern = attn.compile("attention inst {\n  in q: bf16[B, H, L, 16]; in k: bf16[B, H, L, 16];\n"
                        "  in v: bf16[B, H, L, 16]; out o: bf16[B, H, L, 16];\n"
                        "  mask = j <= i;\n}\n", dtype="f32")
    q = np.ones((1, 2, 5, 16), dtype=np.float32)
    o = np.zeros_like(q)
    kern(q=q, k=q, v=q, o=o)
    check(bool((o == 1).all()), "a bf16 spec compiled with dtype='f32' runs on float32 arrays")
if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all checks passed")

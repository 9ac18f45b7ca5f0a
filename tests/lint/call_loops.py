#!/usr/bin/env python3
"""call_loops.py OBJDIR...: no call loop among the source files of compiler/ and runtime/.

Reads each object file's defined and undefined symbols (nm), draws an edge from a file to every
file that defines a symbol it uses, and reports every set of files that reach each other (a
strongly connected component of more than one file). A file may call itself (recursion is
fine); two files that call into each other are one module written twice, or a layering broken.
The scanner and parser that Flex and Bison generate call back into parse.c by design and are
left out. Exits 77 (skipped) without nm."""
import collections
import glob
import os
import shutil
import subprocess
import sys

if not shutil.which("nm"):
    print("SKIP: no nm on this machine")
    sys.exit(77)
defs, uses = {}, collections.defaultdict(set)
for d in sys.argv[1:]:
    for o in glob.glob(os.path.join(d, "**", "*.o"), recursive=True):
        name = os.path.relpath(o, d)[:-2]
        if name.startswith("gen" + os.sep):
            continue
        for line in subprocess.run(["nm", o], capture_output=True, text=True).stdout.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBR":
                defs[f[2]] = name
            elif len(f) == 2 and f[0] == "U":
                uses[name].add(f[1])
graph = {f: {defs[s] for s in syms if s in defs and defs[s] != f} for f, syms in uses.items()}
for f in defs.values():
    graph.setdefault(f, set())

# Tarjan's strongly connected components, iteratively.
index, low, stack, on, loops, counter = {}, {}, [], set(), [], [0]
for root in sorted(graph):
    if root in index:
        continue
    work = [(root, iter(sorted(graph[root])))]
    index[root] = low[root] = counter[0]; counter[0] += 1; stack.append(root); on.add(root)
    while work:
        v, it = work[-1]
        w = next(it, None)
        if w is not None:
            if w not in index:
                index[w] = low[w] = counter[0]; counter[0] += 1; stack.append(w); on.add(w)
                work.append((w, iter(sorted(graph[w]))))
            elif w in on:
                low[v] = min(low[v], index[w])
            continue
        work.pop()
        if work:
            low[work[-1][0]] = min(low[work[-1][0]], low[v])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                loops.append(sorted(comp))
for comp in loops:
    members = set(comp)
    print("FAIL: call loop among " + ", ".join(comp))
    for f in comp:
        for s in sorted(uses[f]):
            if defs.get(s) in members and defs[s] != f:
                print("  %s -> %s (%s)" % (f, defs[s], s))
if loops:
    sys.exit(1)
print("PASS: no call loop among %d files" % len(graph))

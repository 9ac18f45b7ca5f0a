#!/usr/bin/env python3
# only_entries_differ.py DIR REGEX: after emit_identical.sh (its WORKDIR), for a change meant to
# alter some kernel entries only: every artefact that differs between DIR/old and DIR/new must
# differ only inside the GPU entries (PTX .entry, LLVM IR define) whose names match REGEX;
# objects must not differ at all; LLVM IR attribute groups and metadata must be identical.
#   tests/identity/only_entries_differ.py /tmp/ident '_decode(_combine)?$'
import os,re,sys
d=sys.argv[1]; pat=re.compile(sys.argv[2]); bad=0; n=0
def strip_ptx(t):
    # split at each entry's ".visible .entry" line; drop the decode ones (to their closing brace)
    out=[]; skip=False
    for line in t.split('\n'):
        m=re.match(r'\.visible \.entry (\w+)\(',line)
        if m: skip=bool(pat.search(m.group(1)))
        if line.startswith('\t// .globl'):
            continue
        if not skip: out.append(line)
        if skip and line=='}': skip=False
    return out
def strip_ll(t):
    out=[]; skip=False; meta=out
    for line in t.split('\n'):
        m=re.match(r'define .*@(\w+)\(',line)
        if m: skip=bool(pat.search(m.group(1)))
        if re.match(r'^attributes #|^!',line): meta.append(line); continue
        if not skip: out.append(line)
        if skip and line=='}': skip=False
    return out
for f in sorted(os.listdir(d+'/old')):
    if f.endswith('.err'): continue
    a=open(d+'/old/'+f,'rb').read(); b=open(d+'/new/'+f,'rb').read()
    if a==b: continue
    n+=1
    if f.endswith('.o'): print('object differs:',f); bad+=1; continue
    s=strip_ptx if f.endswith('.ptx') else strip_ll
    if s(a.decode())!=s(b.decode()): print('differs outside those entries:',f); bad+=1
print(f'{n} artefacts differ, {bad} outside the entries matching {sys.argv[2]}')
sys.exit(1 if bad else 0)

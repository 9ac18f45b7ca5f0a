#!/bin/sh
# explain_targets.sh ATTNC EXAMPLES: --explain ends with the target's own lines: for a mask
# that reads side tensors, how its tile map is built on that target and, on the GPU, which of
# its reads are made once per row or once per key. Each expected line must appear verbatim.
attnc=$1; ex=$2
fail=0
# expect TARGET SPEC: stdin holds the expected lines
expect() {
  out=$("$attnc" --explain --target="$1" "$ex/$2.attn" 2>&1) || { echo "FAIL: $1 $2: $out"; fail=1; return; }
  while IFS= read -r line; do
    printf '%s\n' "$out" | grep -qxF -- "$line" || { echo "FAIL: $1 $2: missing line: $line"; echo "$out"; fail=1; }
  done
}
expect sm_90a documents <<'END'
  the mask reads side tensors (doc): the tile map is computed at launch from their contents.
  on sm_90a a CTA is 256 threads (wgmma, one warpgroup per 64 rows) with 98816 bytes of shared memory; the key loop ends at the CTA's diagonal (the mask implies j <= i); the mask is evaluated on PARTIAL tiles and tiles crossing Lk only.
  the map is rebuilt at each launch by the kernel documents_map, which evaluates the mask on every (i, j) up to the diagonal (O(Lq x Lk) per batch, and per head where the mask reads h).
  `doc[b, i]`: loaded once per query row, not per (i, j).
  `doc[b, j]`: loaded once per key of each key tile, into shared memory.
  no side-tensor read is left per element: the mask is applied after S = QK^T.
END
expect sm_80 longformer <<'END'
  `g[b, i] != 0`: loaded once per query row, not per (i, j).
  `g[b, j] != 0`: loaded once per key of each key tile, into shared memory.
  no side-tensor read is left per element: the mask is applied after S = QK^T.
END
expect sm_90a causal <<'END'
  on sm_90a a CTA is 256 threads (wgmma, one warpgroup per 64 rows) with 98304 bytes of shared memory; the key loop ends at the CTA's diagonal; `j <= i` is applied on the tiles that cross it.
END
expect x86-64-v3 documents <<'END'
  on x86-64-v3 the map is built on the host at each launch from each tile's [min, max] of the side tensors (O(Lq + Lk) reads per batch and head); PARTIAL tiles evaluate the mask element by element.
END
[ $fail -eq 0 ] && echo "PASS: the targets' --explain lines"
exit $fail

#!/bin/sh
# cubin.sh ATTNC CC ROOT DIR: --emit=cubin for sm_80 and sm_90a gives an NVIDIA ELF; with
# --emit=cubin,header the header defines that cubin byte for byte and compiles cleanly; a
# failing ptxas is reported with its own message; a CPU target is refused with a hint.
attnc=$1; cc=$2; root=$3; dir=$4
spec=$root/examples/causal.attn
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 2
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# A CPU target is refused whatever is installed.
"$attnc" --emit=cubin "$spec" -o cpu.cubin 2>err && bad "--emit=cubin on the CPU target succeeded"
grep -q "error: --emit=cubin needs a GPU target" err || bad "no GPU-target diagnostic: $(cat err)"
grep -q "^hint: " err || bad "no hint for the CPU target"
[ -e cpu.cubin ] && bad "cpu.cubin written after an error"

if ! "$attnc" --emit=ptx --target=sm_80 "$spec" -o probe.ptx 2>err; then
    if grep -q "unknown target 'sm_80'" err; then
        echo "SKIP: this attnc has no GPU targets (compiler/targets.c)"; exit 77
    fi
    echo "FAIL: --emit=ptx for sm_80:"; cat err; exit 1
fi

# ptxas failing: its message and status reach the diagnostic, nothing is written.
mkdir -p fake/bin
printf '#!/bin/sh\necho "ptxas fatal   : a message from the fake ptxas" >&2\nexit 3\n' > fake/bin/ptxas
chmod +x fake/bin/ptxas
CUDA_PATH=$dir/fake "$attnc" --emit=cubin --target=sm_90a "$spec" -o failed.cubin 2>err \
    && bad "a failing ptxas was not reported"
grep -q "failed with status 3" err || bad "ptxas' status missing: $(cat err)"
grep -q "a message from the fake ptxas" err || bad "ptxas' message missing: $(cat err)"
grep -q -- "-arch=sm_90a" err || bad "the -arch passed is not named: $(cat err)"
[ -e failed.cubin ] && bad "failed.cubin written after ptxas failed"

ptxas=
for d in "$CUDA_PATH" "$CUDA_HOME" /usr/local/cuda; do
    [ -n "$d" ] && [ -x "$d/bin/ptxas" ] && { ptxas=$d/bin/ptxas; break; }
done
[ -z "$ptxas" ] && ptxas=$(command -v ptxas)
if [ -z "$ptxas" ]; then
    [ $fail -eq 0 ] && echo "SKIP: no ptxas (CUDA toolkit) found; the CPU and failure checks passed"
    [ $fail -eq 0 ] && exit 77
    exit 1
fi

for arch in sm_80 sm_90a; do
    "$attnc" --emit=cubin --target=$arch "$spec" -o $arch.cubin 2>err || { bad "$arch: $(cat err)"; continue; }
    [ "$(od -An -tx1 -N4 $arch.cubin | tr -d ' ')" = 7f454c46 ] || bad "$arch.cubin is not an ELF file"
    # e_machine (offset 18) is EM_CUDA (190 = 0xbe)
    [ "$(od -An -tu2 -j18 -N2 $arch.cubin | tr -d ' ')" = 190 ] || bad "$arch.cubin is not a CUDA ELF"
done

# header + cubin in one command: the header's array is the cubin written beside it.
"$attnc" --emit=cubin,header --target=sm_80 "$spec" -o both 2>err || bad "cubin,header: $(cat err)"
cat > use.c <<'C'
#include <stdio.h>
#define ATTN_CAUSAL_IMPLEMENTATION
#include "both.h"
int main(int argc, char **argv)
{
    FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
    if (!f) return 2;
    size_t n = 0;
    int c, same = 1;
    while ((c = fgetc(f)) != EOF) {
        if (n >= attn_causal_cubin_size || attn_causal_cubin[n] != (unsigned char)c) same = 0;
        n++;
    }
    fclose(f);
    if (!same || n != attn_causal_cubin_size) { printf("header cubin differs from the file\n"); return 1; }
    if (attn_causal_kernel.code_size == 0) { printf("header has no PTX\n"); return 1; }
    printf("header embeds the PTX (%zu bytes) and the cubin (%zu bytes)\n",
           attn_causal_kernel.code_size, attn_causal_cubin_size);
    return 0;
}
C
if "$cc" -std=c17 -Wall -Wextra -Werror -I"$root/runtime/include" -c use.c -o use.o 2>err; then
    # link without libattn: only the data is needed, so define the one function it references
    printf '#include <attn.h>\nAttnStatus attn_launch_aot(const AttnAotKernel *d, const AttnTensor *t, int32_t n,\n  const double *p, int32_t np, const AttnLaunchOptions *o)\n{ (void)d; (void)t; (void)n; (void)p; (void)np; (void)o; return ATTN_OK; }\n' > stub.c
    "$cc" -std=c17 -I"$root/runtime/include" use.o stub.c -o use && ./use both.cubin || bad "header cubin check"
else
    bad "the header does not compile: $(cat err)"
fi
grep -q "attn_causal_cubin" both.h || bad "no cubin in the header"
"$attnc" --emit=header --target=sm_80 "$spec" -o ptxonly.h || bad "header alone"
grep -q "attn_causal_cubin" ptxonly.h && bad "a header without --emit=cubin declares a cubin"
grep -q "attn_causal_ptx" ptxonly.h || bad "the GPU header has no PTX"
[ $fail -eq 0 ] && echo "PASS: cubin for sm_80 and sm_90a with $ptxas"
exit $fail

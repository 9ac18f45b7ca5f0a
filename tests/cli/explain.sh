#!/bin/sh
# explain.sh ATTNC SPEC DIR: --explain with every --emit kind, with and without -o, for the CPU
# target and (when this attnc has one) a GPU target: stdout carries text only; a binary kind
# without -o is refused (exit 2) before anything is compiled; with -o the files appear.
attnc=$1; spec=$2; dir=$3
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 2
fail=0; runs=0
targets=native
"$attnc" --emit=ptx --target=sm_90a "$spec" -o probe.ptx 2>/dev/null && targets="native sm_90a"
for t in $targets; do
    for emit in "" ast air llvm ptx obj cubin header obj,header cubin,header air,obj; do
        for o in "" out; do
            rm -f out out.*
            set -- --explain --target=$t
            [ -n "$emit" ] && set -- "$@" --emit=$emit
            [ -n "$o" ] && set -- "$@" -o $o
            "$attnc" "$@" "$spec" >stdout 2>stderr
            rc=$?; runs=$((runs + 1))
            if LC_ALL=C tr -d '\11\12\15\40-\176' <stdout | od -An -c | grep -q .; then
                echo "FAIL: attnc $* wrote non-text bytes to stdout"; fail=1
            fi
            case ",$emit," in *,obj,*|*,cubin,*) binary=1 ;; *) binary=0 ;; esac
            if [ $binary -eq 1 ] && [ -z "$o" ]; then
                [ $rc -eq 2 ] && grep -q "give -o FILE" stderr \
                    || { echo "FAIL: attnc $* (binary to stdout) exited $rc: $(cat stderr)"; fail=1; }
                [ -s stdout ] && { echo "FAIL: attnc $* wrote to stdout before refusing"; fail=1; }
            elif [ $rc -eq 0 ]; then
                grep -q "^kernel causal" stdout || { echo "FAIL: attnc $*: no explanation"; fail=1; }
            elif [ $rc -ne 1 ] || ! grep -q "error:" stderr; then
                echo "FAIL: attnc $* exited $rc without a diagnostic"; fail=1
            fi
        done
    done
done
# without --explain, a binary kind is refused when several kinds share stdout
"$attnc" --emit=air,obj "$spec" >stdout 2>stderr
[ $? -eq 2 ] && [ ! -s stdout ] || { echo "FAIL: --emit=air,obj without -o was not refused"; fail=1; }
[ $fail -eq 0 ] && echo "PASS: $runs --explain runs on targets: $targets"
exit $fail

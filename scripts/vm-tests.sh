#!/usr/bin/env bash
# scripts/vm-tests.sh LAYOUT [--swap] [TEST-BINARY-NAME...]: rd's integration
# tests (the binaries `cargo test --release` built, not rebuilt) in a guest
# with the given cgroup layout (see scripts/vm.sh), then the workshop's
# cgroup levels and its user namespaces (check 08, 09 and 14 against their
# solutions: a classroom machine is v2, and Debian's own kernel; on v2 also scripts/vm-workshop-v2.sh: the mutants of 08 and
# 09, and a root without the controllers delegated). Prints each result and
# a summary; exits 1 if any failed.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
LAYOUT=${1:?usage: scripts/vm-tests.sh v2|v1|hybrid [--swap] [NAME...]}
shift
SWAP=()
if [[ ${1:-} == --swap ]]; then SWAP=(--swap); shift; fi
mapfile -t BINS < <(cargo test --release --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and m.get("executable") and t.get("kind") == ["test"] and "/tests/" in t.get("src_path", ""):
        print(m["executable"])' | sort)
if [[ $# -gt 0 ]]; then
    mapfile -t BINS < <(printf '%s\n' "${BINS[@]}" | grep -E "/($(IFS='|'; echo "$*"))-[0-9a-f]+$")
fi
[[ ${#BINS[@]} -gt 0 ]] || { echo "vm-tests.sh: no test binaries (cargo test --release --no-run)" >&2; exit 1; }
# In the guest: each binary in turn, two test threads, a summary at the end.
GUEST='failed=0; passed=0
for b in "$@"; do
    name=$(basename "$b"); name=${name%-*}
    out=$("$b" --test-threads=2 2>&1); rc=$?
    p=$(printf "%s\n" "$out" | sed -n "s/^test result: .*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p")
    p=${p:-0 1} # no result line: the binary did not run, count it failed
    passed=$((passed + ${p%% *})); failed=$((failed + ${p##* }))
    if [ $rc -ne 0 ]; then
        printf "%s\n" "$out" | grep -E "^test .*FAILED|panicked|^  left|^ right" | head -40
        echo "vm-tests: $name FAILED"
    else
        echo "vm-tests: $name ok (${p%% *} passed)"
    fi
done
for pair in 08:level09 09:level10 14:level-solution; do
    n=${pair%%:*}; solution=target/release/${pair#*:}
    if [ ! -x target/release/check ] || [ ! -x "$solution" ]; then
        echo "vm-tests: level $n check skipped (build the levels: cargo build --release --workspace)"
        continue
    fi
    if target/release/check $n --bin "$solution" >/tmp/check.out 2>&1; then
        echo "vm-tests: level $n check ok ($(grep " passed, " /tmp/check.out | tail -n1))"
    else
        cat /tmp/check.out | tail -30
        echo "vm-tests: level $n check FAILED"; failed=$((failed + 1))
    fi
done
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    if scripts/vm-workshop-v2.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
echo "vm-tests: $passed passed, $failed failed"
[ $failed -eq 0 ]'
exec scripts/vm.sh --layout "$LAYOUT" "${SWAP[@]}" --timeout 1500 -- sh -c "$GUEST" guest "${BINS[@]}"

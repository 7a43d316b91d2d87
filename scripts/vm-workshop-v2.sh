#!/bin/sh
# scripts/vm-workshop-v2.sh - the workshop on a cgroup v2 host, run inside a
# v2 guest by scripts/vm-tests.sh (it changes the guest's cgroup root).
#
# 1. The mutants of levels 08, 09 and 14 (built and kept on the host by
#    `levels/mutants.py --release --keep`) are failed by the checker here
#    too: v2 has other files (cpu.weight, memory.max, memory.swap.max), and
#    Debian's own kernel checks user namespaces as a classroom machine does.
# 2. Level 14's --userns with cgroup limits.
# 3. Without the cpu and memory controllers enabled for the root's children
#    (a bare v2 machine, no systemd), the reference solution and the checker
#    say in one line what to run, and nothing is left behind.
# Prints "vm-workshop: ok ..." or "vm-workshop: FAILED ..." lines; exits 1 on
# any failure.
set -u
cd "$(dirname "$0")/.."
failed=0
fail() { echo "vm-workshop: FAILED: $*"; failed=$((failed + 1)); }
ok() { echo "vm-workshop: ok: $*"; }
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || { echo "vm-workshop: not a v2 host"; exit 1; }
left() { ls -d /sys/fs/cgroup/rd-* 2>/dev/null; ls /tmp/ws/containers 2>/dev/null; }

if [ -d target/mutants ]; then
    if python3 levels/mutants.py --release --prebuilt 8 9 14 >/tmp/mutants.out 2>&1; then
        ok "$(tail -n1 /tmp/mutants.out) (levels 08, 09 and 14, on v2)"
    else
        cat /tmp/mutants.out; fail "mutants of levels 08, 09 and 14 on v2"
    fi
else
    echo "vm-workshop: mutants skipped (run levels/mutants.py --release --keep on the host first)"
fi

# A container in a user namespace joins its cgroups while still the host's
# root (before the maps): on v2 the write to cgroup.procs is checked
# against the cgroup's owner and the common ancestor's cgroup.procs.
rm -rf /tmp/ws
out=$(target/release/level-solution --root /tmp/ws run --userns --memory 32m --cpu-shares 512 -- \
    sh -c 'cat /proc/self/cgroup; id -u' 2>/tmp/level.err)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q '^0::/rd-' && [ "$(echo "$out" | tail -n1)" = 0 ] && [ -z "$(left)" ]; then
    ok "level-solution run --userns --memory 32m --cpu-shares 512: root inside, in its cgroup, nothing left"
else
    echo "$out"; cat /tmp/level.err; left
    fail "level-solution run --userns --memory --cpu-shares: exit $rc, want 0, uid 0 in a cgroup rd-<id>"
fi

# Take cpu and memory away from the root's children (children first: a
# controller in use below cannot be disabled).
for f in /sys/fs/cgroup/*/cgroup.subtree_control; do
    [ -f "$f" ] || continue
    echo "-cpu -memory" >"$f" 2>/dev/null || true
done
if ! echo "-cpu -memory" >/sys/fs/cgroup/cgroup.subtree_control; then
    fail "could not disable cpu and memory in /sys/fs/cgroup/cgroup.subtree_control"
    exit 1
fi
for case in "cpu --cpu-shares 512" "memory --memory 32m"; do
    set -- $case
    controller=$1; shift
    rm -rf /tmp/ws
    target/release/level-solution --root /tmp/ws run "$@" -- true 2>/tmp/level.err
    rc=$?
    want="echo +$controller > /sys/fs/cgroup/cgroup.subtree_control"
    if [ $rc -eq 125 ] && [ "$(wc -l </tmp/level.err)" -eq 1 ] && grep -qF "$want" /tmp/level.err && [ -z "$(left)" ]; then
        ok "level-solution run $* without $controller: one line ($(cat /tmp/level.err)), nothing left"
    else
        cat /tmp/level.err; left
        fail "level-solution run $* without $controller: exit $rc, want 125, one line naming '$want', nothing left"
    fi
done
for pair in 08:level09:cpu 09:level10:memory; do
    n=${pair%%:*}; rest=${pair#*:}; bin=target/release/${rest%%:*}; controller=${rest#*:}
    target/release/check "$n" --bin "$bin" >/tmp/check.out 2>&1
    rc=$?
    if [ $rc -eq 1 ] && grep -qF "echo +$controller > /sys/fs/cgroup/cgroup.subtree_control" /tmp/check.out && [ -z "$(ls -d /sys/fs/cgroup/rd-* 2>/dev/null)" ]; then
        ok "check $n without $controller fails with the line to run, nothing left"
    else
        tail -30 /tmp/check.out
        fail "check $n without $controller: exit $rc (want 1), the hint must name 'echo +$controller > …/cgroup.subtree_control'"
    fi
done
echo "+cpu +memory" >/sys/fs/cgroup/cgroup.subtree_control || fail "could not enable cpu and memory again"
[ $failed -eq 0 ]

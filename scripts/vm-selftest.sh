#!/usr/bin/env bash
# scripts/vm-selftest.sh - the VM harness's own test: a guest boots, runs
# `true` (status 0), and a failing command's status comes back; on each
# layout the guest has the cgroup layout it was asked for.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fail=0
expect() {
    local want=$1 rc=0
    shift
    scripts/vm.sh "$@" >/tmp/vm-selftest.out 2>&1 || rc=$?
    if [[ $rc -eq $want ]]; then
        echo "vm-selftest: ok: exit $rc from: $*"
    else
        tail -20 /tmp/vm-selftest.out
        echo "vm-selftest: FAILED: exit $rc, not $want, from: $*"
        fail=1
    fi
}
expect 0 --timeout 300 -- true
expect 3 -- sh -c 'exit 3'
expect 0 --layout v2 -- sh -c 'test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs'
expect 0 --layout v1 -- sh -c 'test "$(stat -fc %T /sys/fs/cgroup/memory)" = cgroupfs && ! test -e /sys/fs/cgroup/unified'
expect 0 --layout hybrid -- sh -c 'test "$(stat -fc %T /sys/fs/cgroup/unified)" = cgroup2fs'
expect 0 --swap -- sh -c 'test "$(awk "NR > 1" /proc/swaps | wc -l)" -eq 1'
expect 124 --timeout 5 -- sleep 60
exit $fail

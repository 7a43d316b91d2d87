#!/usr/bin/env bash
# scripts/test.sh - rd's full test run: setup, fmt, clippy, tests, leak checks.
#
#   sudo scripts/test.sh [CARGO TEST ARGS...]
#
# Steps, in order:
#   1. scripts/setup.sh (installs Debian packages if missing; needs root)
#   2. snapshot the mount table (mount point, fs type, source of each mount)
#   3. cargo fmt --all --check, levels/generate.py --check (skeletons up to date)
#   4. cargo clippy --workspace --all-targets --release -- -D warnings
#   5. cargo test --workspace --release --no-fail-fast [CARGO TEST ARGS...],
#      then (without ARGS) the workshop's snippets (levels/snippets.py) and
#      mutation proof (levels/mutants.py), then (without ARGS, unless
#      RD_NO_VM=1) the integration tests again in a cgroup v2 guest with swap
#      and in a v1 guest (scripts/vm-tests.sh)
#   6. compare the mount table with the snapshot: any mount added or removed
#      is a failure (the diff is printed)
#   8. `rd network prune` must succeed (no container holds a bridge address)
#      and leave no rd0 and no nftables table ip rd
#   7. any leftover rd cgroup (a directory named rd-* under /sys/fs/cgroup,
#      e.g. /sys/fs/cgroup/memory/rd-<id> or /sys/fs/cgroup/unified/rd-<id>)
#      is a failure
# Steps 3-5 all run even if one fails, so one run shows every problem; the
# exit code is the first failing cargo command's, else 1 for a leak, else 0.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=""

# log MSG...: print a step banner.
log() {
    printf '\n==> %s\n' "$*"
}

# die MSG...: print an error on stderr and exit 1.
die() {
    printf 'test.sh: error: %s\n' "$*" >&2
    exit 1
}

# cleanup: remove this script's temporary directory.
cleanup() {
    if [[ -n $TMP ]]; then
        rm -rf -- "$TMP"
    fi
}

# mount_table: print one sorted "mountpoint fstype source" line per mount of
# this mount namespace. Mount IDs are left out: the kernel reuses them.
mount_table() {
    # mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    awk '{
        for (i = 7; i <= NF; i++) if ($i == "-") break
        print $5, $(i + 1), $(i + 2)
    }' /proc/self/mountinfo | LC_ALL=C sort
}

# rd_cgroups: print every directory named rd-* at most three levels under
# /sys/fs/cgroup (v1 controller dirs, the v2 root, the hybrid "unified" dir).
rd_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name 'rd-*' 2>/dev/null | LC_ALL=C sort
}

# run_step NAME CMD...: run CMD, record its exit code as the first failure
# (if it is one), and print how it went.
FIRST_RC=0
FAILED=()
run_step() {
    local name=$1 rc=0
    shift
    log "$name: ${*/#cargo_test/cargo test --release --no-fail-fast}"
    "$@" || rc=$?
    if [[ $rc -ne 0 ]]; then
        printf 'test.sh: %s FAILED (exit %d)\n' "$name" "$rc" >&2
        FAILED+=("$name")
        if [[ $FIRST_RC -eq 0 ]]; then FIRST_RC=$rc; fi
    fi
}

# cargo_test ARGS...: cargo test --release --no-fail-fast ARGS (every test
# binary runs even after a failure), its stdout also kept in
# $TMP/test.log for the summary; returns cargo's exit code.
cargo_test() {
    cargo test --workspace --release --no-fail-fast "$@" | tee "$TMP/test.log"
}

# test_counts: print "PASSED FAILED IGNORED" summed over every
# "test result: ..." line cargo test printed (0 0 0 if none).
test_counts() {
    awk '/^test result:/ {
        for (i = 1; i < NF; i++) {
            n = $i + 0
            if ($(i + 1) ~ /^passed/) p += n
            if ($(i + 1) ~ /^failed/) f += n
            if ($(i + 1) ~ /^ignored/) g += n
        }
    } END { printf "%d %d %d\n", p, f, g }' "$TMP/test.log" 2>/dev/null || echo "0 0 0"
}

# check_mounts BEFORE: fail (return 1) if the mount table differs from BEFORE.
check_mounts() {
    local before=$1 after="$TMP/mounts.after"
    mount_table >"$after"
    if ! cmp -s "$before" "$after"; then
        printf 'test.sh: MOUNT LEAK: the mount table changed during the tests\n' >&2
        printf '         (- removed, + added; columns: mount point, fs type, source)\n' >&2
        diff -u "$before" "$after" | tail -n +3 | grep '^[-+]' >&2 || true
        return 1
    fi
    echo "mount table unchanged ($(wc -l <"$after") mounts)"
}

# check_cgroups: fail (return 1) if any rd-* cgroup directory is left.
check_cgroups() {
    local left
    left=$(rd_cgroups)
    if [[ -n $left ]]; then
        printf 'test.sh: CGROUP LEAK: rd cgroups left behind:\n%s\n' "$left" >&2
        printf '         remove them with: find /sys/fs/cgroup -depth -type d -name "rd-*" -exec rmdir {} +\n' >&2
        return 1
    fi
    echo "no rd-* cgroups left"
}

# check_network: rd's bridge network is host-wide (rd0, the nftables table
# "ip rd", ip_forward): after the tests, `rd network prune` must find no
# container holding an address, and leave none of it behind.
check_network() {
    local out
    if ! out=$(target/release/rd network prune 2>&1); then
        printf 'test.sh: NETWORK LEAK: rd network prune failed: %s\n' "$out" >&2
        return 1
    fi
    if ip link show rd0 >/dev/null 2>&1 || nft list table ip rd >/dev/null 2>&1; then
        printf 'test.sh: NETWORK LEAK: rd0 or the nftables table ip rd is still there\n' >&2
        return 1
    fi
    echo "no rd network left (${out//$'\n'/; })"
}

# main: run the steps described at the top of this file.
main() {
    cd "$REPO_ROOT"
    [[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $0)"
    command -v cargo >/dev/null ||
        die "cargo not found on root's PATH (try: sudo env \"PATH=\$PATH\" $0)"

    log "setup: scripts/setup.sh"
    scripts/setup.sh

    TMP=$(mktemp -d "${TMPDIR:-/tmp}/rd-test.XXXXXX")
    trap cleanup EXIT
    mount_table >"$TMP/mounts.before"
    local stale
    stale=$(rd_cgroups)
    if [[ -n $stale ]]; then
        printf 'test.sh: warning: rd cgroups exist BEFORE the tests (the leak check will fail):\n%s\n' "$stale" >&2
    fi

    run_step fmt cargo fmt --all --check
    # The level skeletons are generated from levels/template/main.rs: they
    # must be exactly what the generator writes (level N+1 holds N's solution).
    run_step levels python3 levels/generate.py --check
    run_step clippy cargo clippy --workspace --all-targets --release -- -D warnings
    run_step test cargo_test "$@"
    # The workshop's texts and checker: every code line a TODO or README
    # offers compiles where it is to be typed, and every classic mistake in
    # levels/mutants.toml is failed by the checker with the right hint (the
    # mutants of levels 08 and 09 are kept for the v2 guest).
    if [[ $# -eq 0 ]]; then
        run_step snippets python3 levels/snippets.py --release
        run_step mutants python3 levels/mutants.py --release --keep
    fi
    # The same integration tests (the binaries just built) on the layouts
    # most users' machines have: a cgroup v2 guest with swap on, and a v1
    # one, booted by scripts/vm.sh (RD_NO_VM=1 skips them; so does a test
    # filter on the command line).
    if [[ -z ${RD_NO_VM:-} && $# -eq 0 ]]; then
        run_step vm-harness scripts/vm-selftest.sh
        run_step vm-v2 scripts/vm-tests.sh v2 --swap
        run_step vm-v1 scripts/vm-tests.sh v1
    fi

    log "leak checks"
    local leak=0
    check_mounts "$TMP/mounts.before" || leak=1
    check_cgroups || leak=1
    check_network || leak=1
    if [[ $leak -ne 0 ]]; then FAILED+=("leak-check"); fi

    # The last line is the plain "N passed, N failed" summary CI reads; a
    # leak counts as one more failed test.
    local passed failed ignored
    read -r passed failed ignored < <(test_counts)
    failed=$((failed + leak))
    if [[ ${#FAILED[@]} -gt 0 ]]; then
        printf '\ntest.sh: FAILED: %s\n' "${FAILED[*]}" >&2
    else
        printf '\ntest.sh: all checks passed\n'
    fi
    printf 'summary: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$ignored"
    if [[ $FIRST_RC -ne 0 ]]; then exit "$FIRST_RC"; fi
    if [[ ${#FAILED[@]} -gt 0 ]]; then exit 1; fi
}

main "$@"

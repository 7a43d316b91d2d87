#!/usr/bin/env bash
# bench/host-root.sh - rd run --host-root beside BenchExec's containerexec, in one run.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO_ROOT/bench/lib.sh"
RUNS=30
RD_BIN=${RD_BIN:-$REPO_ROOT/target/release/rd}
BENCHEXEC_VERSION=3.35
VENV=${BENCHEXEC_VENV:-$REPO_ROOT/target/bench/benchexec-$BENCHEXEC_VERSION}
WORK=""
NOTES=()
MOUNTS_BEFORE=""

usage() {
    cat <<EOF
Usage: sudo bench/host-root.sh [-n N]

Start-to-exit of /bin/true with the host's / as the root, N runs each
(hyperfine -N, 3 warm-ups), on the same directory modes:
  overlay    / through an overlay, /tmp /run /home hidden (both tools' default)
  read-only  / read-only, /tmp /run /home hidden
for
  rd         rd run --host-root --network none   (kernel overlayfs; cgroups,
                                                  seccomp, capabilities, masks)
  benchexec  containerexec --root                 (BenchExec $BENCHEXEC_VERSION, from PyPI into
                                                  $VENV; a user namespace; its
                                                  overlay of / is fuse-overlayfs, as
                                                  the kernel refuses it one there)
Both give the command a network namespace with only lo, and uid 0 inside.
BenchExec is installed with pip on first use; without network or pip its rows
are skipped with a note. Needs root.
EOF
}

while [[ $# -gt 0 ]]; do
    case $1 in
        -n) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive integer"; RUNS=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ $EUID -eq 0 ]] || die "needs root"
command -v hyperfine >/dev/null || die "needs hyperfine (scripts/setup.sh installs it)"
[[ -x $RD_BIN ]] || die "no rd at $RD_BIN: cargo build --release first"

cleanup() {
    [[ -n $WORK && -d $WORK ]] || return 0
    rm -rf --one-file-system -- "$WORK"
    if [[ -n $MOUNTS_BEFORE && $MOUNTS_BEFORE != "$(mount_table)" ]]; then
        log "WARNING: the mount table changed during the benchmark"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
MOUNTS_BEFORE=$(mount_table)
# Not under /tmp: both tools hide /tmp, and rd also hides its state root.
WORK=$(mktemp -d /var/tmp/rd-bench-host-root.XXXXXX)
chmod 700 "$WORK"

# median_ms NAME CMD...: hyperfine's median of CMD, in ms, on stdout.
median_ms() {
    local name=$1
    shift
    hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$WORK/$name.json" \
        "$(quote_words "$@")" >/dev/null 2>&1 || return 1
    python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$WORK/$name.json"
}

CONTAINEREXEC=""
if [[ -x $VENV/bin/containerexec ]] ||
    { log "installing BenchExec $BENCHEXEC_VERSION into $VENV (pip)" &&
        python3 -m venv "$VENV" >/dev/null 2>&1 &&
        "$VENV/bin/pip" install -q "benchexec==$BENCHEXEC_VERSION" >/dev/null 2>&1; }; then
    CONTAINEREXEC=$VENV/bin/containerexec
else
    note "BenchExec could not be installed (pip install benchexec==$BENCHEXEC_VERSION into $VENV failed): its rows are skipped"
fi
if [[ -n $CONTAINEREXEC ]] && ! command -v fuse-overlayfs >/dev/null; then
    note "fuse-overlayfs is missing (scripts/setup.sh installs it): containerexec cannot overlay /"
fi

HIDE=(--hidden-dir /tmp --hidden-dir /run --hidden-dir /home)
RD=("$RD_BIN" --root "$WORK/rd" run --host-root --network none)
CE=("$CONTAINEREXEC" --root --dir / "${HIDE[@]}")
declare -A MS=()
for mode in overlay read-only; do
    extra=()
    [[ $mode == read-only ]] && extra=(--read-only-dir /)
    log "measuring rd, $mode"
    # A run that fails is reported, not timed.
    if out=$("${RD[@]}" "${HIDE[@]}" "${extra[@]}" -- /bin/true 2>&1); then
        MS[rd_$mode]=$(median_ms "rd_$mode" "${RD[@]}" "${HIDE[@]}" "${extra[@]}" -- /bin/true) || note "rd ($mode) failed under hyperfine"
    else
        note "rd ($mode) failed: $out"
    fi
    [[ -n $CONTAINEREXEC ]] || continue
    log "measuring containerexec, $mode"
    if out=$("${CE[@]}" "${extra[@]}" -- /bin/true 2>&1) && ! grep -q CRITICAL <<<"$out"; then
        MS[benchexec_$mode]=$(median_ms "benchexec_$mode" "${CE[@]}" "${extra[@]}" -- /bin/true) || note "containerexec ($mode) failed under hyperfine"
    else
        note "containerexec ($mode) failed: $(grep -m1 -E 'CRITICAL|ERROR' <<<"$out" || tail -n1 <<<"$out")"
    fi
done

printf '\n%-12s %14s %18s %8s\n' "/ mode" "rd median ms" "benchexec median" "ratio"
for mode in overlay read-only; do
    r=${MS[rd_$mode]:-}
    b=${MS[benchexec_$mode]:-}
    ratio=-
    [[ -n $r && -n $b ]] && ratio=$(python3 -c "print('%.2f' % ($b / $r))")
    printf '%-12s %14s %18s %8s\n' "$mode" "${r:--}" "${b:--}" "$ratio"
done
printf '(ratio: benchexec / rd; %s runs each, /bin/true, the same directory modes)\n' "$RUNS"
for n in "${NOTES[@]}"; do printf 'note: %s\n' "$n"; done

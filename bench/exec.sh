#!/usr/bin/env bash
# bench/exec.sh - classroom operations, measured beside their peers in one run.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO_ROOT/bench/lib.sh"
RUNS=50
PS_CONTAINERS=50
RD_BIN=${RD_BIN:-$REPO_ROOT/target/release/rd}
WORK=""
NOTES=()
MOUNTS_BEFORE=""

usage() {
    cat <<EOF
Usage: sudo bench/exec.sh [-n N]

Measures, in one run (hyperfine -N, N runs each, 3 warm-ups), /bin/true run
in an already running container by:
  floor  nsenter -a -t PID /bin/true      (setns into every namespace, no more)
  rd     rd exec C /bin/true               (setns + cgroup + the container's
                                             capabilities, seccomp, user)
  runc   runc exec ID /bin/true            (into a runc container, same rootfs)
  crun   crun exec ID /bin/true            (into a crun container)
then the time 'rd run -d -- sleep' takes to return (N containers, removed
after), and 'rd ps' with $PS_CONTAINERS detached containers.
Target (printed PASS/MISS): rd exec within 1.5x of the floor (median).
The peers' rootfs is a copy of rd's busybox image. Needs root; peers that
are not installed are skipped with a note. Everything lives in one
temporary directory, removed at the end, containers and all.
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

# crun refuses a hybrid cgroup host: run it where the empty cgroup2 is unmounted
# (see bench/start.sh, crun_prefix).
CRUN_NS=()
if [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) != cgroup2fs ]] &&
    [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
    # shellcheck disable=SC2016 # $@ is expanded by the inner sh
    CRUN_NS=(unshare -m --propagation private -- sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh)
fi

cleanup() {
    [[ -n $WORK && -d $WORK ]] || return 0
    local ids
    ids=$("$RD_BIN" --root "$WORK/rd" ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086 # one word per id
    [[ -z $ids ]] || "$RD_BIN" --root "$WORK/rd" rm -f $ids >/dev/null 2>&1 || true
    runc --root "$WORK/runc-state" delete -f bench >/dev/null 2>&1 || true
    "${CRUN_NS[@]}" crun --root "$WORK/crun-state" delete -f bench >/dev/null 2>&1 || true
    rm -rf --one-file-system -- "$WORK"
    if [[ -n $MOUNTS_BEFORE && $MOUNTS_BEFORE != "$(mount_table)" ]]; then
        log "WARNING: the mount table changed during the benchmark"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
MOUNTS_BEFORE=$(mount_table)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rd-bench-exec.XXXXXX")
chmod 700 "$WORK"
RD=("$RD_BIN" --root "$WORK/rd")

# median_ms NAME CMD...: hyperfine's median of CMD, in ms, on stdout.
median_ms() {
    local name=$1
    shift
    hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$WORK/$name.json" \
        "$(quote_words "$@")" >/dev/null 2>&1 || return 1
    python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$WORK/$name.json"
}

declare -A MS=()
log "starting an rd container"
"${RD[@]}" run -d --name bench -- sleep 100000 >/dev/null
PID=$("${RD[@]}" inspect bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')

log "measuring the floor: nsenter -a -t $PID /bin/true"
MS[floor]=$(median_ms floor nsenter -a -t "$PID" /bin/true) || note "nsenter failed"
log "measuring rd exec"
MS[rd]=$(median_ms rd "${RD[@]}" exec -T bench /bin/true) || note "rd exec failed"

# The peers' bundle: rd's busybox layer, copied.
LAYER=$("${RD[@]}" inspect --type image busybox | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0])')
mkdir -p "$WORK/bundle"
cp -a "$LAYER" "$WORK/bundle/rootfs"
for tool in runc crun; do
    if ! command -v $tool >/dev/null; then
        note "$tool not installed: skipped"
        continue
    fi
    prefix=()
    [[ $tool == crun ]] && prefix=("${CRUN_NS[@]}")
    rm -f "$WORK/bundle/config.json"
    (cd "$WORK/bundle" && runc spec)
    python3 - "$WORK/bundle/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["sleep", "100000"]
c["root"]["readonly"] = False
json.dump(c, open(sys.argv[1], "w"))
EOF
    if "${prefix[@]}" $tool --root "$WORK/$tool-state" run -d --bundle "$WORK/bundle" bench \
        </dev/null >/dev/null 2>"$WORK/$tool.err"; then
        log "measuring $tool exec"
        MS[$tool]=$(median_ms "$tool" "${prefix[@]}" $tool --root "$WORK/$tool-state" exec bench /bin/true) ||
            note "$tool exec failed"
        "${prefix[@]}" $tool --root "$WORK/$tool-state" delete -f bench >/dev/null 2>&1 || true
    else
        note "$tool run failed: $(head -c 200 "$WORK/$tool.err")"
    fi
done

log "timing rd run -d ($RUNS containers)"
START_MS=()
for ((i = 0; i < RUNS; i++)); do
    t0=$EPOCHREALTIME
    "${RD[@]}" run -d -- sleep 100000 >/dev/null
    t1=$EPOCHREALTIME
    START_MS+=("$(python3 -c "print('%.3f' % (($t1 - $t0) * 1000))")")
done
MS[run_d]=$(printf '%s\n' "${START_MS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
n=$(("${RD[@]}" ps -q) | wc -l)
while ((n < PS_CONTAINERS)); do
    "${RD[@]}" run -d -- sleep 100000 >/dev/null
    n=$((n + 1))
done
log "measuring rd ps with $n containers"
MS[ps]=$(median_ms ps "${RD[@]}" ps)

printf '\n%-34s %10s %8s\n' "exec of /bin/true into a container" "median ms" "x floor"
for e in floor rd runc crun; do
    [[ -n ${MS[$e]:-} ]] || continue
    ratio=$(python3 -c "print('%.2f' % (${MS[$e]} / ${MS[floor]:-0}))" 2>/dev/null || echo "-")
    printf '%-34s %10s %8s\n' "$e" "${MS[$e]}" "$ratio"
done
printf '\n%-34s %10s\n' "rd run -d, until it returns" "${MS[run_d]}"
printf '%-34s %10s\n' "rd ps, $n containers" "${MS[ps]}"
if [[ -n ${MS[rd]:-} && -n ${MS[floor]:-} ]]; then
    verdict=$(python3 -c "print('PASS' if ${MS[rd]} <= 1.5 * ${MS[floor]} else 'MISS')")
    printf '\n%s: rd exec within 1.5x of nsenter (%.2f ms against %.2f)\n' "$verdict" "${MS[rd]}" "${MS[floor]}"
fi
for n in "${NOTES[@]}"; do printf 'note: %s\n' "$n"; done

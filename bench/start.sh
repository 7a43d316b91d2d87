#!/usr/bin/env bash
# bench/start.sh - start-to-exit benchmark: rd against runc, crun, bwrap and a
# bare unshare+chroot floor, all running /bin/true from the same busybox rootfs.
# Run `bench/start.sh --help` for the details.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO_ROOT/bench/lib.sh"
RUNS=50          # measured iterations per engine (-n)
WARMUP=3         # unmeasured runs before the measured ones
RSS_RUNS=5       # runs under /usr/bin/time; the largest max RSS is reported
ROUNDS=5         # the runs are split into rounds that visit every engine in
                 # turn, so a burst of other load hits all engines alike
BUILD=1          # 0 with --no-build
RD_BIN=${RD_BIN:-$REPO_ROOT/target/release/rd}
TIMER=${BENCH_TIMER:-hyperfine} # hyperfine, or bash ($EPOCHREALTIME loop)
WORK=""          # temporary directory holding everything this run creates
MOUNTS_BEFORE="" # mount table snapshot taken at start
CGROUPS_BEFORE="" # rd-* cgroup directories that existed at start
CRUN_NS=()       # command prefix crun is run under (see crun_prefix)
PREFIX=()        # prefix for the engine being measured: CRUN_NS or nothing
CMD=()           # command of the engine being measured (see load_engine)
ENGINES=()       # engines that passed their warm-up, in measuring order
declare -A USE_NS=() # engine name -> 1 if it runs under CRUN_NS
ROWS=()          # "engine median_ms p90_ms rss_kib" per measured engine
NOTES=()         # skipped engines and other remarks, printed after the table
RD_OK=1          # 0 once rd is known not to work here (its row is skipped)
ROOTFS_SOURCE="" # which rootfs the peers ran from, for the report

# usage: print the help text.
usage() {
    cat <<EOF
Usage: sudo bench/start.sh [-n N] [--no-build]

Start-to-exit benchmark. Runs /bin/true from one busybox rootfs under each of:
  rd     target/release/rd --root TMP run --network none -i busybox -- /bin/true
         (--network none: the peers' containers have only lo too; bench/network.sh
         measures the bridge)
  rd_priv  the same with --privileged: every defence off (their cost)
  runc   runc --root TMP run --bundle BUNDLE <unique id>
  crun   crun --root TMP run --bundle BUNDLE <unique id>
  bwrap  bwrap --unshare-all --ro-bind ROOTFS / --proc /proc --dev /dev /bin/true
  floor  unshare -m -u -n -p -i -f --mount-proc=ROOTFS/proc chroot ROOTFS /bin/true
and prints, per engine, the median and p90 wall time over N runs (after
$WARMUP warm-up runs), its ratio to the floor and to crun, and the peak RSS.
The N runs are split into $ROUNDS rounds, each visiting every engine in turn,
so that load from elsewhere on the machine hits all engines alike.

The rootfs is rd's busybox image: after a first \`rd run\`, \`rd inspect busybox\`
names its layer directory, which is copied (cp -a) into a temporary bundle so
no peer can touch rd's cache. If rd is missing or fails, a rootfs is built from
/bin/busybox instead (the output says which one was used) and rd is skipped.

Timing: hyperfine -N (no shell in between), one run per unique container id;
without hyperfine, a bash loop around each run (\$EPOCHREALTIME, adds ~0.3 ms).
Peak RSS: GNU time's %M (max RSS in KiB) over $RSS_RUNS runs. It is the largest
RSS of any single process of the engine's tree that was waited for (the engine
itself, its helpers, /bin/true), not the sum of the tree.

crun on a hybrid cgroup host (cgroup v1 controllers plus an empty cgroup2 at
/sys/fs/cgroup/unified) refuses to start ("cgroups in hybrid mode not
supported"); there crun runs in a private mount namespace where that cgroup2
mount is unmounted, so it uses plain cgroup v1 like runc.

Targets checked at the end (printed as PASS/MISS; the exit code is 0 anyway):
rd faster than crun (median), and rd/floor <= 1.5 (median).

Options:
  -n N         measured iterations per engine (default $RUNS)
  --no-build   do not run cargo build --release (use the existing binary)
  -h, --help   this text
Environment: RD_BIN=path overrides target/release/rd; BENCH_TIMER=bash uses
the bash loop even when hyperfine is installed.
Needs root. Peers that are not installed are skipped with a note.
Everything lives under one temporary directory, removed at the end; the mount
table (and the set of rd-* cgroups) is compared with its state at start and
any difference is reported.
EOF
}

# rd_cgroups: sorted rd-* directories (rd's cgroups) under /sys/fs/cgroup.
rd_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name 'rd-*' 2>/dev/null | LC_ALL=C sort
}

# parse_args ARGS...: read the command line into the globals above.
parse_args() {
    while [[ $# -gt 0 ]]; do
        case $1 in
            -n)
                [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive integer"
                RUNS=$2
                shift 2
                ;;
            --no-build) BUILD=0; shift ;;
            -h | --help) usage; exit 0 ;;
            *) die "unknown argument: $1 (see --help)" ;;
        esac
    done
}

# cleanup: delete leftover runc/crun containers, unmount anything left under
# $WORK, remove $WORK, and warn if the mount table changed. Runs on exit.
cleanup() {
    local tool state id mnt
    [[ -n $WORK && -d $WORK ]] || return 0
    for tool in runc crun; do
        state="$WORK/$tool-state"
        if [[ ! -d $state ]] || ! command -v "$tool" >/dev/null; then continue; fi
        local prefix=()
        if [[ $tool == crun ]]; then prefix=("${CRUN_NS[@]}"); fi
        while read -r id; do
            if [[ -n $id ]]; then
                "${prefix[@]}" "$tool" --root "$state" delete -f "$id" >/dev/null 2>&1 || true
            fi
        done < <("${prefix[@]}" "$tool" --root "$state" list -q 2>/dev/null || true)
    done
    # Unmount leftovers (deepest first) so rm cannot walk into a mount.
    while read -r mnt; do
        if [[ -n $mnt ]]; then umount -l "$mnt" 2>/dev/null || true; fi
    done < <(awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    rm -rf --one-file-system -- "$WORK"
    if [[ -n $MOUNTS_BEFORE ]]; then
        local diff_out
        diff_out=$(diff <(printf '%s\n' "$MOUNTS_BEFORE") <(mount_table) | grep '^[<>]' || true)
        if [[ -n $diff_out ]]; then
            log "WARNING: the mount table changed during the benchmark (< removed, > added):"
            printf '%s\n' "$diff_out" >&2
        fi
        diff_out=$(comm -13 <(printf '%s\n' "$CGROUPS_BEFORE") <(rd_cgroups) | grep . || true)
        if [[ -n $diff_out ]]; then
            log "WARNING: rd left cgroups behind:"
            printf '%s\n' "$diff_out" >&2
        fi
    fi
}

# crun_prefix: set CRUN_NS to the command prefix crun must run under here.
# crun 1.8 refuses a hybrid host (v1 controllers + a cgroup2 mount at
# /sys/fs/cgroup/unified): "cgroups in hybrid mode not supported, drop all
# controllers from cgroupv2"; --cgroup-manager=disabled does not help, as the
# check runs anyway. So crun (and hyperfine/time around it) runs in a new,
# private mount namespace (unshare -m's default propagation is private, so
# nothing leaks to the host) in which /sys/fs/cgroup/unified is unmounted:
# crun then sees a plain cgroup v1 host, as runc does.
crun_prefix() {
    CRUN_NS=()
    if [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) != cgroup2fs ]] &&
        [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
        # shellcheck disable=SC2016 # $@ is expanded by the inner sh
        CRUN_NS=(unshare -m --propagation private -- sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh)
    fi
}

# build_rd: cargo build --release, unless --no-build; a failure is a note.
build_rd() {
    [[ $BUILD -eq 1 ]] || return 0
    if ! command -v cargo >/dev/null; then
        note "rd: cargo not found, not building (using $RD_BIN if present)"
        return 0
    fi
    log "building rd: cargo build --release"
    if ! (cd "$REPO_ROOT" && cargo build --release) >"$WORK/build.log" 2>&1; then
        note "rd: skipped: cargo build --release failed (its output is printed above)"
        tail -n 15 "$WORK/build.log" >&2
        RD_OK=0
    fi
}

# rd_layers ROOT OUT: run rd once (which builds its busybox image) and write
# the layer directories `rd inspect busybox` lists, lowest first, to OUT.
# Returns 2 (with rd's stderr shown) if rd is missing or `rd run` fails,
# 1 if `rd inspect` fails or lists no usable layer directory.
rd_layers() {
    local root=$1 out=$2 json list layer
    if [[ ! -x $RD_BIN ]]; then
        note "rd: skipped: $RD_BIN not found"
        return 2
    fi
    if ! "$RD_BIN" --root "$root" run -i busybox -- /bin/true \
        </dev/null >/dev/null 2>"$WORK/rd.err"; then
        note "rd: skipped: 'rd run -i busybox -- /bin/true' failed (its stderr is printed above)"
        sed 's/^/    | /' "$WORK/rd.err" | tail -n 20 >&2
        return 2
    fi
    if ! json=$("$RD_BIN" --root "$root" inspect busybox 2>"$WORK/rd.err"); then
        note "rd: 'rd inspect busybox' failed (its stderr is printed above)"
        sed 's/^/    | /' "$WORK/rd.err" | tail -n 20 >&2
        return 1
    fi
    # The "layers" array of absolute paths: no JSON parser needed for that.
    list=$(printf '%s' "$json" | tr -d '\n' |
        sed -n 's/.*"layers"[[:space:]]*:[[:space:]]*\[\([^]]*\)\].*/\1/p' |
        tr ',' '\n' | sed 's/^[[:space:]]*"//; s/"[[:space:]]*$//' | grep -v '^[[:space:]]*$' || true)
    if [[ -z $list ]]; then
        note "rd: 'rd inspect busybox' printed no \"layers\" array"
        return 1
    fi
    while read -r layer; do
        if [[ ! -d $layer ]]; then
            note "rd: 'rd inspect busybox' names a layer that is not a directory: $layer"
            return 1
        fi
    done <<<"$list"
    printf '%s\n' "$list" >"$out"
}

# manual_rootfs DIR: build a busybox rootfs in DIR from the host's static
# /bin/busybox (package busybox-static), as rd's default image would be.
manual_rootfs() {
    local dir=$1
    [[ -x /bin/busybox ]] || die "/bin/busybox not found (run scripts/setup.sh)"
    mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
    cp /bin/busybox "$dir/bin/busybox"
    chroot "$dir" /bin/busybox --install -s
}

# make_rootfs DIR: fill DIR with rd's busybox image (copied) or, failing
# that, a hand-made one; print which was used.
make_rootfs() {
    local dir=$1 layer n=0 rc=2
    local layers=()
    if [[ $RD_OK -eq 1 ]]; then
        rd_layers "$WORK/rd-root" "$WORK/layers" && rc=0 || rc=$?
    fi
    # rd's row is measured unless rd itself could not run.
    if [[ $rc -eq 2 ]]; then RD_OK=0; fi
    if [[ $rc -eq 0 ]]; then
        mapfile -t layers <"$WORK/layers"
        mkdir -p "$dir"
        for layer in "${layers[@]}"; do
            # Plain copy, lowest layer first; overlay whiteouts are not
            # interpreted (busybox has a single layer).
            cp -a "$layer/." "$dir/"
            n=$((n + 1))
        done
        log "rootfs: rd's busybox image ($n layer(s), first: ${layers[0]}), copied"
        ROOTFS_SOURCE="rd's busybox image (rd inspect busybox)"
    else
        manual_rootfs "$dir"
        log "rootfs: built by hand from /bin/busybox (rd's image was not available)"
        ROOTFS_SOURCE="hand-made from /bin/busybox (rd inspect unavailable)"
    fi
    # Mount points every peer expects; harmless if already there.
    mkdir -p "$dir"/{proc,sys,dev,tmp}
}

# make_bundle DIR ROOTFS: write an OCI bundle config for /bin/true into DIR.
make_bundle() {
    local dir=$1 rootfs=$2 tool
    for tool in runc crun; do
        command -v "$tool" >/dev/null && break
    done
    (cd "$dir" && "$tool" spec)
    # runc spec and crun spec print the same layout: edit it in place.
    sed -i -e 's/"terminal": true/"terminal": false/' \
        -e 's|^\([[:space:]]*\)"sh"$|\1"/bin/true"|' \
        -e "s|\"path\": \"rootfs\"|\"path\": \"$rootfs\"|" "$dir/config.json"
    if ! grep -q '"terminal": false' "$dir/config.json" ||
        ! grep -q '"/bin/true"' "$dir/config.json" ||
        ! grep -qF "\"path\": \"$rootfs\"" "$dir/config.json"; then
        die "could not edit $dir/config.json"
    fi
}

# warm_up NAME CMD...: run CMD $WARMUP times ({i} replaced by warm-K);
# on failure note it with the command's stderr and return 1.
warm_up() {
    local name=$1 k
    shift
    for ((k = 1; k <= WARMUP; k++)); do
        if ! "${PREFIX[@]}" "${@//\{i\}/warm-$k}" </dev/null >/dev/null 2>"$WORK/$name.err"; then
            note "$name: skipped: warm-up run failed: $*"
            sed 's/^/    /' "$WORK/$name.err" | tail -n 20 >&2
            return 1
        fi
    done
}

# time_runs NAME FROM TO CMD...: append to $WORK/NAME.times the wall times
# in seconds, one per line, of runs FROM..TO of CMD ({i} replaced by the run
# number, for unique container ids).
time_runs() {
    local name=$1 from=$2 to=$3 k start end
    shift 3
    if [[ $TIMER == hyperfine ]]; then
        local hf
        # PREFIX (crun's namespace) wraps hyperfine, so only the engine is
        # timed. One hyperfine "benchmark" per run number, of one run each.
        hf=(hyperfine -N --style basic --runs 1 --parameter-scan i "$from" "$to"
            --export-json "$WORK/$name.json" "$(quote_words "$@")")
        if ! "${PREFIX[@]}" "${hf[@]}" >"$WORK/$name.hf" 2>&1; then
            note "$name: hyperfine failed (its output is printed above)"
            tail -n 15 "$WORK/$name.hf" >&2
            return 1
        fi
        # Each of the RUNS results holds one value: the line after "times".
        awk '/"times": \[/ { getline; gsub(/[ ,]/, ""); print }' "$WORK/$name.json" >>"$WORK/$name.times"
    else
        for ((k = from; k <= to; k++)); do
            start=$EPOCHREALTIME
            "${PREFIX[@]}" "${@//\{i\}/$k}" </dev/null >/dev/null 2>"$WORK/$name.err" || {
                note "$name: run $k failed"
                return 1
            }
            end=$EPOCHREALTIME
            awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f\n", e - s }' >>"$WORK/$name.times"
        done
    fi
}

# peak_rss NAME CMD...: print the largest %M (KiB) of RSS_RUNS runs of CMD
# under GNU time ({i} replaced by rss-K), or n/a.
peak_rss() {
    local name=$1 k max=0 v
    shift
    if [[ ! -x /usr/bin/time ]]; then
        echo n/a
        return 0
    fi
    for ((k = 1; k <= RSS_RUNS; k++)); do
        if ! "${PREFIX[@]}" /usr/bin/time -f %M -o "$WORK/$name.rss" "${@//\{i\}/rss-$k}" \
            </dev/null >/dev/null 2>&1; then
            echo n/a
            return 0
        fi
        v=$(tail -n 1 "$WORK/$name.rss")
        ((v > max)) && max=$v
    done
    echo "$max"
}

# stats: read seconds on stdin, print "median_ms p90_ms" (nearest rank).
stats() {
    sort -g | awk '{ t[NR] = $1 * 1000 }
        END {
            if (NR == 0) { print "nan nan"; exit }
            m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
            r = int(0.9 * NR); if (r < 0.9 * NR) r++
            printf "%.2f %.2f\n", m, t[r]
        }'
}

# add_engine [--crun-ns] NAME CMD...: warm NAME up and, if that works, add
# it to ENGINES with CMD kept in the array CMD_NAME. With --crun-ns it runs
# under CRUN_NS (see crun_prefix).
add_engine() {
    local ns=0
    if [[ $1 == --crun-ns ]]; then
        ns=1
        shift
    fi
    local name=$1
    shift
    PREFIX=()
    if [[ $ns -eq 1 ]]; then PREFIX=("${CRUN_NS[@]}"); fi
    warm_up "$name" "$@" || return 0
    # An array per engine, CMD_<name>, read back by load_engine.
    declare -g -a "CMD_$name=()"
    local -n dst="CMD_$name"
    # shellcheck disable=SC2034 # dst is a nameref to CMD_<name>
    dst=("$@")
    USE_NS[$name]=$ns
    ENGINES+=("$name")
    : >"$WORK/$name.times"
    log "$name: $*"
}

# load_engine NAME: set CMD to NAME's command and PREFIX to its prefix.
load_engine() {
    local -n src="CMD_$1"
    CMD=("${src[@]}")
    PREFIX=()
    if [[ ${USE_NS[$1]} -eq 1 ]]; then PREFIX=("${CRUN_NS[@]}"); fi
}

# measure_all: time RUNS runs of every engine in ROUNDS rounds, then take
# each one's peak RSS; add a row per engine that never failed.
measure_all() {
    local rounds=$ROUNDS round chunk from=1 to name med p90 rss
    declare -A failed=()
    if ((rounds > RUNS)); then rounds=$RUNS; fi
    log "timing: $RUNS runs per engine in $rounds rounds (${ENGINES[*]})"
    for ((round = 0; round < rounds; round++)); do
        # Spread RUNS over the rounds; the first RUNS % rounds get one more.
        chunk=$((RUNS / rounds + (round < RUNS % rounds ? 1 : 0)))
        to=$((from + chunk - 1))
        for name in "${ENGINES[@]}"; do
            [[ -z ${failed[$name]:-} ]] || continue
            load_engine "$name"
            time_runs "$name" "$from" "$to" "${CMD[@]}" || failed[$name]=1
        done
        from=$((to + 1))
    done
    for name in "${ENGINES[@]}"; do
        [[ -z ${failed[$name]:-} ]] || continue
        load_engine "$name"
        read -r med p90 < <(stats <"$WORK/$name.times")
        rss=$(peak_rss "$name" "${CMD[@]}")
        ROWS+=("$name $med $p90 $rss")
    done
}

# have TOOL NAME: true if TOOL is installed; otherwise note NAME as skipped.
have() {
    command -v "$1" >/dev/null && return 0
    note "$2: skipped: $1 is not installed (scripts/setup.sh installs it)"
    return 1
}

# report: print the table, the notes and the two targets.
report() {
    local floor="" crun="" rd="" priv="" r n m p rss
    for r in "${ROWS[@]}"; do
        read -r n m _ _ <<<"$r"
        case $n in floor) floor=$m ;; crun) crun=$m ;; rd) rd=$m ;; rd_priv) priv=$m ;; esac
    done
    echo
    echo "start-to-exit of /bin/true, $RUNS runs each after $WARMUP warm-ups; $(nproc) CPUs, kernel $(uname -r)"
    echo "rootfs: $ROOTFS_SOURCE"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
    if [[ $TIMER == hyperfine ]]; then
        echo "timer: hyperfine -N, one run per unique id"
    else
        echo "timer: bash \$EPOCHREALTIME loop (includes ~0.3 ms of bash fork+exec per run)"
    fi
    printf '%-7s %10s %10s %10s %10s %16s\n' engine "median ms" "p90 ms" "x floor" "x crun" "peak RSS KiB"
    for r in "${ROWS[@]}"; do
        read -r n m p rss <<<"$r"
        printf '%-7s %10s %10s %10s %10s %16s\n' "$n" "$m" "$p" \
            "$(ratio "$m" "$floor")" "$(ratio "$m" "$crun")" "$rss"
    done
    if [[ ${#NOTES[@]} -gt 0 ]]; then
        echo "notes:"
        printf '  - %s\n' "${NOTES[@]}"
    fi
    echo "peak RSS: largest single process of the engine's waited-for tree (GNU time %M), not the sum"
    local t1 t2
    if [[ -n $rd && -n $crun ]]; then
        t1=$(awk -v a="$rd" -v b="$crun" 'BEGIN { print (a < b) ? "PASS" : "MISS" }')
        t1="$t1 (rd $rd ms vs crun $crun ms)"
    else
        t1="MISS (not measured: rd ${rd:-skipped}, crun ${crun:-skipped})"
    fi
    if [[ -n $rd && -n $floor ]]; then
        t2=$(awk -v a="$rd" -v b="$floor" 'BEGIN { print (a / b <= 1.5) ? "PASS" : "MISS" }')
        t2="$t2 (rd/floor = $(ratio "$rd" "$floor"))"
    else
        t2="MISS (not measured: rd ${rd:-skipped}, floor ${floor:-skipped})"
    fi
    echo "targets: rd faster than crun: $t1; rd/floor <= 1.5: $t2"
    if [[ -n $rd && -n $priv ]]; then
        echo "the defences (rd against rd --privileged, medians): $(awk -v a="$rd" -v b="$priv" 'BEGIN { printf "%+.2f ms", a - b }') (goal: at most 0.5 ms)"
    fi
}

# ratio A B: print A/B with two decimals, or - if either is missing.
ratio() {
    if [[ -z $1 || -z $2 ]]; then
        echo -
    else
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
    fi
}

# main: set up, measure every engine, report, clean up.
main() {
    parse_args "$@"
    [[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $0)"
    CGROUPS_BEFORE=$(rd_cgroups)
    MOUNTS_BEFORE=$(mount_table)
    # /var/tmp by default: rd keeps its state on /var (/var/lib/rd), and /tmp
    # can be a tmpfs (flattering everyone's directory work) or, as on this
    # VM, an ext4 directory where mkdir costs 10x more than elsewhere.
    WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/rd-bench.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    cd "$WORK"
    crun_prefix
    if [[ $TIMER == hyperfine ]] && ! command -v hyperfine >/dev/null; then
        note "hyperfine is not installed: timing with a bash loop instead"
        TIMER=bash
    fi

    build_rd
    local rootfs="$WORK/bundle/rootfs"
    mkdir -p "$WORK/bundle" "$WORK/runc-state" "$WORK/crun-state"
    make_rootfs "$rootfs"
    if command -v runc >/dev/null || command -v crun >/dev/null; then
        make_bundle "$WORK/bundle" "$rootfs"
    fi

    # Warm every engine up (the floor first); all read the same rootfs copy.
    if have unshare floor && have chroot floor; then
        add_engine floor unshare -m -u -n -p -i -f --mount-proc="$rootfs/proc" chroot "$rootfs" /bin/true
    fi
    if have bwrap bwrap; then
        add_engine bwrap bwrap --unshare-all --ro-bind "$rootfs" / --proc /proc --dev /dev /bin/true
    fi
    if have runc runc; then
        add_engine runc runc --root "$WORK/runc-state" run --bundle "$WORK/bundle" 'rdb-{i}'
    fi
    if have crun crun; then
        if [[ ${#CRUN_NS[@]} -gt 0 ]]; then
            note "crun: hybrid cgroup host: run in a private mount namespace without /sys/fs/cgroup/unified"
        fi
        add_engine --crun-ns crun crun --root "$WORK/crun-state" run --bundle "$WORK/bundle" 'rdb-{i}'
    fi
    if [[ $RD_OK -eq 1 ]]; then
        add_engine rd "$RD_BIN" --root "$WORK/rd-root" run --network none -i busybox -- /bin/true
        # The same with every defence off: what capabilities, seccomp, the
        # masked paths and the bound device nodes cost, in the same run.
        add_engine rd_priv "$RD_BIN" --root "$WORK/rd-root" run --network none --privileged -i busybox -- /bin/true
    fi
    if [[ ${#ENGINES[@]} -gt 0 ]]; then measure_all; fi
    report
}

main "$@"

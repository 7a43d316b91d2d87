#!/usr/bin/env bash
# bench/images.sh - image benchmark (issue #4): unpacking a Debian rootfs
# .tar.gz (rd import vs GNU tar vs umoci unpack, gunzip as the floor) and
# pulling it from a local registry (rd pull vs skopeo copy vs skopeo copy +
# umoci unpack). Run `bench/images.sh --help` for the details.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO_ROOT/bench/lib.sh"
RUNS=10          # measured runs per tool (-n)
WARMUP=1         # unmeasured runs per tool before the measured ones; the
                 # first one's output is checked (see check_rootfs)
ROUNDS=5         # the runs are split into rounds that visit every tool in
                 # turn, so a burst of other load hits all tools alike
BUILD=1          # 0 with --no-build
RD_BIN=${RD_BIN:-$REPO_ROOT/target/release/rd}
TIMER=${BENCH_TIMER:-hyperfine} # hyperfine, or bash ($EPOCHREALTIME loop)
PORT=""          # the registry's port (--port; default: a free one)
TARBALL=""       # the Debian rootfs .tar.gz (--tarball; default: scripts/debian-rootfs.sh)
TAG=12           # the image's tag, in the OCI layout and in the registry
WORK=""          # temporary directory holding everything this run creates
REGISTRY_PID=""  # the docker-registry we started
MOUNTS_BEFORE="" # mount table snapshot taken at start
VARLIB_BEFORE="" # whether /var/lib/containers existed at start
SKOPEO_NS=()     # prefix skopeo runs under (see skopeo_prefix)
TOOLS=()         # tools that passed their warm-up, in measuring order
declare -A CMD_STR=()   # tool -> its command line (for hyperfine and the log)
declare -A PREP_STR=()  # tool -> clean-up command line run before each run
declare -A USE_NS=()    # tool -> 1 if it runs under SKOPEO_NS
declare -A FILES=()     # tool -> entries in the rootfs it produced
declare -A MED=() LO=() HI=() # tool -> median, min, max (seconds)
declare -A UNAVAILABLE=() # tool -> why it has no figures
NOTES=()         # remarks printed after the table
PULL_REF=""      # 127.0.0.1:PORT/bench/debian:TAG
LAYER_DIGEST=""  # sha256:... of the tarball, the image's one layer blob

# usage: print the help text.
usage() {
    cat <<EOF
Usage: sudo bench/images.sh [-n N] [--rd PATH] [--no-build] [--port PORT] [--tarball FILE]

Image benchmark for issue #4, all tools measured in the same run.

A. Unpacking the Debian bookworm rootfs tarball (scripts/debian-rootfs.sh):
  gunzip       gzip -dc FILE >/dev/null                      (the floor)
  tar          tar -xzf FILE -C DIR
  rd-import    rd --root R import FILE bench-debian           (unpack + hash)
  umoci        umoci unpack --image LAYOUT:$TAG BUNDLE
B. Pulling that image from a local registry (127.0.0.1, plain HTTP):
  skopeo       skopeo copy docker://127.0.0.1:PORT/bench/debian:$TAG oci:DIR:$TAG
  skopeo+umoci the same, then umoci unpack --image DIR:$TAG BUNDLE
  rd-pull      rd --root R pull 127.0.0.1:PORT/bench/debian:$TAG
               (download + verify + decompress + unpack: the same end state
               as skopeo+umoci; "not available yet" while 'rd pull --help' fails)

LAYOUT is an OCI layout written by this script whose one layer is FILE
itself (same bytes, so every tool inflates the same gzip stream); it is pushed
once with skopeo to a docker-registry (distribution) started on 127.0.0.1 with
this script's own config and storage. Each tool's output (R, DIR, BUNDLE) is
fresh for every run: removed, then sync, before each run (outside the
timing), so no run finds a previous one's files or pays for its writeback.

Every tool runs $WARMUP time(s) first, unmeasured; the rootfs that run produced
must hold etc/debian_version, or the tool is dropped with a note (a broken
tool cannot look fast). Then N runs per tool, in $ROUNDS rounds that visit every
tool in turn. Printed per tool: median, min and max wall time, the number of
entries in the rootfs it produced, and the ratio to GNU tar (A) or to
skopeo+umoci (B); then issue #4's two targets, as MET/MISSED (exit code 0
either way): rd import / tar -xzf <= 0.8, rd pull / (skopeo + umoci) <= 0.5.

Options:
  -n N            measured runs per tool (default $RUNS)
  --rd PATH       the rd binary (default target/release/rd, built if missing;
                  also RD_BIN=PATH)
  --no-build      do not run cargo build --release (use the existing binary)
  --port PORT     the registry's port on 127.0.0.1 (default: a free one)
  --tarball FILE  the rootfs .tar.gz (default: what scripts/debian-rootfs.sh
                  prints, building it with debootstrap on first use, ~40 s)
  -h, --help      this text
Environment: BENCH_TIMER=bash uses a bash loop instead of hyperfine.
Needs root. Work lives under one temporary directory in \${TMPDIR:-/var/tmp}
(/tmp is slow on this VM), removed at the end along with the registry; skopeo
runs in a private mount namespace where /var/lib is a directory of that
work dir, so its blob-info cache (/var/lib/containers/cache) never reaches
the host.
EOF
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
            --rd)
                [[ $# -ge 2 && -n $2 ]] || die "--rd needs a path"
                RD_BIN=$2
                shift 2
                ;;
            --port)
                [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ && $2 -lt 65536 ]] || die "--port needs a port number"
                PORT=$2
                shift 2
                ;;
            --tarball)
                [[ $# -ge 2 && -n $2 ]] || die "--tarball needs a file"
                TARBALL=$2
                shift 2
                ;;
            --no-build) BUILD=0; shift ;;
            -h | --help) usage; exit 0 ;;
            *) die "unknown argument: $1 (see --help)" ;;
        esac
    done
    # A relative --rd is taken from where the script was started.
    if [[ $RD_BIN != /* ]]; then RD_BIN=$PWD/$RD_BIN; fi
    if [[ -n $TARBALL && $TARBALL != /* ]]; then TARBALL=$PWD/$TARBALL; fi
}

# cleanup: stop the registry, unmount anything left under $WORK, remove
# $WORK, and warn if the host changed. Runs on exit.
cleanup() {
    local mnt diff_out
    if [[ -n $REGISTRY_PID ]]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=""
    fi
    [[ -n $WORK && -d $WORK ]] || return 0
    cd /
    # Unmount leftovers (deepest first) so rm cannot walk into a mount.
    while read -r mnt; do
        if [[ -n $mnt ]]; then umount -l "$mnt" 2>/dev/null || true; fi
    done < <(awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    rm -rf --one-file-system -- "$WORK"
    if [[ -n $MOUNTS_BEFORE ]]; then
        diff_out=$(diff <(printf '%s\n' "$MOUNTS_BEFORE") <(mount_table) | grep '^[<>]' || true)
        if [[ -n $diff_out ]]; then
            log "WARNING: the mount table changed during the benchmark (< removed, > added):"
            printf '%s\n' "$diff_out" >&2
        fi
        if [[ $VARLIB_BEFORE == no && -e /var/lib/containers ]]; then
            log "WARNING: /var/lib/containers appeared during the benchmark: skopeo's blob-info cache, from something else running skopeo as root meanwhile (this script's skopeo writes its cache under \$WORK), or a bug here"
        fi
    fi
}

# skopeo_prefix: set SKOPEO_NS, the command prefix skopeo (and hyperfine
# around it) runs under. skopeo run as root keeps a blob-info cache in
# /var/lib/containers/cache (bolt database, fsynced); to leave the host as it
# was, skopeo runs in a private mount namespace where $WORK/varlib is bind
# mounted on /var/lib: the cache is still written to the same disk, as it
# would be for a real user, and goes away with $WORK.
skopeo_prefix() {
    mkdir -p "$WORK/varlib"
    # shellcheck disable=SC2016 # $0 and $@ are expanded by the inner sh
    SKOPEO_NS=(unshare -m --propagation private -- sh -c 'mount --bind "$0" /var/lib && exec "$@"' "$WORK/varlib")
}

# skopeo_run ARGS...: run skopeo ARGS in its namespace, with our policy.
skopeo_run() {
    "${SKOPEO_NS[@]}" skopeo --policy "$WORK/policy.json" "$@"
}

# build_rd: cargo build --release unless --no-build (or --rd names another
# binary that exists); a failure is fatal only if there is no binary at all.
build_rd() {
    if [[ $RD_BIN != "$REPO_ROOT/target/release/rd" ]]; then
        [[ -x $RD_BIN ]] || die "--rd $RD_BIN: not an executable"
        return 0
    fi
    if [[ $BUILD -eq 1 ]] && command -v cargo >/dev/null; then
        log "building rd: cargo build --release"
        if ! (cd "$REPO_ROOT" && cargo build --release) >"$WORK/build.log" 2>&1; then
            tail -n 15 "$WORK/build.log" >&2
            if [[ -x $RD_BIN ]]; then
                note "rd: cargo build --release failed; measuring the existing $RD_BIN"
            else
                die "cargo build --release failed and $RD_BIN does not exist"
            fi
        fi
    fi
    [[ -x $RD_BIN ]] || die "$RD_BIN not found (build it: cargo build --release)"
}

# free_port: print a TCP port nobody listens on (127.0.0.1).
free_port() {
    local p k
    for ((k = 0; k < 100; k++)); do
        p=$((20000 + RANDOM % 20000))
        if [[ -z $(ss -Htln "sport = :$p" 2>/dev/null) ]]; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found (use --port)"
}

# registry_up: true if the registry answers GET /v2/ with 200 (bash's
# /dev/tcp, so curl is not needed).
registry_up() {
    local status
    status=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        head -n 1 <&3' sh "$PORT" 2>/dev/null) || return 1
    [[ $status == *" 200 "* ]]
}

# start_registry: write a config (listen on 127.0.0.1:PORT only, storage in
# $WORK/registry, no auth) and start docker-registry on it; wait until /v2/
# answers. Debian's /etc/docker/registry/config.yml is never used: it
# listens on every address and enables htpasswd auth.
start_registry() {
    [[ -n $PORT ]] || PORT=$(free_port)
    if [[ -n $(ss -Htln "sport = :$PORT" 2>/dev/null) ]]; then
        die "port $PORT is already in use (choose another with --port)"
    fi
    mkdir -p "$WORK/registry"
    cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$PORT
EOF
    docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
    REGISTRY_PID=$!
    local k
    for ((k = 0; k < 100; k++)); do
        if registry_up; then
            log "registry: docker-registry (pid $REGISTRY_PID) on 127.0.0.1:$PORT, storage $WORK/registry"
            return 0
        fi
        if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
            tail -n 15 "$WORK/registry.log" >&2
            REGISTRY_PID=""
            die "docker-registry exited at start (its log is above)"
        fi
        sleep 0.1
    done
    tail -n 15 "$WORK/registry.log" >&2
    die "docker-registry does not answer on 127.0.0.1:$PORT/v2/ after 10 s"
}

# oci_arch: the running platform's architecture, in OCI's words.
oci_arch() {
    case $(uname -m) in
        x86_64) echo amd64 ;;
        aarch64) echo arm64 ;;
        armv7l) echo arm ;;
        i?86) echo 386 ;;
        *) uname -m ;;
    esac
}

# put_blob LAYOUT FILE: copy FILE into LAYOUT's blobs; print "digest size".
put_blob() {
    local layout=$1 file=$2 hex size
    hex=$(sha256sum "$file" | cut -d' ' -f1)
    size=$(stat -c %s "$file")
    cp "$file" "$layout/blobs/sha256/$hex"
    echo "sha256:$hex $size"
}

# make_layout LAYOUT: write an OCI image layout whose one layer is $TARBALL,
# byte for byte (umoci raw add-layer would recompress it), tagged $TAG.
make_layout() {
    local layout=$1 diff_id layer layer_size config config_size manifest manifest_size
    mkdir -p "$layout/blobs/sha256"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
    diff_id=sha256:$(gzip -dc "$TARBALL" | sha256sum | cut -d' ' -f1)
    read -r layer layer_size < <(put_blob "$layout" "$TARBALL")
    cat >"$WORK/config.json" <<EOF
{"created":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","architecture":"$(oci_arch)","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":["$diff_id"]},"history":[{"created_by":"bench/images.sh: $(basename "$TARBALL")"}]}
EOF
    read -r config config_size < <(put_blob "$layout" "$WORK/config.json")
    cat >"$WORK/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$layer","size":$layer_size}]}
EOF
    read -r manifest manifest_size < <(put_blob "$layout" "$WORK/manifest.json")
    cat >"$layout/index.json" <<EOF
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$manifest","size":$manifest_size,"annotations":{"org.opencontainers.image.ref.name":"$TAG"}}]}
EOF
    LAYER_DIGEST=$layer
    log "layout: $layout ($layer, $layer_size bytes, diff_id $diff_id)"
}

# push_image LAYOUT: push LAYOUT:TAG to the registry with skopeo, then check
# the registry serves the very same layer blob (no recompression).
push_image() {
    local layout=$1 served
    log "push: skopeo copy oci:$layout:$TAG docker://$PULL_REF"
    if ! skopeo_run copy -q --preserve-digests --dest-tls-verify=false "oci:$layout:$TAG" "docker://$PULL_REF" \
        >"$WORK/push.log" 2>&1; then
        tail -n 15 "$WORK/push.log" >&2
        die "skopeo could not push to the registry (its output is above)"
    fi
    served=$(skopeo_run inspect --raw --tls-verify=false "docker://$PULL_REF" 2>/dev/null |
        grep -o '"layers":.*' | grep -o 'sha256:[0-9a-f]\{64\}' | head -n 1 || true)
    if [[ $served != "$LAYER_DIGEST" ]]; then
        note "the registry's layer is ${served:-unknown}, not the tarball's $LAYER_DIGEST: the pull inflates another gzip stream than the unpack"
    fi
}

# rd_layer ROOT IMAGE: print the first layer directory `rd inspect` lists.
rd_layer() {
    "$RD_BIN" --root "$1" inspect "$2" 2>/dev/null |
        awk '/"layers": \[/ { on = 1; next } on && /\]/ { exit } on { gsub(/[ ",]/, ""); print; exit }'
}

# rootfs_at TOOL DIR: DIR must be a Debian rootfs (etc/debian_version);
# record its number of entries. Returns 1 (with a note) if it is not.
rootfs_at() {
    local tool=$1 dir=$2
    if [[ -z $dir || ! -s $dir/etc/debian_version ]]; then
        note "$tool: dropped: its warm-up run produced no rootfs (no ${dir:-?}/etc/debian_version)"
        return 1
    fi
    FILES[$tool]=$(find "$dir" | wc -l)
}

# layout_has TOOL LAYOUT: LAYOUT (an OCI layout skopeo wrote) must hold the
# pushed layer blob, intact. Returns 1 (with a note) if it does not.
layout_has() {
    local tool=$1 blob=$2/blobs/sha256/${LAYER_DIGEST#sha256:}
    if [[ ! -s $blob || $(sha256sum "$blob" | cut -d' ' -f1) != "${LAYER_DIGEST#sha256:}" ]]; then
        note "$tool: dropped: its warm-up run left no intact layer blob in $2"
        return 1
    fi
    [[ -s $2/index.json ]] || { note "$tool: dropped: no $2/index.json"; return 1; }
}

# prep_line [--mkdir DIR] PATH...: the clean-up command run before each run
# of a tool: remove its output (PATH...; then create DIR empty, for tar -C),
# then sync so the previous run's dirty pages are written back now and not
# during the next run.
prep_line() {
    local mk=""
    if [[ $1 == --mkdir ]]; then
        mk=" && mkdir -- $(quote_words "$2")"
        shift 2
    fi
    quote_words sh -c "rm -rf -- $(quote_words "$@")$mk && sync"
}

# run_prefixed TOOL CMD...: run CMD under TOOL's prefix (SKOPEO_NS or none).
run_prefixed() {
    local tool=$1
    shift
    if [[ ${USE_NS[$tool]} -eq 1 ]]; then
        "${SKOPEO_NS[@]}" "$@"
    else
        "$@"
    fi
}

# add_tool [--ns] TOOL CHECK PREP CMD...: warm TOOL up (PREP, then CMD,
# WARMUP times), check what the first run left (CHECK, a command line such
# as "rootfs_at TOOL DIR", is eval'd and must succeed; "-" for no check),
# and add it to TOOLS. With --ns, TOOL runs in SKOPEO_NS.
add_tool() {
    local ns=0 k
    if [[ $1 == --ns ]]; then
        ns=1
        shift
    fi
    local tool=$1 check=$2 prep=$3
    shift 3
    USE_NS[$tool]=$ns
    CMD_STR[$tool]=$(quote_words "$@")
    PREP_STR[$tool]=$prep
    log "$tool: ${CMD_STR[$tool]}"
    for ((k = 1; k <= WARMUP; k++)); do
        run_prefixed "$tool" sh -c "$prep"
        if ! run_prefixed "$tool" sh -c "exec ${CMD_STR[$tool]}" </dev/null >/dev/null 2>"$WORK/$tool.err"; then
            note "$tool: dropped: its warm-up run failed: ${CMD_STR[$tool]}"
            sed 's/^/    | /' "$WORK/$tool.err" | tail -n 20 >&2
            return 0
        fi
        if [[ $k -eq 1 && $check != - ]]; then
            eval "$check" || return 0
        fi
    done
    TOOLS+=("$tool")
    : >"$WORK/$tool.times"
}

# time_runs TOOL COUNT: append the wall times (s) of COUNT runs of TOOL,
# each after its clean-up, to $WORK/TOOL.times.
time_runs() {
    local tool=$1 count=$2 k start end
    if [[ $TIMER == hyperfine ]]; then
        if ! run_prefixed "$tool" hyperfine -N --style basic --runs "$count" \
            --prepare "${PREP_STR[$tool]}" --export-json "$WORK/$tool.json" \
            "${CMD_STR[$tool]}" >"$WORK/$tool.hf" 2>&1; then
            note "$tool: hyperfine failed"
            tail -n 15 "$WORK/$tool.hf" >&2
            return 1
        fi
        # The "times" array of the one result: every run's wall time.
        awk '/"times": \[/ { on = 1; next } on && /\]/ { on = 0 }
            on { gsub(/[ ,]/, ""); print }' "$WORK/$tool.json" >>"$WORK/$tool.times"
    else
        for ((k = 0; k < count; k++)); do
            run_prefixed "$tool" sh -c "${PREP_STR[$tool]}"
            start=$EPOCHREALTIME
            run_prefixed "$tool" sh -c "exec ${CMD_STR[$tool]}" </dev/null >/dev/null 2>"$WORK/$tool.err" || {
                note "$tool: a measured run failed"
                return 1
            }
            end=$EPOCHREALTIME
            awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f\n", e - s }' >>"$WORK/$tool.times"
        done
    fi
}

# stats: read seconds on stdin, print "median min max".
stats() {
    sort -g | awk '{ t[NR] = $1 }
        END {
            if (NR == 0) { print "nan nan nan"; exit }
            m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
            printf "%.3f %.3f %.3f\n", m, t[1], t[NR]
        }'
}

# measure_all: RUNS runs of every tool in ROUNDS rounds, then their stats.
measure_all() {
    local rounds=$ROUNDS round chunk tool med lo hi
    declare -A failed=()
    if ((rounds > RUNS)); then rounds=$RUNS; fi
    log "timing: $RUNS runs per tool in $rounds rounds (${TOOLS[*]})"
    for ((round = 0; round < rounds; round++)); do
        chunk=$((RUNS / rounds + (round < RUNS % rounds ? 1 : 0)))
        for tool in "${TOOLS[@]}"; do
            [[ -z ${failed[$tool]:-} ]] || continue
            time_runs "$tool" "$chunk" || failed[$tool]=1
        done
        log "round $((round + 1))/$rounds done"
    done
    for tool in "${TOOLS[@]}"; do
        if [[ -n ${failed[$tool]:-} ]]; then
            UNAVAILABLE[$tool]="a measured run failed"
            continue
        fi
        read -r med lo hi < <(stats <"$WORK/$tool.times")
        MED[$tool]=$med
        LO[$tool]=$lo
        HI[$tool]=$hi
    done
}

# ratio A B: A/B with two decimals, or - if either is missing.
ratio() {
    if [[ -z $1 || -z $2 ]]; then
        echo -
    else
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
    fi
}

# target NAME A B LIMIT: "MET|MISSED (NAME = A/B)" or "not measured".
target() {
    local name=$1 a=$2 b=$3 limit=$4 r
    if [[ -z $a || -z $b ]]; then
        echo "not measured ($name: ${a:-no figure} / ${b:-no figure})"
        return 0
    fi
    r=$(ratio "$a" "$b")
    if awk -v r="$r" -v l="$limit" 'BEGIN { exit !(r <= l) }'; then
        echo "MET ($name = $r, target <= $limit)"
    else
        echo "MISSED ($name = $r, target <= $limit)"
    fi
}

# row TOOL REF: one line of the table.
row() {
    local tool=$1 ref=$2
    if [[ -n ${MED[$tool]:-} ]]; then
        printf '  %-13s %9s %9s %9s %8s %8s\n' "$tool" "${MED[$tool]}" "${LO[$tool]}" \
            "${HI[$tool]}" "${FILES[$tool]:--}" "$(ratio "${MED[$tool]}" "$ref")"
    else
        printf '  %-13s %s\n' "$tool" "${UNAVAILABLE[$tool]:-no figure (see the notes)}"
    fi
}

# report: the table, the notes and the two targets.
report() {
    local tar=${MED[tar]:-} su=${MED[skopeo+umoci]:-}
    echo
    echo "images: $RUNS runs per tool after $WARMUP warm-up(s); $(nproc) CPUs, kernel $(uname -r)"
    echo "tarball: $TARBALL ($(stat -c %s "$TARBALL") bytes, $(tar -tzf "$TARBALL" | wc -l) entries)"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
    if [[ $TIMER == hyperfine ]]; then
        echo "timer: hyperfine -N, output removed + sync before each run (not timed)"
    else
        echo "timer: bash \$EPOCHREALTIME loop, output removed + sync before each run (not timed)"
    fi
    printf '  %-13s %9s %9s %9s %8s %8s\n' tool "median s" "min s" "max s" entries "x ref"
    echo "A. unpack the rootfs tarball (x ref: x tar)"
    row gunzip "$tar"
    row tar "$tar"
    row rd-import "$tar"
    row umoci "$tar"
    echo "B. pull from the local registry (x ref: x skopeo+umoci)"
    row skopeo "$su"
    row skopeo+umoci "$su"
    row rd-pull "$su"
    if [[ ${#NOTES[@]} -gt 0 ]]; then
        echo "notes:"
        printf '  - %s\n' "${NOTES[@]}"
    fi
    echo "entries: find DIR | wc -l of the first run's rootfs (rd skips device nodes by design)"
    echo "target: rd import / tar -xzf <= 0.8: $(target "rd import / tar" "${MED[rd-import]:-}" "$tar" 0.8)"
    echo "target: rd pull / (skopeo + umoci unpack) <= 0.5: $(target "rd pull / skopeo+umoci" "${MED[rd-pull]:-}" "$su" 0.5)"
}

# need TOOL...: die unless every TOOL is installed.
need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || die "$t is not installed (scripts/setup.sh installs the benchmark's tools)"
    done
}

# main: set up, measure every tool, report, clean up.
main() {
    parse_args "$@"
    [[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $0)"
    need tar gzip sha256sum timeout ss unshare skopeo umoci docker-registry
    if [[ $TIMER == hyperfine ]] && ! command -v hyperfine >/dev/null; then
        note "hyperfine is not installed: timing with a bash loop instead"
        TIMER=bash
    fi
    if awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
        note "load average at start $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs: other work is running, the figures will be skewed"
    fi
    MOUNTS_BEFORE=$(mount_table)
    VARLIB_BEFORE=no
    if [[ -e /var/lib/containers ]]; then VARLIB_BEFORE=yes; fi
    # /var/tmp by default: /tmp is an ext4 directory where mkdir costs 10x
    # more on this VM (see bench/README.md), and a tmpfs elsewhere.
    WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/rd-bench-images.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    cd "$WORK"

    if [[ -z $TARBALL ]]; then
        TARBALL=$("$REPO_ROOT/scripts/debian-rootfs.sh") || die "scripts/debian-rootfs.sh failed"
    fi
    [[ -s $TARBALL ]] || die "$TARBALL: no such tarball"
    build_rd
    skopeo_prefix
    printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$WORK/policy.json"
    make_layout "$WORK/layout"
    start_registry
    PULL_REF=127.0.0.1:$PORT/bench/debian:$TAG
    push_image "$WORK/layout"

    local W=$WORK
    # A: unpack. Each tool writes to its own directory, removed before each run.
    add_tool gunzip - "$(prep_line "$W/none")" gzip -dc "$TARBALL"
    add_tool tar "rootfs_at tar $W/tar" "$(prep_line --mkdir "$W/tar" "$W/tar")" \
        tar -xzf "$TARBALL" -C "$W/tar"
    add_tool rd-import "rootfs_at rd-import \"\$(rd_layer $W/rd-import bench-debian)\"" \
        "$(prep_line "$W/rd-import")" \
        "$RD_BIN" --root "$W/rd-import" import "$TARBALL" bench-debian
    add_tool umoci "rootfs_at umoci $W/umoci/rootfs" "$(prep_line "$W/umoci")" \
        umoci unpack --image "$W/layout:$TAG" "$W/umoci"
    # B: pull. skopeo runs in SKOPEO_NS (its cache stays in $WORK).
    add_tool --ns skopeo "layout_has skopeo $W/skopeo-oci" "$(prep_line "$W/skopeo-oci")" \
        skopeo --policy "$W/policy.json" copy -q --src-tls-verify=false \
        "docker://$PULL_REF" "oci:$W/skopeo-oci:$TAG"
    add_tool --ns skopeo+umoci "rootfs_at skopeo+umoci $W/su-bundle/rootfs" \
        "$(prep_line "$W/su-oci" "$W/su-bundle")" \
        sh -c "skopeo --policy $(quote_words "$W/policy.json") copy -q --src-tls-verify=false $(quote_words "docker://$PULL_REF" "oci:$W/su-oci:$TAG") && exec umoci unpack --image $(quote_words "$W/su-oci:$TAG" "$W/su-bundle")"
    if "$RD_BIN" pull --help >/dev/null 2>&1; then
        add_tool rd-pull "rootfs_at rd-pull \"\$(rd_layer $W/rd-pull $PULL_REF)\"" \
            "$(prep_line "$W/rd-pull")" \
            "$RD_BIN" --root "$W/rd-pull" pull "$PULL_REF"
    else
        UNAVAILABLE[rd-pull]="rd pull: not available yet ('rd pull --help' fails)"
        log "rd pull: not available yet"
    fi

    if [[ ${#TOOLS[@]} -gt 0 ]]; then measure_all; fi
    report
}

main "$@"

#!/usr/bin/env bash
# bench/network.sh - what the bridge costs a container's start, in one run.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO_ROOT/bench/lib.sh"
RUNS=40
RD_BIN=${RD_BIN:-$REPO_ROOT/target/release/rd}
WORK=""
NOTES=()

usage() {
    cat <<EOF
Usage: sudo bench/network.sh [-n N]

Start-to-exit of /bin/true (hyperfine -N, N runs each, 3 warm-ups):
  none     rd run --network none -- /bin/true
  bridge   rd run --network bridge -- /bin/true     (veth, address, route)
  bridge_p rd run --network bridge -p 18099:80 -- /bin/true   (+ nft DNAT rules)
  by_hand  the bridge's work done with ip(8): netns add, veth add with its peer
           in the namespace, master rd0 up, addr, up, route, /bin/true, netns del
Then where the bridge's time goes: each network step's own time, from one
'rd run --trace'. Target (PASS/MISS): bridge costs at most 2 ms over none.
Needs root; everything is removed at the end (rd network prune included, if
this run made the bridge).
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

HAD_BRIDGE=0
ip link show rd0 >/dev/null 2>&1 && HAD_BRIDGE=1
cleanup() {
    ip netns list 2>/dev/null | awk '/^rdb[0-9]/ {print $1}' | xargs -r -n1 ip netns del 2>/dev/null || true
    if [[ $HAD_BRIDGE -eq 0 ]]; then "$RD_BIN" --root "$WORK/rd" network prune >/dev/null 2>&1 || true; fi
    [[ -n $WORK ]] && rm -rf --one-file-system -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rd-bench-net.XXXXXX")
chmod 700 "$WORK"
RD=("$RD_BIN" --root "$WORK/rd")
"${RD[@]}" run -- /bin/true # the image, the bridge

# The bridge's work by hand, as a script hyperfine runs without a shell.
cat >"$WORK/by_hand.sh" <<'EOF'
#!/bin/sh
# A name per run: the kernel deletes a namespace (and its veth) asynchronously.
set -e
ns=rdb$$
ip netns add $ns
ip link add rdv$$ type veth peer name eth0 netns $ns
ip link set rdv$$ master rd0 up
ip -n $ns addr add 10.123.255.254/16 dev eth0
ip -n $ns link set eth0 up
ip -n $ns route add default via 10.123.0.1
ip netns exec $ns /bin/true
ip netns del $ns
EOF
chmod +x "$WORK/by_hand.sh"

declare -A MS=()
median() {
    local name=$1
    shift
    hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$WORK/$name.json" "$(quote_words "$@")" >/dev/null 2>&1 ||
        { note "$name failed"; return 0; }
    MS[$name]=$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$WORK/$name.json")
}
log "measuring (N=$RUNS each)"
median none "${RD[@]}" run --network none -- /bin/true
median bridge "${RD[@]}" run --network bridge -- /bin/true
median bridge_p "${RD[@]}" run --network bridge -p 18099:80 -- /bin/true
median by_hand sh "$WORK/by_hand.sh"

printf '\n%-10s %10s %12s\n' engine "median ms" "over none"
for e in none bridge bridge_p by_hand; do
    [[ -n ${MS[$e]:-} ]] || continue
    printf '%-10s %10s %12s\n' "$e" "${MS[$e]}" "$(python3 -c "print('%+.2f' % (${MS[$e]} - ${MS[none]:-0}))")"
done
printf '\nwhere the bridge time goes (one rd run --trace):\n'
"${RD[@]}" run --trace --network bridge -p 18099:80 -- /bin/true 2>&1 |
    grep -E 'RTM_|nft:|SIOCSIFFLAGS.*eth0' | sed -E 's/^\[rd \+ *[0-9.]+ms\] //; s/  #.*//' | cut -c1-110 | sed 's/^/  /'
if [[ -n ${MS[bridge]:-} && -n ${MS[none]:-} ]]; then
    python3 -c "d=${MS[bridge]}-${MS[none]}; print('\n%s: the bridge costs %+.2f ms over none (target: at most 2 ms)' % ('PASS' if d <= 2 else 'MISS', d))"
fi
for n in "${NOTES[@]}"; do printf 'note: %s\n' "$n"; done

#!/usr/bin/env bash
# bench/workshop-loop.sh - the student's edit-check loop, measured per level.
#
# For each level: append a comment to its src/main.rs (a one-line edit),
# run `cargo run -p check -- NN` (the checker builds the level, then checks
# it), then `cargo build -p levelNN` by hand, as a student does between
# checks. Prints the seconds of each step. The hand build after a check
# should cost nothing: the checker's build is the student's build. When it
# does cost (8-30 s), the checker's cargo invalidated the student's build
# (see set_by_cargo_run in levels/check/src/main.rs).
#
# Usage: sudo bench/workshop-loop.sh [NN...]    (default: every level)
# The levels' files are restored on exit, whatever happens.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
[ "$(id -u)" = 0 ] || { echo "workshop-loop: run as root (the checker runs containers)" >&2; exit 1; }

mapfile -t DIRS < <(ls -d levels/[0-9][0-9]_*/ | sed 's:/$::')
WANT=("$@")
SAVED=$(mktemp -d)
restore() {
    for f in "$SAVED"/*; do
        [ -e "$f" ] && cp "$f" "levels/$(basename "$f")/src/main.rs"
    done
    rm -rf "$SAVED"
}
trap restore EXIT
trap 'exit 130' INT TERM

seconds() { # seconds COMMAND... : wall time of COMMAND, its output dropped
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    echo "$start $end" | awk '{printf "%.2f", $2 - $1}'
}

cargo build -q --workspace
printf '%-18s %14s %14s %12s\n' level "edit+check s" "then build s" "verdict"
for dir in "${DIRS[@]}"; do
    nn=${dir#levels/}; nn=${nn%%_*}
    if [ ${#WANT[@]} -gt 0 ] && ! printf '%s\n' "${WANT[@]}" | grep -qx "$nn"; then continue; fi
    cp "$dir/src/main.rs" "$SAVED/$(basename "$dir")"
    cargo build -q -p "level$nn"                       # the student's own build, warm
    echo "// a one-line edit" >> "$dir/src/main.rs"
    check=$(seconds cargo run -q -p check -- "$nn")
    if cargo run -q -p check -- "$nn" >/dev/null 2>&1; then verdict=pass; else verdict=fail; fi
    build=$(seconds cargo build -q -p "level$nn")
    cp "$SAVED/$(basename "$dir")" "$dir/src/main.rs"
    printf '%-18s %14s %14s %12s\n' "$(basename "$dir")" "$check" "$build" "$verdict"
done
echo "(a skeleton's verdict is fail: its TODOs are not done)"

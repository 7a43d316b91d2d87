#!/usr/bin/env python3
"""The mutation proof: the checker fails every classic mistake, and says where it is.

levels/mutants.toml lists the mistakes as edits to a level's reference
solution. For each mutant this script:
  1. applies the edits to the reference (the next level's src/main.rs, or
     levels/solution/src/main.rs for level 10); each `find` must occur once;
  2. builds it as package level-mutant (levels/mutant includes the file
     named by $RD_MUTANT_SOURCE), so only that one file compiles;
  3. runs `check NN --bin <the mutant>` and reads its report.
A mutant is CAUGHT when the checker exits 1 with a FAIL criterion whose name
contains the mutant's `fails` and whose hint contains its `hint`; MISSED
when the checker passes it; MISLED when it fails it but with another hint.

    sudo levels/mutants.py                 every mutant, exit 1 unless all are caught
    sudo levels/mutants.py 04 10           the mutants of levels 04 and 10
    sudo levels/mutants.py --checker PATH  judge with another checker binary
                                           (e.g. an older one, to count what it caught)
    sudo levels/mutants.py --release --keep 8 9   build in release, keep the binaries
    sudo levels/mutants.py --release --prebuilt 8 9   check those again, building
                                           nothing (scripts/vm-tests.sh, in a v2 guest)
    levels/mutants.py --list               the mutants and why they are mistakes

Needs root (the checker runs containers). CI runs it from scripts/test.sh.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

LEVELS = Path(__file__).resolve().parent
REPO = LEVELS.parent
DIRS = sorted(p.name for p in LEVELS.iterdir() if re.fullmatch(r"\d\d_\w+", p.name))


def reference(level: int) -> Path:
    """Level N's reference solution: level N+1's skeleton, or the solution."""
    if level + 1 < len(DIRS):
        return LEVELS / DIRS[level + 1] / "src" / "main.rs"
    return LEVELS / "solution" / "src" / "main.rs"


def squeeze(text: str) -> tuple[str, list[int]]:
    """`text` without whitespace and without trailing commas before a
    closing bracket (what rustfmt adds or moves), and for each character
    kept its index in `text`: so a `find` matches however generate.py's
    rustfmt laid the code out."""
    kept, where = [], []
    for i, c in enumerate(text):
        if c.isspace():
            continue
        if c in ")]}" and kept and kept[-1] == ",":
            kept.pop()
            where.pop()
        kept.append(c)
        where.append(i)
    return "".join(kept), where


def mutate(mutant: dict) -> str:
    text = reference(mutant["level"]).read_text()
    for edit in mutant["edits"]:
        flat, where = squeeze(text)
        needle, _ = squeeze(edit["find"])
        # A trailing comma may be one rustfmt dropped before a bracket: match
        # without it, and take the text's comma along if it has one.
        comma = needle.endswith(",")
        needle = needle.rstrip(",")
        count = flat.count(needle)
        if count != 1 or not needle:
            raise SystemExit(
                f"mutants: {mutant['name']}: its find text occurs {count} times in "
                f"{reference(mutant['level']).relative_to(REPO)} (it must occur once): "
                f"the reference changed, update levels/mutants.toml\n{edit['find']}"
            )
        at = flat.index(needle)
        start, end = where[at], where[at + len(needle) - 1] + 1
        if comma:
            rest = text[end:]
            if rest.lstrip().startswith(","):
                end += len(rest) - len(rest.lstrip()) + 1
        # A find that ends a line takes the line's end with it.
        if edit["find"].endswith("\n") and text[end:end + 1] == "\n":
            end += 1
        text = text[:start] + edit["replace"] + text[end:]
    return text


def criteria(report: str) -> list[tuple[str, bool, str]]:
    """(name, passed, hint) of each criterion in the checker's report."""
    out = []
    for block in re.split(r"^(?=PASS  |FAIL  )", report, flags=re.M):
        if not block.startswith(("PASS  ", "FAIL  ")):
            continue
        lines = block.splitlines()
        hint, in_hint = [], False
        for line in lines[1:]:
            stripped = line.strip()
            if stripped.startswith("hint: "):
                in_hint = True
                stripped = stripped[len("hint: "):]
            elif stripped.startswith("saw: "):
                in_hint = False
            if in_hint:
                hint.append(stripped)
        out.append((lines[0][6:], lines[0].startswith("PASS"), " ".join(hint)))
    return out


def cgroup_v1() -> bool:
    return Path("/sys/fs/cgroup/memory").is_dir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("levels", nargs="*", type=int, help="only these levels")
    parser.add_argument("--checker", help="the checker binary (default: build levels/check)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--release", action="store_true",
                        help="build in the release profile (CI: reuses cargo test --release's build)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the mutant binaries in target/mutants/ (for --prebuilt)")
    parser.add_argument("--prebuilt", action="store_true",
                        help="build nothing: check the binaries a --keep run left (e.g. in a VM guest)")
    cli = parser.parse_args()

    mutants = tomllib.loads((LEVELS / "mutants.toml").read_text())["mutant"]
    if cli.levels:
        mutants = [m for m in mutants if m["level"] in cli.levels]
    if cli.list:
        for m in mutants:
            print(f"{m['level']:02} {m['name']:<28} {m['why']}")
        return 0
    if os.geteuid() != 0:
        print("mutants: run as root: the checker runs containers", file=sys.stderr)
        return 2

    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    profile = ["--release"] if cli.release else []
    out_dir = target / ("release" if cli.release else "debug")
    work = target / "mutants"
    if not cli.prebuilt:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    checker = cli.checker
    if not checker:
        if not cli.prebuilt:
            subprocess.run(["cargo", "build", "-q", "-p", "check", *profile], cwd=REPO, check=True)
        checker = str(out_dir / "check")

    started = time.monotonic()
    results = []
    for m in mutants:
        name = f"{m['level']:02}-{m['name']}"
        if m.get("v1_only") and not cgroup_v1():
            print(f"mutant {name:<32} SKIPPED (a cgroup v1 mistake; this host is v2)")
            continue
        binary = work / name
        if cli.prebuilt:
            if not binary.is_file():
                raise SystemExit(f"mutants: {binary} is missing: run levels/mutants.py --keep first")
        else:
            source = work / f"{name}.rs"
            source.write_text(mutate(m))
            env = dict(os.environ, RD_MUTANT_SOURCE=str(source))
            build = subprocess.run(["cargo", "build", "-q", "-p", "level-mutant", *profile], cwd=REPO,
                                   env=env, capture_output=True, text=True)
            if build.returncode != 0:
                print(build.stderr, file=sys.stderr)
                raise SystemExit(f"mutants: {name} does not compile: fix its edits in levels/mutants.toml")
            shutil.copy(out_dir / "level-mutant", binary)
        t = time.monotonic()
        run = subprocess.run([checker, str(m["level"]), "--bin", str(binary)],
                             capture_output=True, text=True)
        found = criteria(run.stdout)
        failed = [(n, h) for n, ok, h in found if not ok]
        named = [(n, h) for n, h in failed if m["fails"] in n]
        if run.returncode == 0 or not failed:
            verdict = "MISSED"
        elif any(m["hint"] in h for _, h in named):
            verdict = "CAUGHT"
        else:
            verdict = "MISLED"
        results.append((name, verdict))
        print(f"mutant {name:<32} {verdict} ({time.monotonic() - t:.1f}s)")
        if verdict != "CAUGHT":
            print(f"       why it is wrong: {m['why']}")
            print(f"       wanted: a FAIL of `{m['fails']}…` with `{m['hint']}` in its hint")
            for n, h in failed:
                print(f"       got FAIL  {n}\n                 hint: {h}")
            if run.returncode not in (0, 1):
                print(f"       the checker exited {run.returncode}: {run.stderr.strip()}")
        if not cli.keep and not cli.prebuilt:
            binary.unlink()
    caught = sum(1 for _, v in results if v == "CAUGHT")
    per_level = {}
    for name, verdict in results:
        level = name[:2]
        c, t = per_level.get(level, (0, 0))
        per_level[level] = (c + (verdict == "CAUGHT"), t + 1)
    print("per level (caught/mutants): " + ", ".join(f"{l} {c}/{t}" for l, (c, t) in sorted(per_level.items())))
    print(f"mutants: {caught} of {len(results)} caught ({time.monotonic() - started:.0f}s)")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

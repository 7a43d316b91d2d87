#!/usr/bin/env python3
"""Compiles the code the workshop offers as solution steps, where it stands.

A TODO's code lines (indented code in a `// @level todo=NN` block of
levels/template/main.rs, e.g. `//   let rootfs = support::fresh_rootfs(args,
&container)?;`) and the ```rust blocks of levels/NN_*/README.md are meant to
be typed in at the TODO. So each is compiled there: level NN's reference
solution (the template rendered for NN+1) gets, in the place of each
todo=NN block, the block's code inside `if false { ... }`, and a README's
rust blocks go at the level's last TODO. The result must compile (package
level-mutant builds it, see levels/mutant). A snippet that does not compile
in its place is a text bug: a student would type it and get an error.

    levels/snippets.py           build every level's snippets; exit 1 on an error
    levels/snippets.py --list    print the snippets, build nothing
    levels/snippets.py --release build in the release profile (as CI does)
"""
import os
import re
import subprocess
import sys
from pathlib import Path

LEVELS = Path(__file__).resolve().parent
REPO = LEVELS.parent
sys.path.insert(0, str(LEVELS))
import generate  # noqa: E402

# `//   let x = ...;`, `//   foo::bar(...)?;`, `//   if let ... {`, `//   }`:
# a comment indented by 3 or more, holding a statement or a brace line.
CODE = re.compile(
    r"^\s*//\s{3,}(?P<code>(let |if let |[A-Za-z_][\w:]*(::|\.|\()).*?(;|\{)|(for|if) .*\{|\})\s*(//.*)?$"
)


def todo_snippets(lines: list[str]) -> list[list[str]]:
    """Runs of consecutive code lines in a TODO block."""
    runs, current = [], []
    for line in lines:
        m = CODE.match(line)
        if m:
            current.append(m.group("code"))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def readme_snippets(level: int) -> list[list[str]]:
    directory = generate.LEVELS_TABLE[level][1]
    text = (LEVELS / directory / "README.md").read_text()
    return [block.strip("\n").splitlines() for block in re.findall(r"```rust\n(.*?)```", text, re.S)]


def source(level: int, found: list[tuple[str, list[str]]]) -> str:
    """Level `level`'s reference solution with its snippets in place."""
    todo_blocks = []

    def dropped(attrs: str, lines: list[str]):
        m = re.search(r"todo=(\d+)", attrs)
        if not m or int(m.group(1)) != level:
            return []
        todo_blocks.append(lines)
        return [f"// @todo-{len(todo_blocks)}"]

    text = generate.render(level + 1, dropped=dropped) if level + 1 < generate.SOLUTION \
        else generate.render(generate.SOLUTION, dropped=dropped)
    readme = readme_snippets(level)
    for i, lines in enumerate(todo_blocks, 1):
        runs = [(f"TODO({level:02}) block {i}", r) for r in todo_snippets(lines)]
        if i == len(todo_blocks):
            runs += [(f"levels/{generate.LEVELS_TABLE[level][1]}/README.md rust block {j}", r)
                     for j, r in enumerate(readme, 1)]
        found.extend(runs)
        code = "".join(
            f"    #[allow(unreachable_code, unused)]\n    if false {{ // {where}\n"
            + "".join(f"        {l}\n" for l in run) + "    }\n"
            for where, run in runs
        )
        if re.search(rf"^// @todo-{i}$", text, flags=re.M):
            # A TODO between items (a function to write): its statements go
            # in a function of their own.
            code = (f"#[allow(dead_code)]\nfn snippets_of_todo_{i}() -> Result<()> {{\n{code}"
                    "    Ok(())\n}\n")
        text = re.sub(rf"^\s*// @todo-{i}\n", lambda _: code, text, count=1, flags=re.M)
    return text


def main() -> int:
    listing = "--list" in sys.argv[1:]
    profile = ["--release"] if "--release" in sys.argv[1:] else []
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    work = target / "snippets"
    work.mkdir(parents=True, exist_ok=True)
    failed = 0
    total = 0
    for level in range(generate.SOLUTION):
        found: list[tuple[str, list[str]]] = []
        text = source(level, found)
        total += len(found)
        if listing:
            for where, run in found:
                print(f"{where}:\n    " + "\n    ".join(run))
            continue
        if not found:
            continue
        path = work / f"level{level:02}.rs"
        path.write_text(text)
        build = subprocess.run(["cargo", "build", "-q", "-p", "level-mutant", *profile], cwd=REPO,
                               env=dict(os.environ, RD_MUTANT_SOURCE=str(path)),
                               capture_output=True, text=True)
        names = ", ".join(w for w, _ in found)
        if build.returncode == 0:
            print(f"snippets: level {level:02}: {len(found)} compile in place ({names})")
        else:
            failed += 1
            print(f"snippets: level {level:02}: DO NOT COMPILE in place ({names}); the source is {path}")
            print(build.stderr)
    if not listing:
        print(f"snippets: {total} snippets, {failed} level(s) with errors")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

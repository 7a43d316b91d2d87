#!/usr/bin/env python3
"""Writes every level's skeleton from one annotated program.

levels/template/main.rs is the workshop's reference solution, its code in
blocks that say for which levels they exist:

    // @level solved=NN            ... // @end   in levels after NN (NN is done)
    // @level todo=NN              ... // @end   in level NN only (its TODO)
    // @level solved=AA unsolved=BB ... // @end  after AA, up to BB (the old way,
                                                 until level BB replaces it)
    // @header ... // @end                      every level, with {NN} {TITLE} {GOAL}
    // @solution ... // @end                    levels/solution/ only
    // @template ... // @end                    nowhere (notes for this file)

So level N's skeleton is levels N-1's solution plus TODOs for N, by
construction. levels/solution/ is the template with everything solved.

    levels/generate.py          write levels/*/src/main.rs (and missing Cargo.toml)
    levels/generate.py --check  exit 1 if a committed file differs (CI runs this)
"""
import re
import subprocess
import sys
from pathlib import Path

LEVELS = Path(__file__).resolve().parent
TEMPLATE = LEVELS / "template" / "main.rs"

# (number, directory, title, goal)
LEVELS_TABLE = [
    (0, "00_fork_exec", "fork and exec", "Run the command in a child process and report how it ended."),
    (1, "01_chroot_image", "chroot into an image", "Give the command the image's files as its \"/\"."),
    (2, "02_mount_ns", "the mount namespace", "Mount proc, sys and /dev for the container without touching the host's mount table."),
    (3, "03_pivot_root", "pivot_root", "Leave the host's root behind: a chroot can be escaped; after pivot_root the host's tree is detached."),
    (4, "04_overlay", "overlayfs", "A copy-on-write root: the image unpacked once, each container's writes its own."),
    (5, "05_uts_namespace", "the UTS namespace", "A hostname of the container's own."),
    (6, "06_pid_namespace", "the PID namespace", "The command is PID 1 and sees only the container's processes."),
    (7, "07_net_namespace", "the network namespace", "A network stack of the container's own: only lo."),
    (8, "08_cpu_cgroup", "the cpu cgroup", "A CPU weight (--cpu-shares) on cgroup v1 and v2 hosts alike."),
    (9, "09_memory_cgroup", "the memory cgroup", "A memory limit (--memory) the kernel enforces, on v1 and v2."),
    (10, "10_setuid", "dropping root", "Run the command as --user: setgroups, setgid, setuid."),
    (11, "11_capabilities", "capabilities and seccomp (bonus)", "Root inside keeps only the capabilities a container needs, and a seccomp filter stops a user namespace from giving the rest back."),
    (12, "12_exec", "exec (bonus)", "A new process in a running container: setns(2) into each of its namespaces, then fork."),
    (13, "13_network_cable", "a network cable (bonus)", "A veth pair from the container to the host: an address on each end, a route, and the host reaches the container."),
    (14, "14_user_namespace", "user namespaces (bonus)", "Root inside, nobody outside: uid and gid maps, and what a mount can and cannot do then."),
]
SOLUTION = 15

BLOCK = re.compile(r"^\s*// @(level|header|solution|template)\b(.*)$")
END = re.compile(r"^\s*// @end\s*$")


def included(kind: str, attrs: str, level: int) -> bool:
    if kind == "header":
        return level < SOLUTION
    if kind == "solution":
        return level == SOLUTION
    if kind == "template":
        return False
    fields = dict(re.findall(r"(\w+)=(\d+)", attrs))
    if "todo" in fields:
        return level == int(fields["todo"])
    ok = True
    if "solved" in fields:
        ok &= level > int(fields["solved"])
    if "unsolved" in fields:
        ok &= level <= int(fields["unsolved"])
    return ok


def render(level: int, title: str = "", goal: str = "", dropped=None) -> str:
    """Level `level`'s main.rs. `dropped(attrs, lines)`, when given, is called
    for each block left out, and what it returns goes in its place
    (levels/snippets.py compiles TODO texts so)."""
    out, keep, inside, block, attrs = [], True, False, [], ""
    for number, line in enumerate(TEMPLATE.read_text().splitlines(), 1):
        m = BLOCK.match(line)
        if m:
            if inside:
                sys.exit(f"{TEMPLATE}:{number}: a block inside a block")
            inside, keep = True, included(m.group(1), m.group(2), level)
            block, attrs = [], m.group(1) + m.group(2)
            continue
        if END.match(line):
            if not inside:
                sys.exit(f"{TEMPLATE}:{number}: @end without a block")
            if not keep and dropped:
                out.extend(dropped(attrs, block))
            inside, keep = False, True
            continue
        if inside and not keep:
            block.append(line)
        if keep:
            out.append(line.replace("{NN}", f"{level:02}").replace("{TITLE}", title).replace("{GOAL}", goal))
    if inside:
        sys.exit(f"{TEMPLATE}: a block is not closed")
    text = "\n".join(out) + "\n"
    # rustfmt, so the output is what `cargo fmt --check` expects.
    done = subprocess.run(["rustfmt", "--edition", "2021", "--emit", "stdout", "-q"],
                          input=text, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"rustfmt failed on level {level}:\n{done.stderr}")
    return done.stdout


def cargo_toml(package: str, description: str) -> str:
    return f"""[package]
name = "{package}"
version = "0.1.0"
edition = "2021"
description = "{description}"
license = "MIT OR Apache-2.0"
publish = false

[dependencies]
workshop-support = {{ path = "../support" }}
"""


def targets():
    for number, directory, title, goal in LEVELS_TABLE:
        package = f"level{number:02}"
        yield LEVELS / directory, package, f"Workshop level {number:02}: {title}", render(number, title, goal)
    yield LEVELS / "solution", "level-solution", "The workshop's reference solution", render(SOLUTION)


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for directory, package, description, main_rs in targets():
        path = directory / "src" / "main.rs"
        manifest = directory / "Cargo.toml"
        if check:
            if not path.exists() or path.read_text() != main_rs:
                stale.append(str(path))
            if not manifest.exists():
                stale.append(str(manifest))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(main_rs)
        if not manifest.exists():
            manifest.write_text(cargo_toml(package, description))
    if stale:
        print("out of date (run levels/generate.py):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Interleaved A/B rounds of commands: which of two builds is faster, on a machine whose speed
moves by 10-20% from one minute to the next (the development VM), where runs of one build
after the other's would compare the VM's phases, not the builds.

    python3 scripts/ab.py ROUNDS "LABEL|COMMAND" "LABEL|COMMAND" ...

Each round runs every command once, in the given order on even rounds and reversed on odd
ones, its stdout piped to `wc -l` (as `bench.sh` counts a twin row's alerts) and its stderr
dropped. Prints per label the wall time (minimum, first quartile, median; `time.perf_counter`)
and the CPU time (user + system of the command and its children, `getrusage`). Session 23
(BENCHMARKS.md) compared builds of row (f) with it, for example:

    F="run /tmp/unselective.detc --events /tmp/detc-bench-2000000.jsonl"
    python3 scripts/ab.py 20 "old|/tmp/detc-old $F" "new|target/release/detc $F"
"""
import resource
import statistics
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    rounds = int(sys.argv[1])
    specs = [a.split("|", 1) for a in sys.argv[2:]]
    if any(len(s) != 2 for s in specs):
        print("ab.py: each command is LABEL|COMMAND", file=sys.stderr)
        return 2
    wall = {label: [] for label, _ in specs}
    cpu = {label: [] for label, _ in specs}
    for r in range(rounds):
        for label, cmd in specs if r % 2 == 0 else specs[::-1]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", f"{cmd} 2>/dev/null | wc -l >/dev/null"]
            )
            wall[label].append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[label].append(
                after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            )
            if done.returncode != 0:
                print(f"ab.py: {label} failed (exit {done.returncode})", file=sys.stderr)
                return 2
    for label, _ in specs:
        w, c = sorted(wall[label]), sorted(cpu[label])
        print(
            f"{label:<10} wall min {w[0]:.3f} q1 {w[len(w) // 4]:.3f} "
            f"med {statistics.median(w):.3f} | cpu min {c[0]:.3f} med {statistics.median(c):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

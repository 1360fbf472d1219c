"""What a run pays before its first step, the parts that are ours: a run worker (and every code
server load) is a fresh Python that imports dagster and the code location. Prints the median of
N fresh-process imports of each, and the code location's own share.

    .venv/bin/python bench/bench_launch.py [--repeat 5]

The queue's part is `dequeue_interval_seconds` in dagster.yaml (a run waits half of it on
average before the daemon launches it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def fresh_import(module: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    bare = fresh_import("dagster", args.repeat)
    location = fresh_import("nf_assets.definitions", args.repeat)
    print(f"fresh python + import dagster:               {bare:.2f} s (median of {args.repeat})")
    print(f"fresh python + import nf_assets.definitions: {location:.2f} s")
    print(f"the code location's own share:               {location - bare:.2f} s")


if __name__ == "__main__":
    main()

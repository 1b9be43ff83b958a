"""Shared helpers for the bench scripts: run a command N times, report the median wall time."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def median_seconds(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    samples = []
    for _ in range(runs + 1):  # the first run warms the page cache and is discarded
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=ROOT, env={**os.environ, **(env or {})})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[1:])


def report(label: str, value: float, floor: float, floor_label: str, target: float) -> None:
    ratio = value / floor
    verdict = "within" if ratio <= target else "ABOVE"
    print(f"{label:<28} median {value * 1000:8.1f} ms")
    print(f"{floor_label:<28} median {floor * 1000:8.1f} ms")
    print(f"ratio {ratio:.2f}x ({verdict} the {target}x target)")

"""Shared helpers for the bench scripts: run a command N times, report paired median wall times."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=os.environ)
    return time.perf_counter() - start


def paired_medians(a: list[str], b: list[str], runs: int) -> tuple[float, float]:
    """Medians of two commands run alternately, so a busy moment of the machine hits both alike."""
    _once(a), _once(b)
    samples_a, samples_b = [], []
    for _ in range(runs):
        samples_a.append(_once(a))
        samples_b.append(_once(b))
    return statistics.median(samples_a), statistics.median(samples_b)


def report(label: str, value: float, floor: float, floor_label: str, target: float) -> None:
    ratio = value / floor
    verdict = "within" if ratio <= target else "ABOVE"
    print(f"{label:<28} median {value * 1000:8.1f} ms")
    print(f"{floor_label:<28} median {floor * 1000:8.1f} ms")
    print(f"ratio {ratio:.2f}x ({verdict} the {target}x target)")

"""Redaction time on hostile text against the same amount of ordinary log text.

Log tails come from systems we do not control; a pattern that backtracks would let one odd line stall a
runbook. Target: each hostile 100 KB input at most 10x the ordinary 100 KB log tail. Also prints the time
for a typical 2,000-line tail. Usage: python bench/redact_speed.py [RUNS]
"""

from __future__ import annotations

import base64
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import report  # noqa: E402

from stacks.redact import redact  # noqa: E402

SIZE = 100_000
LINE = ("2026-11-30T18:22:20Z INFO temporal frontend: connected to postgres://temporal:hunter2@db:5432 "
        "in 12 ms; token=abc123 tokens_used=1200 credentials: ok\n")


def _median(text: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        redact(text)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    redact("warm up: loads detect-secrets' patterns once")
    ordinary = (LINE * (SIZE // len(LINE) + 1))[:SIZE]
    rng = random.Random(7)
    hostile = {
        "one long secret-word token": ("key_" * SIZE)[:SIZE],
        "secret words, no values": ("password token secret " * SIZE)[:SIZE],
        "base64 blob": base64.b64encode(rng.randbytes(SIZE * 3 // 4)).decode(),
        "PEM header, no end": "-----BEGIN RSA PRIVATE KEY-----\n" + ("MIIE " * SIZE)[:SIZE],
        "URL-like run": ("http://a:" * SIZE)[:SIZE],
        "dashes and flags": ("--password -p " * SIZE)[:SIZE],
    }
    floor = _median(ordinary, runs)
    print(f"typical 2,000-line log tail     median {_median(LINE * 2000, runs) * 1000:8.1f} ms")
    for label, text in hostile.items():
        report(label, _median(text, runs), floor, "ordinary 100 KB log", 10)


if __name__ == "__main__":
    main()

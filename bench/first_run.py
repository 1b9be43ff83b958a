"""The README's first command, as a newcomer meets it: clone the repository into a temporary folder and
run that command exactly as the README writes it, then once more in the same clone.

Target: the first run prints the staging plan in at most 10 s on a quiet machine whose package cache
already holds the wheels (uv's cache; the bench warms it with one untimed clone first).
Usage: python bench/first_run.py [RUNS]   (RUNS fresh clones, default 3; medians printed)
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import ROOT

TARGET_SECONDS = 10.0


def readme_first_command() -> str:
    """The first ```bash block of the README's "Two commands" section, verbatim."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1]
    match = re.search(r"```bash\n(.+?)\n```", section, re.S)
    if match is None:
        raise SystemExit("README.md: no ```bash block under '## Two commands'")
    return match.group(1).strip()


def _timed(command: str, cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    start = time.perf_counter()
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or "Guardrails:" not in done.stdout:
        raise SystemExit(f"the README's first command failed in {cwd} (exit {done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    return elapsed


def _clone(into: Path) -> Path:
    target = into / "infra"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    return target


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    command = readme_first_command()
    print(f"README's first command: {command}")
    with tempfile.TemporaryDirectory() as warm:  # fills uv's cache with the locked wheels, untimed
        _timed(command, _clone(Path(warm)))
    first, second = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            clone = _clone(Path(tmp))
            first.append(_timed(command, clone))
            second.append(_timed(command, clone))
    verdict = "within" if statistics.median(first) <= TARGET_SECONDS else "ABOVE"
    print(f"fresh clone, first run   median {statistics.median(first):6.2f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in first)}; {verdict} the {TARGET_SECONDS:g} s target)")
    print(f"same clone, second run   median {statistics.median(second):6.2f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in second)})")


if __name__ == "__main__":
    main()

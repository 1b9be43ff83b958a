"""Bench: `infra restart-container` on a delayed container vs. a raw restart.

Target (issue): the runbook's wall time is at most the raw restart plus the time until the port
opens plus 1 s, and the probe notices the port opening within 250 ms. This prints figures and
exits 0; it does not assert timing (a loaded machine is not a regression).

    .venv/bin/python bench/runbook_bench.py [--runs N]

Needs podman, runc and busybox-static (as the container tests do); run as root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "runbooks")]

from podman_engine import DELAY, PodmanEngine, port_open  # noqa: E402

from runbooks.probes import parse_probe, wait_until_healthy  # noqa: E402
from runbooks.waiting import Deadline  # noqa: E402

STOP_GRACE = 5  # what restart-container uses with --timeout 20


def wait_port(port: int, timeout: float = 20) -> float:
    """Tight 5 ms poll: the reference for when the port really opened."""
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if time.monotonic() > deadline:
            raise SystemExit(f"port {port} never opened")
        time.sleep(0.005)
    return time.monotonic()


def raw_restart(container) -> float:
    handle = container.engine.client.containers.get(container.name)
    started = time.monotonic()
    handle.restart(timeout=STOP_GRACE)
    return wait_port(container.port) - started


def runbook_restart(container, state_dir: str) -> float:
    env = {**os.environ, "DOCKER_HOST": container.engine.docker_host, "INFRA_STATE_DIR": state_dir}
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).with_name("infra")), "restart-container", container.name,
                    "--health", container.probe, "--timeout", "20", "--yes"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    elapsed = time.monotonic() - started
    assert port_open(container.port)
    return elapsed


def detection_latency(container) -> float:
    """Restart, then race our probe loop against the tight reference poller."""
    container.engine.client.containers.get(container.name).restart(timeout=STOP_GRACE)
    opened: list[float] = []
    reference = threading.Thread(target=lambda: opened.append(wait_port(container.port)))
    reference.start()
    waited = wait_until_healthy(parse_probe(container.probe), Deadline(20))
    reference.join()
    return max(0.0, waited.first_success - opened[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as workdir:
        engine = PodmanEngine(Path(workdir))
        try:
            engine.start()
            container = engine.run("delayed")
            wait_port(container.port)
            raw, runbook, latency = [], [], []
            for _ in range(runs):
                raw.append(raw_restart(container))
                runbook.append(runbook_restart(container, str(Path(workdir) / "state")))
                latency.append(detection_latency(container))
                wait_port(container.port)
        finally:
            engine.stop()
    raw_m, rb_m = statistics.median(raw), statistics.median(runbook)
    print(f"delayed container: port opens {DELAY:g} s after each start; {runs} runs, medians")
    print(f"  raw restart + time until port open : {raw_m:6.3f} s")
    print(f"  infra restart-container (wall)     : {rb_m:6.3f} s   overhead {rb_m - raw_m:+.3f} s "
          f"(budget +1.000 s)")
    print(f"  probe detection latency            : {statistics.median(latency) * 1000:6.0f} ms median, "
          f"{max(latency) * 1000:.0f} ms max (budget 250 ms)")


if __name__ == "__main__":
    main()

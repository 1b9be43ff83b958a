"""restart-container: restart one container or workload unconditionally and verify it came back.

Shares the engine with the runbooks (lock, confirmation, incident record, audit); unlike them it
does not diagnose first, because restarting is what was asked for.
"""

from __future__ import annotations

from runbooks.engine import Runbook, RunInputs
from runbooks.probes import parse_probe
from runbooks.steps import Observe, Restart, Verify
from runbooks.targets import parse_target
from stacks.errors import InvalidInput

RUNBOOK = Runbook(
    name="restart-container",
    title="Restart a container",
    summary="Record the state before, restart, and return once the probe passes or the timeout expires.",
    steps=(Observe(samples=1, read_engine_check=False), Restart(), Verify()),
    when_it_fails="Exit 1 with the incident record naming the next action.",
)

RUNTIMES = ("docker", "kubernetes")


def resolve(name: str, *, runtime: str, health: str | None, timeout: float) -> RunInputs:
    if runtime not in RUNTIMES:
        raise InvalidInput(f"unknown runtime {runtime!r}", hint=f"use one of: {', '.join(RUNTIMES)}")
    probe = parse_probe(health) if health else None
    if runtime == "docker":
        if probe is None:
            # "running" is the engine's opinion; the memo's container was running and refusing connections.
            raise InvalidInput("restart-container needs --health for a docker container",
                               hint="e.g. --health tcp://127.0.0.1:7233")
        target = parse_target(f"docker://{name}")
    else:
        target = parse_target(name if name.startswith("k8s://") else f"k8s://{name}")
    return RunInputs(target=target, probe=probe, timeout=timeout)

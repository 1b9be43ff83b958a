"""temporal-restart: the SRE memo's procedure for Temporal failing its health check.

The memo: `generic-corp-temporal` failed its health check 181 times (`dial tcp 127.0.0.1:7233:
connect: connection refused`) because checks began before Temporal had initialised; a restart,
verified and monitored, fixed it. If a restart does not help, the health check's start period
(compose) or the readiness probe's initial delay (Kubernetes) is too short.
"""

from __future__ import annotations

from runbooks.engine import Runbook, RunInputs
from runbooks.probes import parse_probe
from runbooks.steps import Diagnose, Observe, Restart, Verify, WatchGrace
from runbooks.targets import parse_target

RUNBOOK = Runbook(
    name="temporal-restart",
    title="Restart Temporal when its health check fails",
    summary=(
        "Observe Temporal (state, restart count, last log lines, our own probe); if healthy, report "
        "and change nothing; otherwise restart it, wait until the probe passes and check it stays "
        "healthy for a grace window. Defaults per environment come from `runbooks.temporal` in "
        "Pulumi.<env>.yaml (staging: the compose container; prod: the EKS Deployment)."
    ),
    steps=(Observe(), Diagnose(), Restart(), Verify(), WatchGrace()),
    when_it_fails=(
        "Exit 1 with the incident record naming the next action: raise the health check's "
        "start_period in the compose file (docker) or the readiness probe's initialDelaySeconds "
        "(Kubernetes), so checks wait until Temporal has initialised."
    ),
    follow_up_after_recovery=True,
)


def resolve(env: str, *, target: str | None, health: str | None, timeout: float | None,
            grace: float | None) -> RunInputs:
    """Per-environment defaults from the stack config, overridden by the command line."""
    from stacks import config
    from stacks.project import stack_file

    config.check_environment(env)
    settings = config.load(env, stack_file(env)).runbooks.temporal
    return RunInputs(
        target=parse_target(target or settings.target),
        probe=parse_probe(health or settings.health),
        timeout=timeout if timeout is not None else settings.timeout_seconds,
        grace=grace if grace is not None else settings.grace_seconds,
        environment=env,
    )

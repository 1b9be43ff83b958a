"""temporal-restart: the SRE memo's procedure for Temporal failing its health check, diagnosed first.

The memo: `generic-corp-temporal` failed its health check 181 times in ~30 minutes (`dial tcp
127.0.0.1:7233: connect: connection refused`) while Temporal kept working; a restart, verified and
monitored, was the procedure. A streak that long is not a start-up race: Temporal's images bind the
frontend to the container's own IP (BIND_ON_IP = `hostname -i`), so a check dialling 127.0.0.1 is
refused forever while clients are served, and a restart only causes downtime. So the runbook reads the
engine's own check before acting, and tells apart: not serving (restart), still starting (wait),
serving with a wrong check (no restart; the fix; exit 1), and a check that is only too eager (the
start period to use).
"""

from __future__ import annotations

from runbooks.engine import Runbook, RunInputs
from runbooks.probes import TEMPORAL_SERVICE, GrpcProbe, Probe, parse_probe
from runbooks.steps import Diagnose, Observe, Restart, Verify, WatchGrace
from runbooks.targets import parse_target

RUNBOOK = Runbook(
    name="temporal-restart",
    title="Temporal fails its health check: diagnose, restart only if it is not serving",
    summary=(
        "Observe Temporal (state, restart count, last log lines, the engine's own health check read closely, "
        "our own gRPC health probe) and tell apart: healthy (report, change nothing); still starting (wait, "
        "then verify); serving while the engine's health check looks in the wrong place (no restart: exit 1 "
        "with the evidence and the exact fix); a health check that only fails right after a start (the start "
        "period to use, measured); not serving (restart, wait until the probe passes, check it stays healthy "
        "for a grace window, then `infra runbook watch` keeps watching for 24 h). Defaults per environment "
        "come from `runbooks.temporal` in Pulumi.<env>.yaml (staging: the compose container; prod: the EKS "
        "Deployment)."
    ),
    steps=(Observe(), Diagnose(), Restart(), Verify(), WatchGrace()),
    when_it_fails=(
        "Exit 1 with the incident record naming the next action: when the health check is wrong, the exact "
        "fix (compose: the check's address, or `BIND_ON_IP=0.0.0.0` with `TEMPORAL_BROADCAST_ADDRESS`; "
        "Kubernetes: the probe's host/port or a gRPC probe); when a restart did not help, raise the health "
        "check's start_period (compose) or the readiness probe's initialDelaySeconds / a startupProbe "
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
        probe=_temporal_probe(parse_probe(health or settings.health)),
        timeout=timeout if timeout is not None else settings.timeout_seconds,
        grace=grace if grace is not None else settings.grace_seconds,
        environment=env,
    )


def _temporal_probe(probe: Probe) -> Probe:
    """A gRPC probe that names no service asks Temporal's frontend, as `temporal operator cluster health` does."""
    if isinstance(probe, GrpcProbe) and not probe.service:
        return GrpcProbe(f"{probe.url.rstrip('/')}/{TEMPORAL_SERVICE}", probe.host, probe.port, TEMPORAL_SERVICE)
    return probe

"""The runbooks' decisions are pure functions: table-tested here."""

from __future__ import annotations

import pytest

from runbooks.probes import ProbeResult
from runbooks.steps import Decision, Observation, decide
from runbooks.targets import TargetState
from runbooks.targets.kubernetes import Rollout, rollout_progress

OK = ProbeResult(True, "dial tcp 127.0.0.1:7233: connected", 0.0)
REFUSED = ProbeResult(False, "dial tcp 127.0.0.1:7233: connect: connection refused", 0.0)


def state(status="running", *, running=True, in_progress=False, health=None) -> TargetState:
    return TargetState(status, running, in_progress, 0, None, health)


@pytest.mark.parametrize(
    ("observed", "probes", "decision", "reason"),
    [
        (state(), (OK, OK, OK), Decision.NOTHING, "healthy: 3/3 probes passed"),
        # the engine's own check is stale or wrong; our probe decides
        (state(health="unhealthy, failing streak 181"), (OK, OK, OK), Decision.NOTHING, "healthy"),
        # the memo: running, health check failing 181 times
        (state(health="unhealthy, failing streak 181"), (REFUSED,) * 3, Decision.RESTART,
         "running but the probe fails: dial tcp 127.0.0.1:7233: connect: connection refused (3 consecutive"),
        (state(), (OK, REFUSED, OK), Decision.RESTART, "flapping: 1 of 3 probes failed"),
        (state("exited", running=False), (REFUSED,) * 3, Decision.RESTART, "not running (exited)"),
        (state("restarting", running=False, in_progress=True), (REFUSED,), Decision.WAIT,
         "already restarting it (restarting)"),
        (state("progressing", running=False, in_progress=True), (), Decision.WAIT, "already restarting"),
        # no probe (a Kubernetes workload restarted by rollout status only)
        (state("available", health="2/2 replicas available"), (), Decision.NOTHING, "2/2 replicas available"),
        (state("unavailable", running=False, health="0/2 replicas available"), (), Decision.RESTART,
         "not ready (unavailable; 0/2 replicas available)"),
    ],
)
def test_decide(observed, probes, decision, reason):
    diagnosis = decide(Observation(observed, probes))
    assert diagnosis.decision is decision
    assert reason in diagnosis.reason


@pytest.mark.parametrize(
    ("rollout", "restart_generation", "done", "detail"),
    [
        (Rollout(3, 3, 2, 2, 2, 2), 0, True, "rollout complete: 2/2 replicas available"),
        (Rollout(3, 2, 2, 2, 2, 2), 0, False, "controller has not seen generation 3 yet (observed 2)"),
        # our patch made generation 4; a stale read still says 3
        (Rollout(3, 3, 2, 2, 2, 2), 4, False, "has not seen generation 4"),
        (Rollout(4, 4, 2, 3, 1, 2), 4, False, "1/2 replicas updated"),
        (Rollout(4, 4, 2, 3, 2, 2), 4, False, "1 old replica(s) still terminating"),
        (Rollout(4, 4, 2, 2, 2, 1), 4, False, "1/2 updated replicas available"),
        (Rollout(4, 4, 1, 1, 1, 1, "temporal-6d", "temporal-7f"), 4, False, "revision temporal-7f not yet"),
        (Rollout(4, 4, 1, 1, 1, 1, "temporal-7f", "temporal-7f"), 4, True, "rollout complete"),
    ],
)
def test_rollout_progress(rollout, restart_generation, done, detail):
    assert rollout_progress(rollout, restart_generation=restart_generation)[0] is done
    assert detail in rollout_progress(rollout, restart_generation=restart_generation)[1]

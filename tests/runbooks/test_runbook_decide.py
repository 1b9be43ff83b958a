"""The runbooks' decisions are pure functions: table-tested here."""

from __future__ import annotations

import pytest

from runbooks.diagnosis import Decision, Observation, decide
from runbooks.probes import ProbeResult
from runbooks.targets import CheckRun, EngineCheck, TargetState
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
        # one passing probe is not healthy: verify (3 in a row) rather than declare it or restart it
        (state(), (OK,), Decision.WAIT, "1 probe(s) passed, fewer than the 3 in a row that healthy needs"),
        (state(), (REFUSED, OK, OK), Decision.RESTART, "flapping"),
    ],
)
def test_decide(observed, probes, decision, reason):
    diagnosis = decide(Observation(observed, probes))
    assert diagnosis.decision is decision
    assert reason in diagnosis.reason


CHECK = "temporal operator cluster health --address 127.0.0.1:7233"
CHECK_REFUSED = CheckRun(False, "Error: failed connecting to Temporal server at 127.0.0.1:7233: connection refused")
CHECK_OK = CheckRun(True, "SERVING")


def check(*, engine="docker", status="unhealthy", streak=181, uptime=1800.0, start_period=0.0, history=(),
          in_place=CHECK_REFUSED, listening=("10.88.0.5:7233",), at_listen=CHECK_OK, command=CHECK,
          dials="127.0.0.1:7233") -> EngineCheck:
    return EngineCheck(engine, command, dials, start_period, status, streak, uptime, history, in_place, listening,
                       at_listen)


EAGER_HISTORY = (CheckRun(False, "refused", 0.2), CheckRun(False, "refused", 1.1), CheckRun(True, "SERVING", 4.2),
                 CheckRun(True, "SERVING", 34.2))


@pytest.mark.parametrize(
    ("engine_check", "probes", "decision", "reason", "fix"),
    [
        # case 3, the memo: a long failing streak on loopback, Temporal bound to the container IP, clients served
        (check(), (OK,) * 3, Decision.FIX_CHECK, "it listens on 10.88.0.5:7233 only, not on 127.0.0.1:7233",
         "BIND_ON_IP=0.0.0.0"),
        # same, seen without our own probe: the check pointed at where Temporal listens passes
        (check(), (), Decision.FIX_CHECK, "the same check against that address passes", "TEMPORAL_BROADCAST_ADDRESS"),
        # the listening sockets could not be read: the failing check and the served clients still decide
        (check(listening=None, at_listen=None), (OK,) * 3, Decision.FIX_CHECK, "yet it answers where clients connect",
         "make the health check dial the address Temporal serves on"),
        # Kubernetes: no exec into the pod; the kubelet's verdict and our probe
        (check(engine="k8s", in_place=None, listening=None, at_listen=None,
               history=(CheckRun(False, "Readiness probe failed: dial tcp 127.0.0.1:7233: connect: connection "
                                        "refused"),)),
         (OK,) * 3, Decision.FIX_CHECK, "its last run said: Readiness probe failed",
         "grpc: {port: 7233, service: temporal.api.workflowservice.v1.WorkflowService}"),
        # Temporal listens where the check dials, the check still fails, clients are served: the check's command
        (check(listening=("0.0.0.0:7233",), at_listen=None,
               in_place=CheckRun(False, "Error: tls: first record does not look like a TLS handshake")),
         (OK,) * 3, Decision.FIX_CHECK, "yet it answers where clients connect",
         "where the check dials, yet the check fails there: its own words say why (Error: tls: first record"),
        # the check fails and Temporal does not answer anywhere: not a check problem, restart
        (check(at_listen=CheckRun(False, "DeadlineExceeded")), (REFUSED,) * 3, Decision.RESTART,
         "the probe fails", None),
        # within the start period, not serving yet: wait, then verify
        (check(uptime=4.0, start_period=30.0, streak=2, status="starting", at_listen=None), (REFUSED,) * 3,
         Decision.WAIT, "still starting: 4.0 s since the start, within its 30 s start period", None),
        # within the start period a failing check does not count yet: served, so healthy
        (check(uptime=4.0, start_period=30.0, streak=1, status="starting", listening=None, at_listen=None),
         (OK,) * 3, Decision.NOTHING, "healthy: 3/3 probes passed", None),
        # case 4: failures only in the first seconds after the start, passing since
        (check(status="healthy", streak=0, in_place=CHECK_OK, listening=("0.0.0.0:7233",), at_listen=None,
               history=EAGER_HISTORY), (OK,) * 3, Decision.TUNE_CHECK,
         "2 failure(s) in the first 4.2 s after the start (start period 0 s)",
         "at least 7 s (measured: first success 4.2 s"),
        # a start period that already covers the start-up: nothing to tune
        (check(status="healthy", streak=0, in_place=CHECK_OK, listening=("0.0.0.0:7233",), at_listen=None,
               history=EAGER_HISTORY, start_period=10.0), (OK,) * 3, Decision.NOTHING, "healthy: 3/3", None),
        # a check that passes inside, Temporal listening everywhere: healthy
        (check(status="healthy", streak=0, in_place=CHECK_OK, listening=("0.0.0.0:7233",), at_listen=None),
         (OK,) * 3, Decision.NOTHING, "healthy: 3/3 probes passed", None),
        # no health check configured (missing evidence): our probe alone decides
        (check(command="", dials=None, in_place=None, listening=None, at_listen=None), (OK,) * 3, Decision.NOTHING,
         "healthy: 3/3 probes passed", None),
        (check(command="", dials=None, in_place=None, listening=None, at_listen=None), (REFUSED,) * 3,
         Decision.RESTART, "the probe fails", None),
    ],
)
def test_decide_reads_the_engines_own_check(engine_check, probes, decision, reason, fix):
    diagnosis = decide(Observation(state(health="unhealthy"), probes, engine_check))
    assert diagnosis.decision is decision
    assert reason in diagnosis.reason
    if fix is None:
        assert diagnosis.fix is None
    else:
        assert fix in diagnosis.fix


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

"""Reading the engine's health check when the engine will not run commands inside the container: what is
missing is said, and the engine's own record still counts. (The real engine's answers are exercised in
test_temporal_incident.py; here the refusal is the point.)"""

from __future__ import annotations

from docker.errors import APIError

from runbooks.diagnosis import Decision, Observation, decide
from runbooks.probes import ProbeResult
from runbooks.targets.docker import DockerTarget

REFUSED = ("Error: failed connecting to Temporal server at 127.0.0.1:7233: connection refused\n"
           "  Connection checks for 127.0.0.1:7233")


class ExecRefused:
    name, status, labels = "generic-corp-temporal", "running", {}
    attrs = {
        "Config": {"Healthcheck": {"Test": ["CMD-SHELL", "temporal operator cluster health"],
                                   "StartPeriod": 10_000_000_000}},
        "State": {"Status": "running", "StartedAt": "2026-11-24T02:45:00.123456789Z",
                  "Health": {"Status": "unhealthy", "FailingStreak": 181,
                             "Log": [{"Start": "2026-11-24T03:14:30.5Z", "ExitCode": 1, "Output": REFUSED}]}},
    }

    def exec_run(self, *args, **kwargs):
        raise APIError("exec refused", explanation="exec is disabled by policy")


class Client:
    class containers:  # noqa: N801 - the docker client's attribute name
        @staticmethod
        def get(name):
            return ExecRefused()


def test_exec_refused_is_missing_evidence_and_the_engines_record_still_decides():
    check = DockerTarget("generic-corp-temporal", client=Client()).engine_check()

    assert check.in_place is None and check.listening is None and check.at_listen_address is None
    assert check.missing == ("could not run the health check inside the container (exec refused)",
                             "could not read the container's listening sockets (/proc/net/tcp): cannot run it "
                             "inside: exec is disabled by policy")
    assert check.dials == "127.0.0.1:7233" and check.failing_streak == 181 and check.start_period == 10
    assert check.history[0].at == 1770.376544  # seconds after the start, nanoseconds cut to microseconds
    serving = (ProbeResult(True, "grpc health 127.0.0.1:7233: SERVING", 0.0),) * 3
    diagnosis = decide(Observation(DockerTarget("x", client=Client()).observe(log_lines=0), serving, check))
    assert diagnosis.decision is Decision.FIX_CHECK
    assert "its last run said: Error: failed connecting to Temporal server at 127.0.0.1:7233" in diagnosis.reason

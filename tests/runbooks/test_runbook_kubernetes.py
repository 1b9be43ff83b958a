"""The Kubernetes target through the real kubernetes client, its HTTP layer fed recorded API
responses (tests/runbooks/k8s_recorded/), asserting what is sent and how the rollout is awaited."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs

import pytest

from runbooks.targets.kubernetes import RESTARTED_AT, KubernetesTarget
from runbooks.waiting import Backoff, Deadline
from stacks.errors import InvalidInput, MissingPrerequisite
from tests.runbooks.k8s_api import RecordedApiServer, api_client

DEPLOYMENT = "/apis/apps/v1/namespaces/temporal/deployments/temporal-frontend"
PODS = "/api/v1/namespaces/temporal/pods"
EVENTS = "/api/v1/namespaces/temporal/events"
LOG = "/api/v1/namespaces/temporal/pods/temporal-frontend-7c9d8b6f5d-9wq4m/log"
FAST = Backoff(first=0.01, factor=1, cap=0.01)


def incident_routes(*deployment_after_patch: str) -> dict:
    return {
        ("GET", DEPLOYMENT): [(200, "deployment_unavailable.json"),
                              *[(200, name) for name in deployment_after_patch]],
        ("PATCH", DEPLOYMENT): [(200, "deployment_patched.json")],
        ("GET", PODS): [(200, "pods.json")],
        ("GET", LOG): [(200, "pod_log.txt")],
        ("GET", EVENTS): [(200, "events_unhealthy.json")],
    }


def test_observe_reads_rollout_restarts_and_newest_pod_logs():
    server = RecordedApiServer(incident_routes())
    target = KubernetesTarget("temporal", "deployment", "temporal-frontend", api_client=api_client(server))

    state = target.observe()

    assert (state.status, state.running, state.in_progress) == ("unavailable", False, False)
    assert state.restart_count == 5
    assert state.engine_health == "0/2 replicas available"
    assert state.log_tail[-1].endswith('"error":"dial tcp 127.0.0.1:7233: connect: connection refused"}')
    [pods] = [r for r in server.requests if r["path"] == PODS]
    assert parse_qs(pods["query"])["labelSelector"] == [
        "app.kubernetes.io/name=temporal,app.kubernetes.io/component=frontend"]
    [log] = [r for r in server.requests if r["path"] == LOG]
    assert parse_qs(log["query"])["tailLines"] == ["5"]


def test_rollout_restart_patches_the_pod_template_like_kubectl_and_waits_for_the_rollout():
    server = RecordedApiServer(incident_routes("deployment_progressing.json", "deployment_progressing.json",
                                               "deployment_complete.json"))
    target = KubernetesTarget("temporal", "deployment", "temporal-frontend", api_client=api_client(server),
                              poll=FAST)
    target.ensure_exists()

    action = target.restart(Deadline(5))
    done, detail = target.wait_ready(Deadline(5))

    [patch] = server.sent("PATCH")
    assert patch["headers"]["Content-Type"] == "application/strategic-merge-patch+json"
    stamp = patch["body"]["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert patch["body"] == {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    assert datetime.fromisoformat(stamp).tzinfo is not None
    assert "generation 8" in action and stamp in action
    assert (done, detail) == (True, "rollout complete: 2/2 replicas available")
    assert len(server.sent("GET")) == 1 + 3  # ensure_exists, then polls until complete


def test_rollout_that_never_completes_is_given_up_at_the_deadline():
    server = RecordedApiServer(incident_routes("deployment_progressing.json"))
    target = KubernetesTarget("temporal", "deployment", "temporal-frontend", api_client=api_client(server),
                              poll=Backoff(first=0.05, factor=2, cap=0.1))
    target.restart(Deadline(5))

    deadline = Deadline(0.4)
    done, detail = target.wait_ready(deadline)

    assert not done and detail == "1/2 replicas updated"
    assert deadline.elapsed() < 0.6


def test_statefulset_restart_patches_the_statefulset():
    path = "/apis/apps/v1/namespaces/temporal/statefulsets/temporal-history"
    server = RecordedApiServer({("PATCH", path): [(200, "deployment_patched.json")]})
    target = KubernetesTarget("temporal", "statefulset", "temporal-history", api_client=api_client(server))

    target.restart(Deadline(5))

    assert RESTARTED_AT in server.sent("PATCH")[0]["body"]["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("status", "recorded", "error", "message"),
    [
        (404, "not_found.json", InvalidInput, "deployment temporal/temporal-frontend not found"),
        (403, "forbidden.json", MissingPrerequisite, "not allowed to read deployment temporal/temporal-frontend"),
    ],
)
def test_api_refusals_become_one_line_errors(status, recorded, error, message):
    server = RecordedApiServer({("GET", DEPLOYMENT): [(status, recorded)]})
    target = KubernetesTarget("temporal", "deployment", "temporal-frontend", api_client=api_client(server))
    with pytest.raises(error, match=message):
        target.ensure_exists()


def test_restart_container_on_kubernetes_through_the_cli(infra, state_dir, monkeypatch):
    server = RecordedApiServer(incident_routes("deployment_progressing.json", "deployment_complete.json"))
    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", lambda: api_client(server))

    result = infra("restart-container", "temporal/deployment/temporal-frontend", "--runtime", "kubernetes",
                   "--timeout", "10", "--yes")

    assert result.exit_code == 0, result.output
    assert "rollout complete: 2/2 replicas available" in result.stdout
    assert len(server.sent("PATCH")) == 1
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "rollout restart of deployment/temporal-frontend in namespace temporal" in log
    assert "postgres://temporal:***@rds" in log and "hunter2" not in log + result.output


UNRESOLVABLE = "grpc://temporal-frontend.temporal.invalid:7233"  # what a laptop sees of a cluster-internal name


def test_a_probe_that_cannot_resolve_from_here_never_restarts_a_workload_the_cluster_calls_healthy(
        infra, state_dir, monkeypatch):
    server = RecordedApiServer({("GET", DEPLOYMENT): [(200, "deployment_complete.json")],
                                ("GET", PODS): [(200, "pods.json")], ("GET", LOG): [(200, "pod_log.txt")],
                                ("GET", EVENTS): [(200, "events_unhealthy.json")]})
    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", lambda: api_client(server))

    result = infra("runbook", "run", "temporal-restart", "--env", "prod", "--target",
                   "k8s://temporal/deployment/temporal-frontend", "--health", UNRESOLVABLE, "--yes")

    assert result.exit_code == 0, result.output
    assert server.sent("PATCH") == []  # a failed lookup is not a failed health check
    out = " ".join(result.stdout.split())
    assert "cannot reach its address from this machine" in out and "no such host" in out
    assert "healthy by the engine's status: 2/2 replicas available" in out


def test_with_an_unreachable_probe_the_engine_alone_decides_and_verifies(infra, state_dir, monkeypatch):
    # found, observed unavailable; after the restart: progressing, then complete
    server = RecordedApiServer(incident_routes("deployment_unavailable.json", "deployment_progressing.json",
                                               "deployment_complete.json"))
    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", lambda: api_client(server))

    result = infra("runbook", "run", "temporal-restart", "--env", "prod", "--target",
                   "k8s://temporal/deployment/temporal-frontend", "--health", UNRESOLVABLE, "--timeout", "10",
                   "--grace", "1", "--yes")

    assert result.exit_code == 0, result.output
    assert len(server.sent("PATCH")) == 1  # the cluster itself says it is down: restart
    out = " ".join(result.stdout.split())
    assert "rollout complete: 2/2 replicas available" in out
    # no probe of ours passed: the engine's word is reported as such, never as "healthy again"
    assert "not verified by a probe" in out and "healthy again" not in out
    assert "could not run from here" in (state_dir / "INCIDENT_LOG.md").read_text()


def test_engine_check_reads_the_probe_spec_the_ready_condition_and_the_kubelets_failures():
    server = RecordedApiServer({("GET", DEPLOYMENT): [(200, "deployment_unavailable.json")],
                                ("GET", PODS): [(200, "pods_not_ready.json")],
                                ("GET", EVENTS): [(200, "events_unhealthy.json")]})
    target = KubernetesTarget("temporal", "deployment", "temporal-frontend", api_client=api_client(server))

    check = target.engine_check()

    assert check.command == "readinessProbe tcpSocket 10.0.1.24:7233"  # the port's name resolved, the pod's IP
    assert (check.dials, check.start_period, check.status) == ("10.0.1.24:7233", 5, "unhealthy")
    assert check.failing_streak == 12
    assert check.history[-1].output == "Readiness probe failed: dial tcp 10.0.1.24:7233: connect: connection refused"
    assert check.in_place is None and "needs `kubectl exec`" in check.missing[0]
    [events] = [r for r in server.requests if r["path"] == EVENTS]
    assert parse_qs(events["query"])["fieldSelector"] == ["involvedObject.name=temporal-frontend-7c9d8b6f5d-9wq4m"]


def test_a_probe_on_loopback_while_temporal_serves_is_diagnosed_not_restarted(infra, state_dir, monkeypatch,
                                                                               local_temporal):
    """The memo on Kubernetes: an exec probe running the CLI with its default 127.0.0.1:7233 fails 181 times,
    the Deployment is unavailable, yet Temporal (here real, reached as through `kubectl port-forward`) serves."""
    server = RecordedApiServer({("GET", DEPLOYMENT): [(200, "deployment_exec_probe.json")],
                                ("GET", PODS): [(200, "pods_not_ready.json")], ("GET", LOG): [(200, "pod_log.txt")],
                                ("GET", EVENTS): [(200, "events_exec_probe.json")]})
    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", lambda: api_client(server))

    result = infra("runbook", "run", "temporal-restart", "--env", "prod", "--target",
                   "k8s://temporal/deployment/temporal-frontend", "--health", f"grpc://127.0.0.1:{local_temporal}",
                   "--yes")

    assert result.exit_code == 1, result.output
    assert server.sent("PATCH") == []
    out = " ".join(result.stdout.split())
    assert "`readinessProbe exec: temporal operator cluster health` (dials 127.0.0.1:7233" in out
    assert "unhealthy, failing streak 181" in out
    assert "decision: fix the health check, do not restart" in out
    assert "temporal.api.workflowservice.v1.WorkflowService: SERVING" in out
    error = " ".join(result.stderr.split())
    assert "grpc: {port: 7233, service: temporal.api.workflowservice.v1.WorkflowService}" in error
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "missing evidence: the probe was not re-run inside the pod" in log and "hunter2" not in log


def test_probe_failures_only_right_after_the_start_get_a_startup_probe_from_the_measured_time(
        infra, state_dir, monkeypatch):
    """Ready now; the kubelet's readiness probe failed 4 times in the first 36 s after the container started,
    and the pod became Ready at 42 s: recommend a startupProbe for that, restart nothing."""
    server = RecordedApiServer({("GET", DEPLOYMENT): [(200, "deployment_complete.json")],
                                ("GET", PODS): [(200, "pods_ready.json")], ("GET", LOG): [(200, "pod_log.txt")],
                                ("GET", EVENTS): [(200, "events_startup.json")]})
    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", lambda: api_client(server))

    result = infra("runbook", "run", "temporal-restart", "--env", "prod", "--target",
                   "k8s://temporal/deployment/temporal-frontend", "--health", UNRESOLVABLE, "--yes")

    assert result.exit_code == 0, result.output
    assert server.sent("PATCH") == []
    out = " ".join(result.stdout.split())
    assert "healthy; the health check is too eager: 4 failure(s) in the first 42.0 s after the start" in out
    assert "at least 63 s (measured: first success 42.0 s after the start" in out and "startupProbe" in out
    assert "set the health check's start period to at least 63 s" in (state_dir / "INCIDENT_LOG.md").read_text()


def test_the_lock_identity_is_the_workloads_uid(tmp_path):
    import json

    from tests.runbooks.k8s_api import RECORDED

    recorded = json.loads((RECORDED / "deployment_complete.json").read_text())
    recorded["metadata"]["uid"] = "5b1f2c9e-8a44-4c1b-9d1e-2f6a7c3b0e11"  # every object the API returns has one
    with_uid = tmp_path / "deployment_with_uid.json"
    with_uid.write_text(json.dumps(recorded))
    server = RecordedApiServer({("GET", DEPLOYMENT): [(200, str(with_uid))]})
    target = KubernetesTarget("temporal", "deployment", "temporal-frontend", api_client=api_client(server))

    assert target.identity == target.ref  # nothing resolved yet
    target.ensure_exists()
    assert target.identity == "k8s-uid://5b1f2c9e-8a44-4c1b-9d1e-2f6a7c3b0e11"

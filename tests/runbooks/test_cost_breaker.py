"""`cost-circuit-breaker`: spend from Cost Explorer (moto's server over HTTP), the Kubernetes side through
the real kubernetes client fed recorded API responses."""

from __future__ import annotations

import json
from datetime import date

import pytest

from runbooks.cost_breaker import REPLICAS_BEFORE, Decision, decide
from runbooks.waiting import Backoff
from tests.conftest import moto_api
from tests.runbooks.k8s_api import RecordedApiServer, api_client

NAMESPACE = "/api/v1/namespaces/workers"
DEPLOYMENTS = "/apis/apps/v1/namespaces/workers/deployments"
FAST = Backoff(first=0.01, factor=1, cap=0.01)


@pytest.mark.parametrize(("breaker", "replicas", "decision", "words"), [
    ("ok", {"ai-worker": (4, 4)}, Decision.NOTHING, "below the 200% stop"),
    ("warn", {"ai-worker": (4, 4)}, Decision.NOTHING, "below the 200% stop"),
    ("freeze", {"ai-worker": (4, 4)}, Decision.NOTHING, "below the 200% stop"),
    ("stop", {}, Decision.NOTHING, "no worker Deployments"),
    ("stop", {"ai-worker": (0, 0), "billing": (0, 1)}, Decision.NOTHING, "already scaled to zero"),
    ("stop", {"ai-worker": (4, 4), "billing": (0, 0)}, Decision.STOP_WORKERS, "circuit breaker is tripped"),
])
def test_decide(breaker, replicas, decision, words):
    diagnosis = decide(breaker, 1900.0, 900.0, replicas)
    assert diagnosis.decision is decision and words in diagnosis.reason
    assert "$1,900.00 of $900.00 (211%)" in diagnosis.reason


@pytest.fixture
def cluster(monkeypatch):
    def start(*after_scale: str) -> RecordedApiServer:
        server = RecordedApiServer({
            ("GET", NAMESPACE): [(200, "workers_namespace.json")],
            ("GET", DEPLOYMENTS): [(200, "workers_running.json"), *[(200, n) for n in after_scale]],
            ("PATCH", f"{DEPLOYMENTS}/ai-worker"): [(200, "ai_worker_scaled.json")],
            ("PATCH", f"{DEPLOYMENTS}/billing-worker"): [(200, "billing_worker_scaled.json")],
        })
        monkeypatch.setattr("runbooks.cost_breaker.default_api_client", lambda: api_client(server))
        monkeypatch.setattr("runbooks.cost_breaker.POLL", FAST)
        return server

    return start


@pytest.fixture
def spent(aws, monkeypatch):
    from policies import spend

    monkeypatch.setattr(spend, "date", type("D", (date,), {"today": classmethod(lambda cls: date(2026, 11, 23))}))

    def seed(usd: float) -> None:
        moto_api(aws, "static/ce/cost-and-usage-results", {"results": [{"ResultsByTime": [{
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-23"},
            "Total": {"UnblendedCost": {"Amount": str(usd), "Unit": "USD"}}, "Groups": [], "Estimated": True}]}]})

    return seed


def test_at_200_percent_the_workers_are_stopped_and_the_undo_recorded(infra, state_dir, cluster, spent):
    spent(1890.0)  # staging budget $900: 210%
    server = cluster("workers_draining.json", "workers_stopped.json")
    result = infra("runbook", "run", "cost-circuit-breaker", "--env", "staging", "--yes")
    assert result.exit_code == 0, result.output
    patches = {r["path"].rsplit("/", 1)[-1]: r["body"] for r in server.sent("PATCH")}
    assert patches == {
        "ai-worker": {"metadata": {"annotations": {REPLICAS_BEFORE: "4"}}, "spec": {"replicas": 0}},
        "billing-worker": {"metadata": {"annotations": {REPLICAS_BEFORE: "2"}}, "spec": {"replicas": 0}},
    }, "report-worker was already at 0 and must not be touched"
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "circuit breaker STOP" in log and "$1,890.00 of the $900.00 budget" in log
    assert "scaled deployment/ai-worker in workers from 4 to 0" in log
    assert "undo: `kubectl -n workers scale deployment/ai-worker --replicas=4`" in log
    assert "undo: `kubectl -n workers scale deployment/billing-worker --replicas=2`" in log
    assert "no worker pod left" in log
    [audit] = [json.loads(line) for line in (state_dir / "audit.jsonl").read_text().splitlines()]
    assert audit["event"] == "runbook-run" and audit["runbook"] == "cost-circuit-breaker"
    assert audit["target"] == "k8s-namespace://workers" and audit["exit_code"] == 0


@pytest.mark.parametrize("usd", [100.0, 950.0, 1790.0])
def test_below_200_percent_nothing_is_touched(infra, state_dir, cluster, spent, usd):
    spent(usd)
    server = cluster()
    result = infra("runbook", "run", "cost-circuit-breaker", "--env", "staging", "--yes")
    assert result.exit_code == 0
    assert "below the 200% stop" in result.stdout and "nothing changed" in result.stdout
    assert server.sent("PATCH") == []


def test_dry_run_shows_the_plan_and_changes_nothing(infra, state_dir, cluster, spent):
    spent(1890.0)
    server = cluster()
    result = infra("runbook", "run", "cost-circuit-breaker", "--env", "staging", "--dry-run")
    assert result.exit_code == 0
    assert "scale-to-zero" in result.stdout and "would run; dry run" in result.stdout
    assert server.sent("PATCH") == [] and not (state_dir / "INCIDENT_LOG.md").exists()


def test_workers_that_keep_running_end_in_exit_1_within_the_timeout(infra, state_dir, cluster, spent):
    spent(1890.0)
    cluster("workers_draining.json")  # ai-worker never drains
    result = infra("runbook", "run", "cost-circuit-breaker", "--env", "staging", "--yes", "--timeout", "0.3")
    assert result.exit_code == 1
    assert "workers still running after 0.3 s: ai-worker (1 pods)" in result.stderr
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "autoscaler" in log and "undo: `kubectl -n workers scale deployment/ai-worker --replicas=4`" in log


@pytest.mark.parametrize(("extra", "message"), [
    (["--health", "tcp://127.0.0.1:1"], "cost-circuit-breaker takes no --health"),
    (["--target", "docker://workers"], "is not a namespace"),
    (["--target", "k8s-namespace://a/b"], "is not a namespace"),
])
def test_bad_input_exit_2(infra, state_dir, extra, message):
    result = infra("runbook", "run", "cost-circuit-breaker", "--env", "staging", *extra)
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_namespace_exit_2(infra, state_dir, monkeypatch, spent):
    server = RecordedApiServer({("GET", "/api/v1/namespaces/nope"): [(404, "not_found.json")]})
    monkeypatch.setattr("runbooks.cost_breaker.default_api_client", lambda: api_client(server))
    result = infra("runbook", "run", "cost-circuit-breaker", "--env", "staging", "--target", "k8s-namespace://nope",
                   "--yes")
    assert result.exit_code == 2 and "namespace nope not found" in result.stderr

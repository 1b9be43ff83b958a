"""Cost report and circuit breaker against moto's server over HTTP (Cost Explorer results seeded
through moto's API), plus throttling and failures injected at the HTTP layer."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from cli.main import app
from policies import spend
from policies.spend import BreakerState, breaker_state
from tests.conftest import moto_api

TODAY = date(2026, 11, 23)


def infra(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize(("spent", "budget", "state"), [
    (0, 900, BreakerState.OK), (809.99, 900, BreakerState.OK), (810, 900, BreakerState.WARN),
    (899.99, 900, BreakerState.WARN), (900, 900, BreakerState.FREEZE), (1799, 900, BreakerState.FREEZE),
    (1800, 900, BreakerState.STOP), (10_000, 900, BreakerState.STOP),
])
def test_breaker_thresholds_90_100_200(spent, budget, state):
    assert breaker_state(spent, budget) is state


def _daily(days: list[tuple[str, dict[str, float]]]) -> dict:
    return {"ResultsByTime": [
        {"TimePeriod": {"Start": d, "End": (date.fromisoformat(d) + timedelta(days=1)).isoformat()},
         "Total": {}, "Estimated": False,
         "Groups": [{"Keys": [svc], "Metrics": {"UnblendedCost": {"Amount": f"{usd}", "Unit": "USD"}}}
                    for svc, usd in services.items()]}
        for d, services in days], "DimensionValueAttributes": []}


def _monthly(usd: float) -> dict:
    return {"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": TODAY.isoformat()},
                               "Total": {"UnblendedCost": {"Amount": f"{usd}", "Unit": "USD"}},
                               "Groups": [], "Estimated": True}], "DimensionValueAttributes": []}


def _seed(server, daily_usd: float, mtd: float, days: int = 3):
    series = [((TODAY - timedelta(days=days - i)).isoformat(),
               {"Amazon Elastic Compute Cloud - Compute": daily_usd * 0.6, "Amazon Relational Database Service":
                daily_usd * 0.4}) for i in range(days)]
    # A query takes the next queued result the first time it is asked: the report asks daily, then monthly.
    moto_api(server, "static/ce/cost-and-usage-results", {"results": [_daily(series), _monthly(mtd)]})


def test_report_from_cost_explorer(aws, staging_cfg):
    _seed(aws, daily_usd=30.0, mtd=660.0)
    r = spend.report(staging_cfg, days=3, today=TODAY)
    assert [d.total for d in r.days] == [30.0, 30.0, 30.0]
    assert r.month_to_date_usd == 660.0 and r.budget_usd == 900
    assert r.state is BreakerState.OK
    assert r.forecast_usd == 660.0 + 30.0 * 8  # 23rd..30th not billed yet
    assert r.by_service[0] == ("Amazon Elastic Compute Cloud - Compute", 54.0)


@pytest.mark.parametrize(("mtd", "state", "words"), [
    (820.0, "warn", "WARN"), (905.0, "freeze", "FREEZE"), (1850.0, "stop", "STOP")])
def test_markdown_daily_report_for_the_ceo(aws, tmp_path, monkeypatch, mtd, state, words):
    _seed(aws, daily_usd=40.0, mtd=mtd)
    monkeypatch.setattr(spend, "date", type("D", (date,), {"today": classmethod(lambda cls: TODAY)}))
    out = tmp_path / "report.md"
    result = infra("cost", "report", "staging", "--days", "3", "--format", "markdown", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Daily cost report: staging, 2026-11-23")
    assert f"**${mtd:,.2f}** of $900.00" in text and f"**{words}**" in text
    assert "| Amazon Relational Database Service | 48.00 |" in text
    assert f"circuit breaker: {state}" in result.stdout


def test_json_report(aws, monkeypatch):
    _seed(aws, daily_usd=10.0, mtd=100.0)
    monkeypatch.setattr(spend, "date", type("D", (date,), {"today": classmethod(lambda cls: TODAY)}))
    doc = json.loads(infra("cost", "report", "prod", "--days", "3", "--format", "json").stdout)
    assert doc["version"] == 1 and doc["circuitBreaker"] == "ok" and doc["budgetMonthlyUsd"] == 1600
    assert [d["totalUsd"] for d in doc["days"]] == [10.0, 10.0, 10.0]


def test_no_tagged_spend_is_reported_not_invented(aws, staging_cfg):
    r = spend.report(staging_cfg, days=5, today=TODAY)  # nothing seeded: Cost Explorer returns no rows
    assert r.days == [] and r.month_to_date_usd == 0 and r.state is BreakerState.OK
    assert "(no tagged spend)" in spend.render_markdown(r)


@pytest.mark.parametrize(("args", "message"), [
    (["cost", "report", "qa"], "unknown environment 'qa'"),
    (["cost", "report", "staging", "--days", "0"], "--days 0: give a number of days from 1 to 365"),
    (["cost", "report", "staging", "--days", "-3"], "--days -3"),
    (["cost", "report", "staging", "--format", "pdf"], "--format 'pdf' is not one of"),
    (["cost", "report", "staging", "--out", "/nonexistent/dir/report.md"], "directory /nonexistent/dir does not"),
])
def test_bad_input_is_one_line_exit_2_before_any_aws_call(args, message, monkeypatch):
    monkeypatch.setattr(spend, "report", lambda *a, **k: pytest.fail("AWS was called"))
    result = infra(*args)
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert message in line


def test_missing_credentials_exit_3(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = infra("cost", "report", "staging")
    assert result.exit_code == 3
    [line] = result.stderr.strip().splitlines()
    assert "no AWS credentials found" in line and "infra plan ENV" in line


def _subscribed_queue(topic_name: str) -> str:
    """An SQS queue subscribed to the topic: it receives what an email subscriber would."""
    import boto3

    sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name=topic_name)["TopicArn"]
    queue = sqs.create_queue(QueueName="report-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return queue


def test_notify_sends_the_markdown_report_to_the_alert_topics_subscribers(aws, tmp_path, monkeypatch):
    import boto3

    queue = _subscribed_queue("infra-prod-alerts")
    _seed(aws, daily_usd=60.0, mtd=1520.0)
    monkeypatch.setattr(spend, "date", type("D", (date,), {"today": classmethod(lambda cls: TODAY)}))

    result = infra("cost", "report", "prod", "--days", "3", "--format", "json", "--notify")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["circuitBreaker"] == "warn"  # stdout stays a clean document
    assert "sent the report (circuit breaker: warn) to arn:aws:sns:us-east-1:" in result.stderr
    inbox = boto3.client("sqs", region_name="us-east-1")
    [message] = inbox.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "[infra] prod cost report 2026-11-23: WARN (95% of budget)"
    assert envelope["Message"].startswith("# Daily cost report: prod, 2026-11-23")
    assert "**$1,520.00** of $1,600.00" in envelope["Message"]


def test_notify_without_the_alert_topic_says_to_create_the_environment_exit_3(aws, tmp_path, monkeypatch):
    _seed(aws, daily_usd=10.0, mtd=100.0)
    out = tmp_path / "report.md"

    result = infra("cost", "report", "staging", "--format", "markdown", "--out", str(out), "--notify")

    assert result.exit_code == 3
    [line] = result.stderr.strip().splitlines()
    assert "alert topic arn:aws:sns:us-east-1:123456789012:infra-staging-alerts does not exist" in line
    assert "infra up staging" in line
    assert out.read_text().startswith("# Daily cost report: staging")  # the report itself is not lost

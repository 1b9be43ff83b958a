from __future__ import annotations

import json

from components.budget_alerts import BudgetAlerts, BudgetAlertsArgs
from tests.components.conftest import only

KEY = "arn:aws:kms:us-east-1:123456789012:key/alerts"


def _alerts(build, cfg):
    return build(cfg, lambda: [(a := BudgetAlerts("b", BudgetAlertsArgs(config=cfg, alerts_key_arn=KEY))).topic_arn,
                               a.budget_name])


def test_circuit_breaker_notifications_at_90_100_200_and_forecast(build, staging_cfg):
    budget = only(_alerts(build, staging_cfg), "aws:budgets/budget:Budget")
    assert budget["limitAmount"] == "900.00" and budget["timeUnit"] == "MONTHLY" and budget["budgetType"] == "COST"
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": ["user:environment$staging"]}]
    got = sorted((n["threshold"], n["notificationType"]) for n in budget["notifications"])
    assert got == [(90, "ACTUAL"), (100, "ACTUAL"), (100, "FORECASTED"), (200, "ACTUAL")]
    for n in budget["notifications"]:
        assert n["thresholdType"] == "PERCENTAGE" and n["comparisonOperator"] == "GREATER_THAN"
        assert n["subscriberSnsTopicArns"] == ["arn:aws:sns:us-east-1:123456789012:b-topic"]


def test_topic_is_encrypted_and_only_budgets_and_alarms_publish(build, prod_cfg):
    plan = _alerts(build, prod_cfg)
    topic = only(plan, "aws:sns/topic:Topic")
    assert topic["kmsMasterKeyId"] == KEY
    policy = json.loads(only(plan, "aws:sns/topicPolicy:TopicPolicy")["policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"]["Service"] == ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]
    assert statement["Action"] == "SNS:Publish"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_every_configured_address_is_subscribed(build, staging_cfg):
    subs = _alerts(build, staging_cfg).by_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subs) == sorted(staging_cfg.budget.alert_emails)
    assert {s.inputs["protocol"] for s in subs} == {"email"}

"""The environment's alert topic and its AWS Budget with the 90/100/200% circuit-breaker notifications.

Budgets and CloudWatch alarms publish to one KMS-encrypted SNS topic; people subscribe by email (each
address confirms its subscription once). The budget counts only this environment's spend, by the
``environment`` cost-allocation tag, which must be activated once per account in the Billing console.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.config import EnvironmentConfig

# (threshold % of the monthly budget, ACTUAL or FORECASTED spend): the memo's circuit breakers.
NOTIFICATIONS = [(90, "ACTUAL"), (100, "ACTUAL"), (200, "ACTUAL"), (100, "FORECASTED")]


@dataclass(frozen=True)
class BudgetAlertsArgs:
    config: EnvironmentConfig
    alerts_key_arn: pulumi.Input[str]


class BudgetAlerts(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: BudgetAlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:BudgetAlerts", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))

        topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{cfg.name_prefix}-alerts",
            kms_master_key_id=args.alerts_key_arn,
            tags=cfg.tags(Name=f"{cfg.name_prefix}-alerts"),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, identity.account_id).apply(lambda v: _topic_policy(v[0], v[1])),
            opts=child,
        )
        for i, email in enumerate(cfg.budget.alert_emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{i}", topic=topic.arn, protocol="email", endpoint=email, opts=child
            )

        budget = aws.budgets.Budget(
            f"{name}-budget",
            name=f"{cfg.name_prefix}-monthly",
            budget_type="COST",
            limit_amount=f"{cfg.budget.monthly_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=[aws.budgets.BudgetCostFilterArgs(
                name="TagKeyValue", values=[f"user:environment${cfg.environment}"],
            )],
            notifications=[
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    threshold=threshold,
                    threshold_type="PERCENTAGE",
                    notification_type=kind,
                    subscriber_sns_topic_arns=[topic.arn],
                )
                for threshold, kind in NOTIFICATIONS
            ],
            tags=cfg.tags(Name=f"{cfg.name_prefix}-monthly"),
            opts=child,
        )
        self.topic_arn = topic.arn
        self.budget_name = budget.name
        self.register_outputs({"topic_arn": self.topic_arn, "budget_name": self.budget_name})


def _topic_policy(topic_arn: str, account_id: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BudgetsAndAlarmsOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]},
            "Action": "SNS:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }],
    })

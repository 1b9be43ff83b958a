"""Customer-managed KMS keys, one per purpose, all rotating.

Separate keys keep blast radius and grants small: the EKS secrets key is usable by the cluster only,
the logs key by CloudWatch Logs only, and so on. They are created before everything they encrypt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.config import EnvironmentConfig

PURPOSES = {
    "eks": "envelope encryption of Kubernetes secrets",
    "data": "RDS storage, Performance Insights and ElastiCache at rest",
    "secrets": "Secrets Manager secrets of the application and the database master user",
    "logs": "CloudWatch log groups (VPC flow logs, EKS control plane, WAF)",
    "alerts": "the SNS topic that budgets and CloudWatch alarms publish to",
}
# Services that must encrypt with a key themselves (everything else is granted through IAM).
SERVICE_USERS = {
    "alerts": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"],
}


@dataclass(frozen=True)
class EncryptionKeysArgs:
    config: EnvironmentConfig


class EncryptionKeys(pulumi.ComponentResource):
    eks_key_arn: pulumi.Output[str]
    data_key_arn: pulumi.Output[str]
    secrets_key_arn: pulumi.Output[str]
    logs_key_arn: pulumi.Output[str]
    alerts_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EncryptionKeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:EncryptionKeys", name, None, opts)
        cfg = args.config
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        keys: dict[str, aws.kms.Key] = {}
        for purpose, description in PURPOSES.items():
            policy = pulumi.Output.all(identity.account_id, partition.partition).apply(
                lambda ap, purpose=purpose: _key_policy(ap[0], ap[1], cfg.region, purpose)
            )
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"{cfg.name_prefix}: {description}",
                enable_key_rotation=True,
                rotation_period_in_days=365,
                # Prod keeps the maximum window to undo an accidental deletion.
                deletion_window_in_days=30 if cfg.is_prod else 7,
                policy=policy,
                tags=cfg.tags(Name=f"{name}-{purpose}", purpose=purpose),
                opts=pulumi.ResourceOptions(parent=self, protect=cfg.is_prod),
            )
            aws.kms.Alias(
                f"{name}-{purpose}-alias",
                name=f"alias/{cfg.name_prefix}-{purpose}",
                target_key_id=key.key_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            keys[purpose] = key

        self.eks_key_arn = keys["eks"].arn
        self.data_key_arn = keys["data"].arn
        self.secrets_key_arn = keys["secrets"].arn
        self.logs_key_arn = keys["logs"].arn
        self.alerts_key_arn = keys["alerts"].arn
        self.register_outputs({
            "alerts_key_arn": self.alerts_key_arn,
            "eks_key_arn": self.eks_key_arn,
            "data_key_arn": self.data_key_arn,
            "secrets_key_arn": self.secrets_key_arn,
            "logs_key_arn": self.logs_key_arn,
        })


def _key_policy(account_id: str, partition: str, region: str, purpose: str) -> str:
    root = f"arn:{partition}:iam::{account_id}:root"
    statements: list[dict] = [{
        # Without this statement the key becomes unmanageable; IAM policies then grant real use.
        "Sid": "AccountAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": root},
        "Action": "kms:*",
        "Resource": "*",
    }]
    if purpose == "logs":
        statements.append({
            "Sid": "CloudWatchLogsOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*",
            "Condition": {"ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:*"
            }},
        })
    if purpose in SERVICE_USERS:
        statements.append({
            "Sid": "PublishEncryptedAlerts",
            "Effect": "Allow",
            "Principal": {"Service": SERVICE_USERS[purpose]},
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        })
    return json.dumps({"Version": "2012-10-17", "Statement": statements})

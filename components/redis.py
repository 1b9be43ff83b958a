"""ElastiCache Redis: replicated with automatic failover across AZs, encrypted at rest and in transit, AUTH."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.shared import nodes_only_security_group
from stacks.config import EnvironmentConfig

PORT = 6379


@dataclass(frozen=True)
class RedisCacheArgs:
    config: EnvironmentConfig
    vpc_id: pulumi.Input[str]
    subnet_group_name: pulumi.Input[str]
    node_security_group_id: pulumi.Input[str]
    data_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]


class RedisCache(pulumi.ComponentResource):
    primary_endpoint: pulumi.Output[str]
    port: pulumi.Output[int]
    auth_secret_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    replication_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: RedisCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:RedisCache", name, None, opts)
        cfg, rc = args.config, args.config.redis
        child = pulumi.ResourceOptions(parent=self)

        sg = nodes_only_security_group(
            name, cfg, what="Redis", slug="redis", port=PORT, vpc_id=args.vpc_id,
            node_security_group_id=args.node_security_group_id, parent=self,
        )

        # ElastiCache AUTH tokens allow only printable ASCII without @, " and /.
        token = random.RandomPassword(
            f"{name}-auth-token", length=64, special=True, override_special="!&#$^<>-", opts=child
        )
        secret = aws.secretsmanager.Secret(
            f"{name}-auth",
            name=f"{cfg.name_prefix}/redis/auth",
            description=f"{cfg.name_prefix}: Redis AUTH token",
            kms_key_id=args.secrets_key_arn,
            recovery_window_in_days=30 if cfg.is_prod else 7,
            tags=cfg.tags(Name=f"{cfg.name_prefix}-redis-auth"),
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-auth-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(token.result.apply(lambda t: json.dumps({"authToken": t}))),
            opts=child,
        )

        group_id = cfg.redis_group_id
        major = rc.engine_version.split(".")[0]
        self.group = aws.elasticache.ReplicationGroup(
            f"{name}-group",
            replication_group_id=group_id,
            description=f"{cfg.name_prefix} Redis",
            engine="redis",
            engine_version=rc.engine_version,
            parameter_group_name=f"default.redis{major}",
            node_type=rc.node_type,
            num_cache_clusters=1 + rc.replicas,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=args.data_key_arn,
            transit_encryption_enabled=True,
            auth_token=token.result,
            port=PORT,
            subnet_group_name=args.subnet_group_name,
            security_group_ids=[sg.id],
            snapshot_retention_limit=rc.snapshot_retention_days,
            snapshot_window="02:00-03:00",
            maintenance_window="sun:05:30-sun:06:30",
            auto_minor_version_upgrade=True,
            final_snapshot_identifier=f"{group_id}-final" if cfg.is_prod else None,
            tags=cfg.tags(Name=group_id),
            # ElastiCache has no deletion protection of its own, and the queues live here: in prod the
            # engine refuses any delete or replace until an operator unprotects it on purpose.
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.is_prod),
        )
        self.primary_endpoint = self.group.primary_endpoint_address
        self.port = self.group.port
        self.auth_secret_arn = secret.arn
        self.security_group_id = sg.id
        self.replication_group_id = self.group.replication_group_id
        self.register_outputs({
            "primary_endpoint": self.primary_endpoint,
            "port": self.port,
            "auth_secret_arn": self.auth_secret_arn,
            "security_group_id": self.security_group_id,
            "replication_group_id": self.replication_group_id,
        })

"""The application's connection settings in Secrets Manager, encrypted with the secrets CMK.

They hold where to connect and which secret holds each credential, never a credential itself: the
database password stays in the RDS-managed secret and the Redis token in its own secret, so rotating
either never requires touching these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.config import EnvironmentConfig


@dataclass(frozen=True)
class ApplicationSecretsArgs:
    config: EnvironmentConfig
    secrets_key_arn: pulumi.Input[str]
    database_address: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_master_secret_arn: pulumi.Input[str]
    redis_endpoint: pulumi.Input[str]
    redis_port: pulumi.Input[int]
    redis_auth_secret_arn: pulumi.Input[str]


class ApplicationSecrets(pulumi.ComponentResource):
    database_secret_arn: pulumi.Output[str]
    redis_secret_arn: pulumi.Output[str]
    database_settings: pulumi.Output[dict]
    redis_settings: pulumi.Output[dict]

    def __init__(self, name: str, args: ApplicationSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:ApplicationSecrets", name, None, opts)
        self._cfg = cfg = args.config
        database = pulumi.Output.all(
            args.database_address, args.database_port, args.database_master_secret_arn
        ).apply(lambda v: {
            "engine": "postgres", "host": v[0], "port": v[1], "dbname": cfg.postgres.database_name,
            "username": cfg.postgres.username, "passwordSecretArn": v[2], "sslmode": "verify-full",
        })
        redis = pulumi.Output.all(args.redis_endpoint, args.redis_port, args.redis_auth_secret_arn).apply(
            lambda v: {"host": v[0], "port": v[1], "tls": True, "authTokenSecretArn": v[2]}
        )
        self.database_settings, self.redis_settings = database, redis
        self.database_secret_arn = self._secret(name, "database", database, args.secrets_key_arn)
        self.redis_secret_arn = self._secret(name, "redis", redis, args.secrets_key_arn)
        self.register_outputs({
            "database_secret_arn": self.database_secret_arn,
            "redis_secret_arn": self.redis_secret_arn,
        })

    def _secret(self, name: str, purpose: str, value: pulumi.Output[dict],
                key_arn: pulumi.Input[str]) -> pulumi.Output[str]:
        cfg = self._cfg
        secret = aws.secretsmanager.Secret(
            f"{name}-{purpose}",
            name=f"{cfg.name_prefix}/app/{purpose}",
            description=f"{cfg.name_prefix}: application {purpose} connection settings",
            kms_key_id=key_arn,
            recovery_window_in_days=30 if cfg.is_prod else 7,
            tags=cfg.tags(Name=f"{cfg.name_prefix}-app-{purpose}"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-{purpose}-value",
            secret_id=secret.id,
            secret_string=value.apply(json.dumps),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return secret.arn

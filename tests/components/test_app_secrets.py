from __future__ import annotations

from pulumi.runtime.sync_await import _sync_await

from components.app_secrets import ApplicationSecrets, ApplicationSecretsArgs
from stacks.offline import SECRET

SECRETS_KEY = "arn:kms:secrets"


def test_connection_settings_reference_credentials_never_embed_them(build, prod_cfg):
    seen = {}

    def factory():
        s = ApplicationSecrets("app", ApplicationSecretsArgs(
            config=prod_cfg, secrets_key_arn=SECRETS_KEY,
            database_address="db.example", database_port=5432, database_master_secret_arn="arn:db-master",
            redis_endpoint="redis.example", redis_port=6379, redis_auth_secret_arn="arn:redis-auth",
        ))
        seen["s"] = s
        return [s.database_secret_arn, s.redis_secret_arn, s.database_settings, s.redis_settings]

    plan = build(prod_cfg, factory)
    secrets = {r.inputs["name"]: r.inputs for r in plan.by_type("aws:secretsmanager/secret:Secret")}
    assert set(secrets) == {"infra-prod/app/database", "infra-prod/app/redis"}
    assert all(s["kmsKeyId"] == SECRETS_KEY and s["recoveryWindowInDays"] == 30 for s in secrets.values())
    # Secrets Manager values are secret to the engine, so the plan never shows them.
    assert all(r.inputs["secretString"] == SECRET
               for r in plan.by_type("aws:secretsmanager/secretVersion:SecretVersion"))
    db = _sync_await(seen["s"].database_settings.future())
    redis = _sync_await(seen["s"].redis_settings.future())
    assert db == {"engine": "postgres", "host": "db.example", "port": 5432, "dbname": "app",
                  "username": "app_admin", "passwordSecretArn": "arn:db-master", "sslmode": "verify-full"}
    assert redis == {"host": "redis.example", "port": 6379, "tls": True, "authTokenSecretArn": "arn:redis-auth"}

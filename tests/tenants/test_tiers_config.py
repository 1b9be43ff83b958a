"""infra:tenancy in the stack files: validated like every other key, errors naming the file and the key."""

from __future__ import annotations

import pytest

from stacks import config
from stacks.errors import ConfigError


def test_both_environments_ship_the_memo_tiers(staging_cfg, prod_cfg):
    for cfg in (staging_cfg, prod_cfg):
        tiers = cfg.tenancy.tiers
        assert list(tiers) == ["starter", "team", "pro"]
        assert [t.price_usd_per_month for t in tiers.values()] == [9, 49, 149]  # the memo's $9-$149
        # each tier up is at least as generous, and pro's work goes first
        for low, high in zip(list(tiers.values()), list(tiers.values())[1:], strict=False):
            for limit in ("concurrent_tasks", "memory_per_workspace_mb", "api_rate_per_minute",
                          "agent_minutes_per_month", "db_connections", "activity_rps"):
                assert getattr(high, limit) >= getattr(low, limit), limit
            assert high.queue_priority < low.queue_priority
    assert prod_cfg.tenancy.dumps.startswith("s3://infra-prod-")


def _tiers(c):
    return c["infra:tenancy"]["tiers"]


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: _tiers(c)["starter"].update(dbConnections=0),
     "infra:tenancy.tiers.starter.dbConnections: Input should be greater than or equal to 1"),
    (lambda c: _tiers(c)["pro"].update(statementTimeoutSecs=5),
     "infra:tenancy.tiers.pro.statementTimeoutSecs: unknown key; did you mean 'statementTimeoutSeconds'?"),
    (lambda c: _tiers(c).update({"Gold Plan": _tiers(c)["pro"]}),
     "tier name 'Gold Plan' must be lower case letters, digits and '-' (max 20)"),
    (lambda c: _tiers(c)["team"].pop("queuePriority"),
     "infra:tenancy.tiers.team.queuePriority: required key is missing; add it"),
    (lambda c: c["infra:tenancy"].update(dumps="/var/dumps"), "infra:tenancy.dumps: String should match pattern"),
    (lambda c: c["infra:tenancy"].update(tiers={}), "infra:tenancy.tiers: Dictionary should have at least 1 item"),
    (lambda c: c["infra:tenancy"].update(dumpRetentionDays=0),
     "infra:tenancy.dumpRetentionDays: Input should be greater than or equal to 1"),
    (lambda c: c["infra:tenancy"].update(dumpRetentionDays=3654),
     "infra:tenancy.dumpRetentionDays: Input should be less than or equal to 3653"),
    (lambda c: c["infra:tenancy"].update(dumpRetentionDays=True),
     "infra:tenancy.dumpRetentionDays: a number is needed"),
])
def test_a_bad_tier_names_the_file_and_the_key(write_config, mutate, expected):
    with pytest.raises(ConfigError) as caught:
        config.load("staging", write_config("staging", mutate))
    assert str(caught.value).startswith("Pulumi.staging.yaml: ") and expected in str(caught.value)


def test_the_tier_table_in_the_docs_matches_the_stack_files(staging_cfg, prod_cfg):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "tenants.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in doc.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in ("starter", "team",
                                                                                                    "pro")}
    assert set(rows) == set(staging_cfg.tenancy.tiers)
    for name, tier in staging_cfg.tenancy.tiers.items():
        price, tasks, _, api, _, priority, connections, timeout, idle, _, _, rps = rows[name]
        prod = prod_cfg.tenancy.tiers[name]
        assert (price, tasks, api, priority, rps) == (f"{tier.price_usd_per_month:g}", str(tier.concurrent_tasks),
                                                      f"{tier.api_rate_per_minute:,}", str(tier.queue_priority),
                                                      f"{tier.activity_rps:g}"), name
        assert connections == f"{tier.db_connections} (prod {prod.db_connections})", name
        assert (timeout, idle) == (f"{tier.statement_timeout_seconds:g} s", f"{tier.idle_in_transaction_seconds:g} s")


def test_one_parser_names_the_dumps_bucket_the_stack_creates_and_offboarding_writes_to(write_config):
    cfg = config.load("staging", write_config("staging", lambda c: c["infra:tenancy"].update(
        dumps="s3://acme-offboarding.eu/tenants/dumps")))
    assert (cfg.tenancy.dumps_bucket, cfg.tenancy.dumps_prefix) == ("acme-offboarding.eu", "tenants/dumps")
    bare = config.load("staging", write_config("staging", lambda c: c["infra:tenancy"].update(dumps="s3://acme-x")))
    assert (bare.tenancy.dumps_bucket, bare.tenancy.dumps_prefix) == ("acme-x", "")


def test_dumps_are_kept_a_year_unless_set_and_prod_keeps_them_at_least_30_days(write_config):
    unset = config.load("prod", write_config("prod", lambda c: c["infra:tenancy"].pop("dumpRetentionDays")))
    assert unset.tenancy.dump_retention_days == 365
    with pytest.raises(ConfigError) as caught:
        config.load("prod", write_config("prod", lambda c: c["infra:tenancy"].update(dumpRetentionDays=7)))
    assert str(caught.value).startswith("Pulumi.prod.yaml: infra:tenancy.dumpRetentionDays: prod keeps")
    assert config.load("staging", write_config("staging", lambda c: c["infra:tenancy"].update(
        dumpRetentionDays=7))).tenancy.dump_retention_days == 7


def test_the_planned_dumps_bucket_is_accepted_by_s3s_api_and_encrypts_what_anyone_writes(cloud, staging_cfg):
    """The plan's settings, sent as the provider sends them (botocore checks each against S3's model), to moto's
    S3 server: a dump written without naming a key is still SSE-KMS with the data key, and versioned."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = staging_cfg.tenancy.dumps_bucket
    data_key = boto3.client("kms", region_name="us-east-1").describe_key(
        KeyId=f"alias/{staging_cfg.name_prefix}-data")["KeyMetadata"]["Arn"]
    put = s3.put_object(Bucket=bucket, Key="offboarded/acme/x.dump", Body=b"PGDMP")
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == data_key and put["VersionId"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    [expire, _] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert expire["Expiration"]["Days"] == staging_cfg.tenancy.dump_retention_days == 90
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4

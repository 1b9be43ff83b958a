"""The AWS runbooks end to end: the real CLI, boto3 over HTTP to moto's server on loopback.

Where real AWS does something moto does not (a failover moves the primary to the standby's AZ and
logs an event; a reboot can hang), the test changes moto's in-process backend, i.e. the AWS side,
never the runbook's client.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import boto3
import pytest

from runbooks import rds_failover
from runbooks.rds_failover import DbState

ENV_TAGS = {"staging": [{"Key": "environment", "Value": "staging"}, {"Key": "project", "Value": "infra"}],
            "prod": [{"Key": "environment", "Value": "prod"}, {"Key": "project", "Value": "infra"}]}


def aws_client(service: str):
    """The test's own view of moto (seeding, checking), built once per service: clients are slow to build."""
    return _client(service, os.environ["AWS_ENDPOINT_URL"])


@functools.cache
def _client(service: str, endpoint: str):
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint)


def audit_lines(state_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (state_dir / "audit.jsonl").read_text().splitlines()]


def incident_log(state_dir: Path) -> str:
    return (state_dir / "INCIDENT_LOG.md").read_text()


# --- rds-failover ------------------------------------------------------------------------------------


def create_db(identifier: str = "infra-staging-postgres", *, multi_az: bool = True, env: str = "staging") -> dict:
    return aws_client("rds").create_db_instance(
        DBInstanceIdentifier=identifier, Engine="postgres", DBInstanceClass="db.t4g.medium",
        MasterUsername="app_admin", ManageMasterUserPassword=True, AllocatedStorage=50, MultiAZ=multi_az,
        AvailabilityZone="us-east-1a", Tags=ENV_TAGS[env],
    )["DBInstance"]


@pytest.fixture
def rds_fails_over(aws, monkeypatch):
    """What AWS does and moto does not: the primary moves to the other AZ and RDS logs the failover."""
    from moto.rds.models import Event, RDSBackend

    original = RDSBackend.reboot_db_instance
    monkeypatch.setitem(Event.EVENT_MAP, "DB_INSTANCE_FAILOVER",
                        {"Categories": ["failover"], "Message": "Multi-AZ instance failover completed"})

    def reboot(self, db_instance_identifier):
        db = original(self, db_instance_identifier)
        db.availability_zone = "us-east-1b"
        db.add_event("DB_INSTANCE_FAILOVER")
        return db

    monkeypatch.setattr(RDSBackend, "reboot_db_instance", reboot)


@pytest.fixture
def rds_reboot_hangs(aws, monkeypatch):
    """A reboot that never finishes: the instance stays 'rebooting'."""
    from moto.rds.models import RDSBackend

    original = RDSBackend.reboot_db_instance

    def reboot(self, db_instance_identifier):
        db = original(self, db_instance_identifier)
        db.status = "rebooting"
        return db

    monkeypatch.setattr(RDSBackend, "reboot_db_instance", reboot)


def test_rds_failover_moves_the_primary_and_records_it(rds_fails_over, infra, state_dir):
    create_db()

    result = infra("runbook", "run", "rds-failover", "--env", "staging", "--timeout", "5", "--yes")

    assert result.exit_code == 0, result.output
    assert "failed over: available again; primary AZ us-east-1a -> us-east-1b" in result.stdout
    log = incident_log(state_dir)
    assert "`rds://infra-staging-postgres`" in log
    assert "rebooted infra-staging-postgres with failover (primary was in us-east-1a)" in log
    assert "Multi-AZ instance failover completed" in log  # the RDS events of the window
    assert "DB instance created" not in log  # ... and only of the window
    [audit] = audit_lines(state_dir)
    assert audit["exit_code"] == 0 and audit["runbook"] == "rds-failover" and audit["environment"] == "staging"
    assert audit["target"] == "rds://infra-staging-postgres" and len(audit["actions"]) == 1


def test_rds_failover_where_the_az_does_not_change_leaves_a_follow_up(aws, infra, state_dir):
    create_db()  # moto's own reboot: available at once, primary AZ unchanged

    result = infra("runbook", "run", "rds-failover", "--env", "staging", "--timeout", "5", "--yes")

    assert result.exit_code == 0, result.output
    assert "- [ ] the primary is still in us-east-1a" in incident_log(state_dir)


def test_rds_failover_dry_run_observes_and_changes_nothing(rds_fails_over, infra, state_dir):
    create_db()

    result = infra("runbook", "run", "rds-failover", "--env", "staging", "--dry-run")

    assert result.exit_code == 0, result.output
    assert "decision: go ahead (Multi-AZ and available; primary in us-east-1a" in result.stdout
    assert "[3/5] failover: reboot the instance with ForceFailover" in result.stdout
    assert "stopped before the first change; nothing was changed" in result.stdout
    assert aws_client("rds").describe_db_instances()["DBInstances"][0]["AvailabilityZone"] == "us-east-1a"
    assert not state_dir.exists()


def test_rds_failover_refuses_a_single_az_database(rds_fails_over, infra, state_dir):
    create_db(multi_az=False)

    result = infra("runbook", "run", "rds-failover", "--env", "staging", "--timeout", "5", "--yes")

    assert result.exit_code == 4, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "refused: it is single-AZ" in result.stderr and "nothing was changed" in result.stderr
    assert aws_client("rds").describe_db_instances()["DBInstances"][0]["AvailabilityZone"] == "us-east-1a"
    log = incident_log(state_dir)
    assert "**Stopped at:** step `check`" in log and "would be an outage" in log
    assert "none: nothing was changed" in log
    assert audit_lines(state_dir)[0]["exit_code"] == 4


def test_rds_failover_that_never_becomes_available_times_out_with_next_action(rds_reboot_hangs, infra, state_dir):
    import time

    create_db()
    started = time.monotonic()

    result = infra("runbook", "run", "rds-failover", "--env", "staging", "--timeout", "1", "--yes")

    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 1 + 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "rds://infra-staging-postgres not available within 1 s" in result.stderr
    assert "aws rds describe-events" in result.stderr  # the next action
    log = incident_log(state_dir)
    assert "**Outcome:** failed:" in log and "- [ ] next action: read the RDS events" in log
    assert "RDS events since the run started: 0" in log
    assert aws_client("rds").describe_db_instances()["DBInstances"][0]["DBInstanceStatus"] == "rebooting"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "dev"], "unknown environment 'dev'"),
        (["--env", "staging", "--target", "rds://nope"], "DBInstance nope not found"),
        (["--env", "staging", "--target", "docker://temporal"], "target 'docker://temporal' has an unknown form"),
        (["--env", "staging", "--target", "rds://no_underscores"], "does not name a resource"),
        (["--env", "staging", "--health", "tcp://127.0.0.1:5432"], "rds-failover takes no --health"),
        (["--env", "staging", "--grace", "5"], "rds-failover takes no --grace"),
        # a prod database named on a staging run: refused, whatever its state
        (["--env", "staging", "--target", "rds://infra-prod-postgres"],
         "RDS instance infra-prod-postgres belongs to environment 'prod', not 'staging'"),
    ],
)
def test_rds_failover_bad_input_is_one_line_exit_2_and_touches_nothing(rds_fails_over, infra, state_dir, args,
                                                                          message):
    create_db()
    create_db("infra-prod-postgres", env="prod")

    result = infra("runbook", "run", "rds-failover", *args, "--yes")

    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert {db["AvailabilityZone"] for db in aws_client("rds").describe_db_instances()["DBInstances"]} == {
        "us-east-1a"}
    assert not state_dir.exists()


def test_rds_failover_in_prod_asks_to_retype_the_environment(rds_fails_over, infra, state_dir, monkeypatch):
    monkeypatch.setattr("cli.confirm.interactive", lambda: True)
    create_db("infra-prod-postgres", env="prod")

    result = infra("runbook", "run", "rds-failover", "--env", "prod", "--timeout", "5", input="staging\n")

    assert result.exit_code == 1, result.output
    assert "aborted by the operator before any change" in result.stderr
    assert aws_client("rds").describe_db_instances()["DBInstances"][0]["AvailabilityZone"] == "us-east-1a"

    result = infra("runbook", "run", "rds-failover", "--env", "prod", "--timeout", "5", input="prod\n")

    assert result.exit_code == 0, result.output
    assert aws_client("rds").describe_db_instances()["DBInstances"][0]["AvailabilityZone"] == "us-east-1b"


def db(status: str = "available", multi_az: bool = True, cluster: str | None = None) -> DbState:
    return DbState("infra-staging-postgres", status, multi_az, "us-east-1a", "us-east-1b" if multi_az else None,
                   cluster)


@pytest.mark.parametrize(
    ("state", "proceed", "reason"),
    [
        (db(), True, "Multi-AZ and available; primary in us-east-1a, standby in us-east-1b"),
        (db(multi_az=False), False, "single-AZ: there is no standby"),
        (db(status="rebooting"), False, "status is 'rebooting', not 'available'"),
        (db(status="modifying"), False, "status is 'modifying'"),
        (db(status="rebooting", multi_az=False), False, "single-AZ"),  # the lasting reason first
        (db(cluster="infra-aurora"), False, "member of Aurora cluster infra-aurora"),
    ],
)
def test_rds_decide(state, proceed, reason):
    verdict = rds_failover.decide(state)
    assert verdict.proceed is proceed
    assert reason in verdict.reason


# --- redis-failover -----------------------------------------------------------------------------------
# moto has no TestFailover: that one call goes to botocore's Stubber (params and response checked against
# the API model); every describe goes to moto, where the test then promotes the replica as AWS would.


def create_group(group_id: str = "infra-staging-redis", *, replicas: int = 1, failover: bool = True,
                 env: str = "staging") -> None:
    aws_client("elasticache").create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="test", Engine="redis",
        CacheNodeType="cache.t4g.small", AutomaticFailoverEnabled=failover, MultiAZEnabled=failover,
        ReplicasPerNodeGroup=replicas,  # moto sizes a cluster-mode-disabled group by this, not NumCacheClusters
        PreferredCacheClusterAZs=["us-east-1a", "us-east-1b"], Tags=ENV_TAGS[env],
    )


def moto_group(group_id: str):
    from moto.elasticache.models import elasticache_backends

    return elasticache_backends["123456789012"]["us-east-1"].replication_groups[group_id]


@pytest.fixture
def stubbed_test_failover(aws, monkeypatch):
    """Route the runbook's ElastiCache client's test_failover through a Stubber; list the stubbers."""
    from botocore.stub import Stubber

    import runbooks.aws_targets as aws_targets

    real_client, stubbers = aws_targets.client, []

    def client(service, region=None, **kwargs):
        made = real_client(service, region, **kwargs)
        if service == "elasticache":
            stubbed = real_client(service, region, **kwargs)
            stubber = Stubber(stubbed)
            stubber.add_response("test_failover", {"ReplicationGroup": {
                "ReplicationGroupId": "infra-staging-redis", "Status": "modifying"}},
                expected_params={"ReplicationGroupId": "infra-staging-redis", "NodeGroupId": "0001"})
            stubber.activate()
            stubbed.meta.events.register("after-call.elasticache.TestFailover", _promote_replica)
            made.test_failover = stubbed.test_failover
            stubbers.append(stubber)
        return made

    monkeypatch.setattr(aws_targets, "client", client)
    return stubbers


def _promote_replica(**_) -> None:
    """What AWS does after TestFailover: the replica becomes the primary."""
    for member in moto_group("infra-staging-redis").node_groups[0]["node_group_members"]:
        member["current_role"] = "replica" if member["current_role"] == "primary" else "primary"


def _failover_hangs(**_) -> None:
    moto_group("infra-staging-redis").status = "modifying"


def test_redis_failover_promotes_the_replica_and_records_it(stubbed_test_failover, infra, state_dir):
    create_group()

    result = infra("runbook", "run", "redis-failover", "--env", "staging", "--timeout", "5", "--yes")

    assert result.exit_code == 0, result.output
    [stubber] = stubbed_test_failover
    stubber.assert_no_pending_responses()  # TestFailover was called, once, with the group's node group
    out = " ".join(result.stdout.split())
    assert ("primary infra-staging-redis-001 (us-east-1a) -> infra-staging-redis-002 (us-east-1b)") in out
    log = incident_log(state_dir)
    assert "started TestFailover of node group 0001 (primary was infra-staging-redis-001 (us-east-1a))" in log
    [audit] = audit_lines(state_dir)
    assert audit["exit_code"] == 0 and audit["target"] == "elasticache://infra-staging-redis"


def test_redis_failover_that_never_becomes_available_times_out_with_next_action(stubbed_test_failover, infra,
                                                                              state_dir, monkeypatch):
    import time

    create_group()
    # What AWS does when a failover goes wrong: the group stays 'modifying' and no replica is promoted.
    monkeypatch.setitem(globals(), "_promote_replica", _failover_hangs)
    started = time.monotonic()

    result = infra("runbook", "run", "redis-failover", "--env", "staging", "--timeout", "1", "--yes")

    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 1 + 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "elasticache://infra-staging-redis not available within 1 s" in result.stderr
    assert "aws elasticache describe-events" in result.stderr  # the next action
    log = incident_log(state_dir)
    assert "**Outcome:** failed:" in log and "- [ ] next action: read the ElastiCache events" in log
    assert "started TestFailover of node group 0001" in log
    assert moto_group("infra-staging-redis").status == "modifying"


@pytest.mark.parametrize(
    ("group", "reason"),
    [
        ({"replicas": 0}, "has 1 node(s): no replica to promote"),
        ({"failover": False}, "automatic failover is disabled"),
    ],
)
def test_redis_failover_refuses_when_unsafe(stubbed_test_failover, infra, state_dir, group, reason):
    create_group(**group)

    result = infra("runbook", "run", "redis-failover", "--env", "staging", "--timeout", "5", "--yes")

    assert result.exit_code == 4, result.output
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(AssertionError):  # TestFailover was never called
        stubbed_test_failover[0].assert_no_pending_responses()
    assert "**Stopped at:** step `check`" in incident_log(state_dir)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "elasticache://nope"], "Replication group nope not found"),
        (["--target", "rds://infra-staging-redis"], "has an unknown form for this runbook"),
        (["--target", "elasticache://infra-prod-redis"], "belongs to environment 'prod', not 'staging'"),
    ],
)
def test_redis_failover_bad_input_is_one_line_exit_2(stubbed_test_failover, infra, state_dir, args, message):
    create_group("infra-prod-redis", env="prod")

    result = infra("runbook", "run", "redis-failover", "--env", "staging", *args, "--yes")

    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not state_dir.exists()


def group(status="available", failover="enabled", members=2, primary=True):
    from runbooks.redis_failover import GroupState, Member

    roles = (["primary"] if primary else ["replica"]) + ["replica"] * (members - 1)
    return GroupState("infra-staging-redis", status, failover, "0001" if members else None,
                      tuple(Member(f"n{i}", role, "us-east-1a") for i, role in enumerate(roles[:members])))


@pytest.mark.parametrize(
    ("state", "proceed", "reason"),
    [
        (group(), True, "1 replica(s); primary n0"),
        (group(members=3), True, "2 replica(s)"),
        (group(members=1), False, "no replica to promote"),
        (group(members=0), False, "no replica to promote"),
        (group(failover="disabled"), False, "automatic failover is disabled"),
        (group(failover="enabling"), False, "automatic failover is enabling"),
        (group(status="modifying"), False, "status is 'modifying'"),
        (group(status="modifying", members=1), False, "no replica"),  # the lasting reason first
        (group(primary=False), False, "no member reports the primary role"),
    ],
)
def test_redis_decide(state, proceed, reason):
    from runbooks import redis_failover

    verdict = redis_failover.decide(state)
    assert verdict.proceed is proceed
    assert reason in verdict.reason


# --- rotate-secret ------------------------------------------------------------------------------------
# Without a rotation function moto rotates at once: the new version becomes AWSCURRENT and the old one
# AWSPREVIOUS, as AWS does when the function (or RDS, for its managed secret) finishes.

TOKEN = "s3cr3t-auth-token-value-4f1c"  # must never be shown or written


def master_secret() -> str:
    """The env database's RDS-managed secret, with rotation configured (as RDS does; moto does not)."""
    arn = create_db()["MasterUserSecret"]["SecretArn"]
    aws_client("secretsmanager").rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 7},
                                               RotateImmediately=False)
    return arn


def create_secret(name: str = "infra-staging/redis/auth", env: str = "staging") -> str:
    return aws_client("secretsmanager").create_secret(Name=name, SecretString=json.dumps({"authToken": TOKEN}),
                                                      Tags=ENV_TAGS[env])["ARN"]


def stages(secret: str) -> dict[str, list[str]]:
    found = aws_client("secretsmanager").list_secret_version_ids(SecretId=secret)["Versions"]
    return {v["VersionId"]: v["VersionStages"] for v in found}


def test_rotate_secret_defaults_to_the_database_master_secret(aws, infra, state_dir):
    arn = master_secret()
    value = aws_client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    [old] = [v for v, labels in stages(arn).items() if "AWSCURRENT" in labels]

    result = infra("runbook", "run", "rotate-secret", "--env", "staging", "--timeout", "5", "--yes")

    assert result.exit_code == 0, result.output
    [new] = [v for v, labels in stages(arn).items() if "AWSCURRENT" in labels]
    assert new != old and stages(arn)[old] == ["AWSPREVIOUS"]
    log, audit = incident_log(state_dir), (state_dir / "audit.jsonl").read_text()
    assert f"`secretsmanager://{aws_client('secretsmanager').describe_secret(SecretId=arn)['Name']}`" in log
    assert f"started rotation: new version {new} (AWSCURRENT was {old})" in log
    assert f"AWSCURRENT {new}; AWSPREVIOUS {old}" in log
    assert f"new version {new}" in json.loads(audit)["actions"][0]
    for text in (log, audit, result.output):
        assert value not in text and "password" not in text


def test_rotate_secret_refuses_a_secret_without_rotation(aws, infra, state_dir):
    arn = create_secret()

    result = infra("runbook", "run", "rotate-secret", "--env", "staging", "--target",
                   "secretsmanager://infra-staging/redis/auth", "--yes")

    assert result.exit_code == 4, result.output
    assert "refused: no rotation is configured" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert len(stages(arn)) == 1
    everything = incident_log(state_dir) + (state_dir / "audit.jsonl").read_text() + result.output
    assert TOKEN not in everything


def test_rotate_secret_refuses_while_a_rotation_is_in_progress(aws, infra, state_dir):
    arn = master_secret()
    aws_client("secretsmanager").put_secret_value(SecretId=arn, SecretString="{}", VersionStages=["AWSPENDING"])
    before = stages(arn)

    result = infra("runbook", "run", "rotate-secret", "--env", "staging", "--yes")

    assert result.exit_code == 4, result.output
    assert "a rotation is already in progress" in result.stderr
    assert stages(arn) == before


def rotation_never_finishes(monkeypatch) -> None:
    """From now on, a rotation function that never finishes: the new version stays AWSPENDING."""
    from moto.secretsmanager.models import SecretsManagerBackend

    def rotate(self, secret_id, client_request_token=None, **_):
        secret = self.secrets[secret_id]
        secret.versions[client_request_token] = {"createdate": 0, "version_id": client_request_token,
                                                 "version_stages": ["AWSPENDING"]}
        return json.dumps({"ARN": secret.arn, "Name": secret.name, "VersionId": client_request_token})

    monkeypatch.setattr(SecretsManagerBackend, "rotate_secret", rotate)


def test_rotate_secret_that_never_finishes_times_out_with_next_action(aws, infra, state_dir, monkeypatch):
    arn = master_secret()
    rotation_never_finishes(monkeypatch)

    result = infra("runbook", "run", "rotate-secret", "--env", "staging", "--timeout", "0.5", "--yes")

    assert result.exit_code == 1, result.output
    assert "not AWSCURRENT within 0.5 s (AWSPENDING)" in result.stderr
    assert "cancel-rotate-secret" in result.stderr
    assert "- [ ] next action: read the rotation's logs" in incident_log(state_dir)
    assert sorted(label for labels in stages(arn).values() for label in labels) == [
        "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "secretsmanager://nope"], "can't find the specified secret"),
        (["--target", "secretsmanager://infra-prod/redis/auth"], "belongs to environment 'prod', not 'staging'"),
        (["--target", "rds://infra-staging-postgres"], "has an unknown form for this runbook"),
        ([], "DBInstance infra-staging-postgres not found"),  # default: the env's database secret
    ],
)
def test_rotate_secret_bad_input_is_one_line_exit_2(aws, infra, state_dir, args, message):
    create_secret("infra-prod/redis/auth", env="prod")

    result = infra("runbook", "run", "rotate-secret", "--env", "staging", *args, "--yes")

    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not state_dir.exists()


def test_rotate_secret_of_another_environments_database_is_refused(aws, infra, state_dir):
    arn = create_db("infra-prod-postgres", env="prod")["MasterUserSecret"]["SecretArn"]

    result = infra("runbook", "run", "rotate-secret", "--env", "staging", "--target", f"secretsmanager://{arn}",
                   "--yes")

    assert result.exit_code == 2, result.output
    assert "RDS instance infra-prod-postgres belongs to environment 'prod'" in result.stderr


def secret(rotation=True, pending=False, deleted=False, current=True, lambda_arn=None):
    from runbooks.rotate_secret import SecretState

    stages = {"v1": ("AWSCURRENT",) if current else ()}
    if pending:
        stages["v2"] = ("AWSPENDING",)
    return SecretState("s", rotation, lambda_arn, "rds" if rotation and not lambda_arn else None, deleted, stages)


@pytest.mark.parametrize(
    ("state", "proceed", "reason"),
    [
        (secret(), True, "rotation configured (managed by rds); current version v1"),
        (secret(rotation=False, lambda_arn="arn:fn"), True, "function arn:fn"),
        (secret(rotation=False), False, "no rotation is configured"),
        (secret(pending=True), False, "version v2 is AWSPENDING"),
        (secret(rotation=False, pending=True), False, "already in progress"),
        (secret(deleted=True), False, "scheduled for deletion"),
        (secret(current=False), False, "no AWSCURRENT version"),
    ],
)
def test_rotate_decide(state, proceed, reason):
    from runbooks import rotate_secret

    verdict = rotate_secret.decide(state)
    assert verdict.proceed is proceed
    assert reason in verdict.reason


def test_a_pending_label_on_the_current_version_is_not_a_rotation_in_progress():
    from runbooks.rotate_secret import SecretState

    assert SecretState("s", True, None, "rds", False, {"v1": ("AWSCURRENT", "AWSPENDING")}).pending is None


@pytest.mark.parametrize(
    ("versions", "problem"),
    [
        ({"new": ("AWSCURRENT",), "old": ("AWSPREVIOUS",)}, None),
        ({"new": ("AWSPENDING",), "old": ("AWSCURRENT",)}, "the new version new is not AWSCURRENT"),
        ({"new": ("AWSCURRENT",), "old": ()}, "the old version old is not AWSPREVIOUS (no label)"),
    ],
)
def test_rotate_check_stages(versions, problem):
    from runbooks.rotate_secret import check_stages

    assert check_stages(versions, "new", "old") == problem


def test_a_secret_named_by_its_arn_and_by_its_name_is_one_lock(aws, infra, state_dir):
    from runbooks.lock import target_lock

    arn = master_secret()
    name = aws_client("secretsmanager").describe_secret(SecretId=arn)["Name"]
    before = stages(arn)
    # A run on the secret by its ARN holds the machine's lock, keyed by what AWS says the secret is.
    with target_lock(f"secretsmanager://{arn}", arn, runbook="rotate-secret"):
        result = infra("runbook", "run", "rotate-secret", "--env", "staging", "--target",
                       f"secretsmanager://{name}", "--timeout", "5", "--yes")

    assert result.exit_code == 4, result.output
    assert f"secretsmanager://{name} is locked by " in result.stderr
    assert f"as secretsmanager://{arn}) since" in result.stderr
    assert stages(arn) == before  # nothing rotated


def test_an_rds_instance_locks_on_its_arn(rds_fails_over, infra, state_dir):
    from runbooks.lock import target_lock

    arn = create_db()["DBInstanceArn"]
    with target_lock("rds://other-name-for-it", arn, runbook="rds-failover"):
        result = infra("runbook", "run", "rds-failover", "--env", "staging", "--timeout", "5", "--yes")
    assert result.exit_code == 4, result.output
    assert "rds://infra-staging-postgres is locked by " in result.stderr

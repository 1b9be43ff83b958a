"""AWS targets of the runbooks: ``rds://IDENTIFIER``, ``elasticache://REPLICATION_GROUP_ID`` and
``secretsmanager://NAME_OR_ARN`` (not ``secret://``: the redaction masks whatever follows ``secret:``).
Every call goes through ``stacks.aws_clients`` (bounded retries, timeouts, one-line errors); every
target must carry the run's ``environment`` tag, so a staging typo can never fail over prod."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runbooks.targets import TargetRef
from runbooks.targets.base import Target
from runbooks.waiting import Backoff, Deadline
from stacks.aws_clients import aws_errors, call, client
from stacks.errors import InvalidInput

FORMS = {
    "rds": "rds://IDENTIFIER",
    "elasticache": "elasticache://REPLICATION_GROUP_ID",
    "secretsmanager": "secretsmanager://NAME_OR_ARN",
}
_NAMES = {
    "rds": re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$"),
    "elasticache": re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,39}$"),
    "secretsmanager": re.compile(r"^[A-Za-z0-9/_+=.@:!-]{1,2048}$"),  # names (RDS-managed: rds!db-...), ARNs
}
# Waiters poll at most this often and this seldom: often enough to notice recovery, seldom enough to
# stay far below the API rate limits; tiny timeouts (tests) still get ten polls.
MIN_DELAY_S, MAX_DELAY_S = 0.05, 30.0
SECRET_POLL = Backoff(first=0.2, factor=2.0, cap=5.0)


@dataclass(frozen=True)
class AwsTargetRef(TargetRef):
    """A TargetRef that also knows where to look (region) and whose it must be (environment)."""

    region: str | None = None
    environment: str | None = None
    profile: str | None = None  # the environment's aws:profile, when it names one

    @classmethod
    def of_environment(cls, cfg: Any, scheme: str, name: str) -> AwsTargetRef:
        """``name`` where the environment ``cfg`` lives (its region and profile), and which it must own."""
        return cls(scheme, name, region=cfg.region, environment=cfg.environment, profile=getattr(cfg, "profile", None))


def parse_aws_target(ref: str, scheme: str, *, region: str | None, environment: str,
                     profile: str | None = None) -> AwsTargetRef:
    got, sep, name = ref.partition("://")
    if not sep or got != scheme:
        raise InvalidInput(f"target {ref!r} has an unknown form for this runbook", hint=f"use {FORMS[scheme]}")
    if not _NAMES[scheme].match(name):
        raise InvalidInput(f"target {ref!r} does not name a resource", hint=f"use {FORMS[scheme]}")
    return AwsTargetRef(scheme, name, region=region, environment=environment, profile=profile)


def waiter_config(deadline: Deadline) -> dict[str, float | int]:
    """Delay/MaxAttempts whose worst case ((attempts - 1) * delay) stays within the deadline."""
    remaining = deadline.remaining()
    delay = min(MAX_DELAY_S, max(MIN_DELAY_S, remaining / 10))
    return {"Delay": delay, "MaxAttempts": max(1, int(remaining // delay) + 1)}


def tag_dict(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or ()}


class AwsTarget(Target):
    service: str
    kind: str  # for messages: "RDS instance", ...

    def __init__(self, ref: AwsTargetRef) -> None:
        self.aws_ref = ref
        self.name = ref.name
        self.region = ref.region
        self.environment = ref.environment
        self.ref = str(ref)
        self.client = client(self.service, ref.region, **({"profile": ref.profile} if ref.profile else {}))

    def _check_environment(self, tags: dict[str, str]) -> None:
        owner = tags.get("environment")
        if self.environment and owner != self.environment:
            whose = f"belongs to environment {owner!r}" if owner else "has no environment tag"
            raise InvalidInput(f"{self.kind} {self.name} {whose}, not {self.environment!r}; nothing was touched",
                               hint=f"check --env, or pass a --target of {self.environment}")

    def _wait(self, waiter_name: str, deadline: Deadline, **kwargs: Any) -> tuple[bool, str]:
        from botocore.exceptions import WaiterError

        waiter = self.client.get_waiter(waiter_name)
        with aws_errors(f"wait for {self.kind} {self.name}"):  # WaiterError is a BotoCoreError: catch it first
            try:
                waiter.wait(WaiterConfig=waiter_config(deadline), **kwargs)
            except WaiterError as exc:
                return False, f"{exc.kwargs.get('reason', exc)} after {deadline.elapsed():.1f} s"
        return True, f"available after {deadline.elapsed():.1f} s"


class RdsInstance(AwsTarget):
    service, kind = "rds", "RDS instance"

    def describe(self) -> dict[str, Any]:
        found = call(f"describe {self.kind} {self.name}", self.client.describe_db_instances,
                     DBInstanceIdentifier=self.name)
        return found["DBInstances"][0]

    def ensure_exists(self) -> None:
        db = self.describe()
        self.resolved = db.get("DBInstanceArn")
        self._check_environment(tag_dict(db.get("TagList")))

    def reboot_with_failover(self) -> dict[str, Any]:
        return call(f"reboot {self.kind} {self.name} with failover", self.client.reboot_db_instance,
                    DBInstanceIdentifier=self.name, ForceFailover=True)["DBInstance"]

    def wait_available(self, deadline: Deadline) -> tuple[bool, str]:
        return self._wait("db_instance_available", deadline, DBInstanceIdentifier=self.name)

    def events(self, since: datetime, until: datetime) -> list[str]:
        found = call(f"read the RDS events of {self.name}", self.client.describe_events,
                     SourceIdentifier=self.name, SourceType="db-instance", StartTime=since, EndTime=until)
        # Filtered again here: the window is the evidence, whatever the endpoint returns.
        return [f"{e['Date']:%H:%M:%S} {e['Message']}" for e in found["Events"] if since <= e["Date"] <= until]

    @property
    def next_action(self) -> str:
        return (f"read the RDS events (`aws rds describe-events --source-type db-instance --source-identifier "
                f"{self.name} --duration 60`) and the instance's status in the console; if it stays "
                "unavailable, open an AWS support case (severity by environment)")


def connect_rds(ref: AwsTargetRef) -> RdsInstance:
    return RdsInstance(ref)


class ReplicationGroup(AwsTarget):
    service, kind = "elasticache", "replication group"

    def describe(self) -> dict[str, Any]:
        found = call(f"describe {self.kind} {self.name}", self.client.describe_replication_groups,
                     ReplicationGroupId=self.name)
        return found["ReplicationGroups"][0]

    def ensure_exists(self) -> None:
        group = self.describe()
        self.resolved = group["ARN"]
        tags = call(f"read the tags of {self.kind} {self.name}", self.client.list_tags_for_resource,
                    ResourceName=group["ARN"])
        self._check_environment(tag_dict(tags.get("TagList")))

    def test_failover(self, node_group_id: str) -> dict[str, Any]:
        return call(f"test failover of {self.kind} {self.name}", self.client.test_failover,
                    ReplicationGroupId=self.name, NodeGroupId=node_group_id)["ReplicationGroup"]

    def wait_available(self, deadline: Deadline) -> tuple[bool, str]:
        return self._wait("replication_group_available", deadline, ReplicationGroupId=self.name)

    @property
    def next_action(self) -> str:
        return (f"read the ElastiCache events (`aws elasticache describe-events --source-type replication-group "
                f"--source-identifier {self.name} --duration 60`) and the group's node status; if a node stays "
                "unavailable, open an AWS support case")


def connect_elasticache(ref: AwsTargetRef) -> ReplicationGroup:
    return ReplicationGroup(ref)


class Secret(AwsTarget):
    service, kind = "secretsmanager", "secret"

    def describe(self) -> dict[str, Any]:
        return call(f"describe {self.kind} {self.name}", self.client.describe_secret, SecretId=self.name)

    def ensure_exists(self) -> None:
        secret = self.describe()
        self.resolved = secret.get("ARN")
        tags = tag_dict(secret.get("Tags"))
        database = tags.get("aws:rds:primaryDBInstanceArn")
        if "environment" not in tags and database:
            # An RDS-managed master secret carries RDS's tags, not ours: it is its database's environment's.
            db_ref = AwsTargetRef("rds", database.rsplit(":", 1)[-1], region=self.region,
                                  environment=self.environment, profile=self.aws_ref.profile)
            RdsInstance(db_ref).ensure_exists()
            return
        self._check_environment(tags)

    def versions(self) -> dict[str, tuple[str, ...]]:
        """version id -> staging labels (never the values: this target never reads one)."""
        found = call(f"list the versions of {self.kind} {self.name}", self.client.list_secret_version_ids,
                     SecretId=self.name, MaxResults=100)
        return {v["VersionId"]: tuple(v.get("VersionStages", ())) for v in found["Versions"]}

    def rotate(self) -> str:
        return call(f"rotate {self.kind} {self.name}", self.client.rotate_secret, SecretId=self.name,
                    RotateImmediately=True)["VersionId"]

    def wait_current(self, version_id: str, deadline: Deadline) -> tuple[bool, dict[str, tuple[str, ...]]]:
        """Wait until ``version_id`` is AWSCURRENT (the rotation function finished), within the deadline."""
        intervals = SECRET_POLL.intervals()
        while True:
            versions = self.versions()
            if "AWSCURRENT" in versions.get(version_id, ()) or deadline.expired():
                return "AWSCURRENT" in versions.get(version_id, ()), versions
            deadline.sleep(next(intervals))

    @property
    def next_action(self) -> str:
        return (f"read the rotation's logs (the rotation function's CloudWatch log group, or for an RDS-managed "
                f"secret the RDS events); a version left AWSPENDING blocks the next rotation: finish or cancel it "
                f"(`aws secretsmanager cancel-rotate-secret --secret-id {self.name}`) once the cause is fixed")


def connect_secret(ref: AwsTargetRef) -> Secret:
    return Secret(ref)

"""rotate-secret: rotate a secret now, and prove the new version is current and the old one previous.

Default: the RDS-managed master password of the environment's database, the one credential the program
creates with rotation already configured (by RDS). The ``app/*`` secrets hold connection settings, not
credentials, and ``redis/auth`` has no rotation function (rotating it also needs ElastiCache's token
updated): those are refused as "no rotation configured" rather than half-rotated. Only version ids are
ever read or recorded, never a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runbooks.aws_steps import Check, Verdict, resolve_aws
from runbooks.aws_targets import FORMS, AwsTargetRef, RdsInstance, Secret
from runbooks.engine import Run, Runbook, RunInputs, Step, StepResult, StepStatus
from runbooks.targets import ENGINES
from runbooks.waiting import Deadline
from stacks.errors import InvalidInput

ENGINES["secretsmanager"] = "runbooks.aws_targets:connect_secret"
DEFAULT_TIMEOUT_S = 300.0  # a rotation function may run up to its Lambda timeout; RDS rotates in about a minute


@dataclass(frozen=True)
class SecretState:
    name: str
    rotation_enabled: bool
    rotation_lambda: str | None
    owning_service: str | None  # rds for an RDS-managed secret
    deleted: bool
    stages: dict[str, tuple[str, ...]] = field(default_factory=dict)  # version id -> labels

    def labelled(self, label: str) -> str | None:
        return next((v for v, labels in self.stages.items() if label in labels), None)

    @property
    def pending(self) -> str | None:
        """A version AWSPENDING but not AWSCURRENT: a rotation that has not finished."""
        version = self.labelled("AWSPENDING")
        return version if version and "AWSCURRENT" not in self.stages[version] else None

    @classmethod
    def from_api(cls, secret: dict[str, Any]) -> SecretState:
        stages = {v: tuple(labels) for v, labels in (secret.get("VersionIdsToStages") or {}).items()}
        return cls(secret["Name"], bool(secret.get("RotationEnabled")), secret.get("RotationLambdaARN") or None,
                   secret.get("OwningService"), secret.get("DeletedDate") is not None, stages)


def decide(secret: SecretState) -> Verdict:
    """Pure: rotate only a live secret with rotation configured and no rotation already under way."""
    if secret.deleted:
        return Verdict(False, "it is scheduled for deletion")
    if secret.pending:
        return Verdict(False, f"a rotation is already in progress (version {secret.pending} is AWSPENDING): "
                              "let it finish, or find why it stopped")
    if not (secret.rotation_enabled or secret.rotation_lambda):
        return Verdict(False, "no rotation is configured: Secrets Manager has nothing to rotate it with "
                              "(configure a rotation function or managed rotation first)")
    if secret.labelled("AWSCURRENT") is None:
        return Verdict(False, "it has no AWSCURRENT version to rotate from")
    how = f"managed by {secret.owning_service}" if secret.owning_service else f"function {secret.rotation_lambda}"
    return Verdict(True, f"rotation configured ({how}); current version {secret.labelled('AWSCURRENT')}")


class Observe(Step):
    name = "observe"
    does = "describe the secret: rotation configuration and the versions' staging labels (never a value)"
    needs = "secretsmanager:DescribeSecret"

    def run(self, run: Run) -> StepResult:
        secret = SecretState.from_api(run.target.describe())  # type: ignore[attr-defined]
        run.observation = secret
        versions = "; ".join(f"{v}: {', '.join(labels) or 'no label'}" for v, labels in secret.stages.items())
        run.note(f"{secret.name}: rotation {'enabled' if secret.rotation_enabled else 'not enabled'}"
                 f"{f' by {secret.owning_service}' if secret.owning_service else ''}; versions {versions or 'none'}",
                 observation=True)
        return StepResult.cont()


class Rotate(Step):
    name = "rotate"
    does = "RotateSecret now: Secrets Manager (or RDS) creates a new version and makes it AWSCURRENT"
    needs = "secretsmanager:RotateSecret (and the rotation function's permissions); confirmation"
    mutating = True

    def run(self, run: Run) -> StepResult:
        run.deadline = Deadline(run.inputs.timeout)
        version = run.target.rotate()  # type: ignore[attr-defined]
        run.diagnosis = version
        run.note(f"started rotation: new version {version} (AWSCURRENT was "
                 f"{run.observation.labelled('AWSCURRENT')})", action=True)  # type: ignore[union-attr]
        return StepResult.cont()


class WaitCurrent(Step):
    name = "wait"
    does = "wait, with a timeout and backoff, until the new version is AWSCURRENT"
    needs = "secretsmanager:ListSecretVersionIds; the timeout"

    def run(self, run: Run) -> StepResult:
        deadline = run.deadline or Deadline(run.inputs.timeout)
        current, versions = run.target.wait_current(run.diagnosis, deadline)  # type: ignore[attr-defined]
        labels = ", ".join(versions.get(run.diagnosis, ())) or "no label"  # type: ignore[call-overload]
        run.note(f"version {run.diagnosis}: {labels} after {deadline.elapsed():.1f} s")
        if not current:
            return StepResult(StepStatus.FAILED, f"{run.target.ref}: version {run.diagnosis} not AWSCURRENT within "
                                                 f"{run.inputs.timeout:g} s ({labels})")
        return StepResult.cont()


def check_stages(versions: dict[str, tuple[str, ...]], new: str, old: str | None) -> str | None:
    """Pure: what is wrong with the labels after a rotation from ``old`` to ``new`` (None: all right)."""
    if "AWSCURRENT" not in versions.get(new, ()):
        return f"the new version {new} is not AWSCURRENT"
    if old is not None and "AWSPREVIOUS" not in versions.get(old, ()):
        return f"the old version {old} is not AWSPREVIOUS ({', '.join(versions.get(old, ())) or 'no label'})"
    return None


class Verify(Step):
    name = "verify"
    does = "list the versions: the new one is AWSCURRENT and the old one AWSPREVIOUS; record the version ids"
    needs = "secretsmanager:ListSecretVersionIds"

    def run(self, run: Run) -> StepResult:
        new, old = run.diagnosis, run.observation.labelled("AWSCURRENT")  # type: ignore[union-attr]
        problem = check_stages(run.target.versions(), new, old)  # type: ignore[attr-defined, arg-type]
        if problem:
            return StepResult(StepStatus.FAILED, f"{run.target.ref}: {problem}")
        run.note(f"AWSCURRENT {new}; AWSPREVIOUS {old}", observation=True)
        run.record.follow_ups.append("clients caching the old value pick up the new one at their next refresh; "
                                     f"the old one stays readable as AWSPREVIOUS ({old})")
        return StepResult(StepStatus.DONE, f"rotated: AWSCURRENT is {new}, AWSPREVIOUS is {old}")


RUNBOOK = Runbook(
    name="rotate-secret",
    title="Rotate a secret and verify its versions",
    summary=(
        "Rotate the secret (default: the RDS-managed master password of `infra-<env>-postgres`; the secret or "
        "its database must carry the environment's tag), refusing when no rotation is configured or one is "
        "already in progress; wait until the new version is AWSCURRENT and check the old one is AWSPREVIOUS. "
        "Only version ids are recorded, never a value."
    ),
    steps=(Observe(), Check("refuse (exit 4, nothing changed) if no rotation is configured, one is in progress, "
                            "or it is being deleted", decide),
           Rotate(), WaitCurrent(), Verify()),
    when_it_fails=(
        "Exit 1 with the incident record naming the next action: read the rotation's logs; a version left "
        "AWSPENDING blocks the next rotation until it is finished or cancelled. The old value stays AWSCURRENT "
        "until the rotation finishes, so clients keep working meanwhile."
    ),
    target_forms=FORMS["secretsmanager"],
    options="[--timeout S]",
)


def _master_secret(cfg: Any) -> str:
    ref = AwsTargetRef.of_environment(cfg, "rds", cfg.database_identifier)
    database = RdsInstance(ref)
    secret = database.describe().get("MasterUserSecret")
    if not secret:
        raise InvalidInput(f"RDS instance {ref.name} has no AWS-managed master secret",
                           hint="pass --target secretsmanager://NAME_OR_ARN")
    # By name: the redaction masks what follows ":secret:" in an ARN, which would hide the target in the record.
    arn = AwsTargetRef("secretsmanager", secret["SecretArn"], region=ref.region, profile=ref.profile)
    return Secret(arn).describe()["Name"]


def resolve(env: str, *, target: str | None, health: str | None, timeout: float | None,
            grace: float | None) -> RunInputs:
    return resolve_aws(RUNBOOK.name, env, scheme="secretsmanager", target=target, health=health, grace=grace,
                       timeout=timeout, default_timeout=DEFAULT_TIMEOUT_S, default_target=_master_secret)

"""Operating an environment's Pulumi stack: the small interface the CLI needs, and its implementation over
the Pulumi Automation API.

The stack of an environment is the project in ``project_dir()`` (the very program ``infra plan`` runs
offline) with the stack named after the environment, so ``infra up`` deploys exactly what ``infra plan``
shows. The CLI only talks to ``StackOperations``; tests drive it with a fake.

State and secrets (see docs/operations.md):

* default: a file backend in ``<project>/.pulumi-state`` (gitignored) and the ``passphrase`` secrets
  provider, the passphrase generated once into ``.pulumi-state/passphrase`` unless
  ``PULUMI_CONFIG_PASSPHRASE``/``PULUMI_CONFIG_PASSPHRASE_FILE`` is set: a first-time user needs no account;
* a team: ``INFRA_BACKEND_URL=s3://bucket/prefix?region=...`` (or ``https://api.pulumi.com``) and, for S3,
  ``INFRA_SECRETS_PROVIDER=awskms://alias/NAME?region=...``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from stacks.errors import Blocked, InvalidInput, MissingPrerequisite, OperationFailed

OFFLINE_HINT = "`infra plan {env}` works offline"
STATE_DIR = ".pulumi-state"
BACKEND_ENV = "INFRA_BACKEND_URL"
SECRETS_ENV = "INFRA_SECRETS_PROVIDER"


class StackLocked(Blocked):
    """Another update holds the stack's lock: this one did not start, nothing was changed."""


# --- what the CLI sees ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseSettings:
    """The ``infra:release`` section of a stack file: what `infra deploy` and `infra rollback` change."""

    image: str | None
    app_replicas: int
    worker_replicas: int

    KEYS = ("image", "appReplicas", "workerReplicas")

    def as_config(self) -> dict[str, str | int | None]:
        return {"image": self.image, "appReplicas": self.app_replicas, "workerReplicas": self.worker_replicas}


@dataclass(frozen=True)
class ResourceStep:
    """A resource operation starting (``phase="start"``), done, or failed."""

    op: str  # create, update, delete, replace, same, refresh, ...
    urn: str
    type: str
    phase: str  # start | done | failed
    planning: bool = False  # a preview: nothing is changed
    diffs: tuple[str, ...] = ()  # the properties that differ, "path (kind)": names only, never values

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # error | warning | info
    message: str
    urn: str | None = None


@dataclass(frozen=True)
class PolicyViolation:
    pack: str
    policy: str
    level: str  # advisory | mandatory | remediate
    message: str
    urn: str | None = None


StackEvent = ResourceStep | Diagnostic | PolicyViolation
OnEvent = Callable[[StackEvent], None]


@dataclass(frozen=True)
class OperationResult:
    changes: dict[str, int] = field(default_factory=dict)  # op -> count, e.g. {"create": 3, "same": 40}
    version: int | None = None  # the update's number in the stack history (None for a preview)


@dataclass(frozen=True)
class UpdateRecord:
    """One entry of the stack's history, as the backend keeps it (newest first in ``history()``)."""

    version: int | None
    kind: str  # update | refresh | destroy | ...
    result: str  # succeeded | failed | in-progress
    message: str
    start_time: datetime | None
    end_time: datetime | None = None
    changes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputValue:
    value: Any
    secret: bool


class StackOperations(Protocol):
    """What the CLI needs from an environment's stack. Mutating: up, refresh, destroy, set_release_settings."""

    environment: str

    def preview(self, *, policy_packs: list[str], on_event: OnEvent) -> OperationResult: ...

    def up(self, *, message: str, policy_packs: list[str], on_event: OnEvent) -> OperationResult: ...

    def drift_preview(self, *, on_event: OnEvent) -> OperationResult: ...

    def refresh(self, *, on_event: OnEvent) -> OperationResult: ...

    def destroy(self, *, on_event: OnEvent) -> OperationResult: ...

    def outputs(self, *, show_secrets: bool = False) -> dict[str, OutputValue]: ...

    def history(self) -> list[UpdateRecord]: ...

    def release_settings(self) -> ReleaseSettings: ...

    def set_release_settings(self, settings: ReleaseSettings) -> None: ...


# --- where state lives -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackendSettings:
    url: str
    secrets_provider: str | None
    env: dict[str, str]

    @property
    def is_local(self) -> bool:
        return self.url.startswith("file://")

    @property
    def needs_aws(self) -> bool:
        """Reading state needs AWS credentials (S3 state or KMS-encrypted secrets)."""
        return self.url.startswith("s3://") or (self.secrets_provider or "").startswith("awskms://")


def backend_settings(project: Path, environ: Mapping[str, str] | None = None) -> BackendSettings:
    """The state backend and secrets provider, from the environment; the local default otherwise."""
    environ = os.environ if environ is None else environ
    url = environ.get(BACKEND_ENV) or environ.get("PULUMI_BACKEND_URL") or ""
    provider = environ.get(SECRETS_ENV) or None
    env: dict[str, str] = {}
    if not url:
        state = project / STATE_DIR
        url = f"file://{state}"
        provider = provider or "passphrase"
    elif not re.match(r"^(file|s3|https?|azblob|gs)://", url):
        raise InvalidInput(f"{BACKEND_ENV}={url!r} is not a backend URL",
                           hint="use s3://BUCKET/PREFIX?region=REGION or https://api.pulumi.com")
    elif url.startswith("s3://") and not (provider or "").startswith("awskms://"):
        raise MissingPrerequisite(
            f"the shared state backend {url} needs a KMS secrets provider",
            hint=f"set {SECRETS_ENV}=awskms://alias/infra-state?region=us-east-1 (the key every operator can use)",
        )
    env["PULUMI_BACKEND_URL"] = url
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    if provider == "passphrase" and not (
        environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    ):
        # Generated on first use by PulumiStack, once every prerequisite is there (_local_state).
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(project / STATE_DIR / "passphrase")
    return BackendSettings(url=url, secrets_provider=provider, env=env)


@contextmanager
def _local_state(settings: BackendSettings) -> Iterator[None]:
    """The local backend's directory and generated passphrase (readable only by its owner), created on first
    use; removed again if the stack cannot be opened, so a failed first command leaves nothing behind."""
    created: list[Path] = []
    if settings.is_local:
        state = Path(settings.url.removeprefix("file://"))
        missing = [p for p in (state, *state.parents) if not p.exists()]
        state.mkdir(parents=True, exist_ok=True)
        created += reversed(missing)
        passphrase = Path(settings.env.get("PULUMI_CONFIG_PASSPHRASE_FILE", ""))
        if passphrase == state / "passphrase" and not passphrase.exists():
            fd = os.open(passphrase, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            created.append(passphrase)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
    try:
        yield
    except BaseException:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.unlink() if path.is_file() else path.rmdir()  # a directory only if still empty
        raise


# --- prerequisites ---------------------------------------------------------------------------------------


def find_pulumi() -> str | None:
    """The pulumi CLI: on PATH, else the version matching the SDK installed by ``PulumiCommand.install()``."""
    found = shutil.which("pulumi")
    if found:
        return found
    try:
        from pulumi._version import version as sdk_version
    except ImportError:  # pragma: no cover - SDK layout changed
        return None
    candidate = Path.home() / ".pulumi" / "versions" / str(sdk_version) / "bin" / "pulumi"
    return str(candidate) if candidate.is_file() else None


def require_pulumi(env: str, offline: str | None = None) -> str:
    path = find_pulumi()
    if path is None:
        raise MissingPrerequisite(
            "the pulumi CLI is not on PATH",
            hint="install it with `curl -fsSL https://get.pulumi.com | sh` and open a new shell; "
                 + (offline or OFFLINE_HINT.format(env=env)),
        )
    return path


def require_aws_credentials(env: str, offline: str | None = None) -> None:
    import boto3

    try:
        credentials = boto3.Session().get_credentials()
    except Exception as exc:  # noqa: BLE001 - a broken profile is as missing as no profile
        raise MissingPrerequisite(
            f"AWS credentials could not be loaded: {exc}",
            hint="fix ~/.aws/config or AWS_PROFILE; " + (offline or OFFLINE_HINT.format(env=env)),
        ) from None
    if credentials is None:
        raise MissingPrerequisite(
            "no AWS credentials found",
            hint="run `aws sso login` or set AWS_PROFILE (CI: assume a role through OIDC); "
                 + (offline or OFFLINE_HINT.format(env=env)),
        )


def policy_packs(project: Path) -> list[str]:
    """The CrossGuard pack run on preview and up, when the project has one."""
    pack = project / "policies"
    return [str(pack)] if (pack / "PulumiPolicy.yaml").is_file() else []


def git_commit(project: Path) -> str:
    """The commit being deployed, ``+dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=project,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


def read_release_settings(path: Path) -> ReleaseSettings:
    """The ``infra:release`` section of a stack file, with the model's defaults."""
    from stacks.config import ReleaseConfig, read_stack_file

    raw = read_stack_file(path).get("infra:release")
    data = json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else {}
    try:
        release = ReleaseConfig.model_validate(data)
    except ValueError as exc:
        raise InvalidInput(f"{path.name}: infra:release: {_first_line(str(exc))}") from None
    return ReleaseSettings(release.image, release.app_replicas, release.worker_replicas)


def deletion_protected(path: Path) -> bool:
    """``infra:postgres.deletionProtection`` of a stack file (the model's default, on, when unset)."""
    from stacks.config import read_stack_file

    raw = read_stack_file(path).get("infra:postgres")
    data = json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else {}
    return bool(data.get("deletionProtection", True))


# --- the Automation API implementation -----------------------------------------------------------------


def open_stack(env: str, *, cloud: bool, create: bool = False) -> StackOperations:
    """Select the environment's stack; ``cloud``: the operation calls AWS; ``create``: create it on first use.

    Only preview and up create: reading outputs or history, or deploying, on an environment that was never
    created must say so rather than register an empty stack (and write an encryption salt) as a side effect.
    Raises MissingPrerequisite (exit 3) for a missing CLI, credentials, stack, or an unreachable backend.
    """
    from stacks.config import check_environment
    from stacks.project import project_dir

    check_environment(env)
    return open_project_stack(env, project_dir(), cloud=cloud, create=create)


def open_project_stack(name: str, work_dir: Path, *, cloud: bool, create: bool = False,
                       offline: str | None = None) -> StackOperations:
    """Stack ``name`` of the Pulumi project in ``work_dir`` (the environments', or another such as the
    bootstrap's), on the same state backend; prerequisites checked as ``open_stack`` says. ``offline``: the
    hint naming the command that works without them (default: `infra plan NAME`)."""
    settings, pulumi_path = prerequisites(name, cloud=cloud, offline=offline)
    return PulumiStack(name, work_dir, settings, pulumi_path, create=create)


def prerequisites(env: str, *, cloud: bool, offline: str | None = None) -> tuple[BackendSettings, str]:
    """The backend settings and the pulumi CLI, once everything a stack command needs is there; otherwise
    MissingPrerequisite naming every missing one at once (a malformed backend URL: InvalidInput)."""
    from stacks.project import project_dir

    project = project_dir()
    missing: list[MissingPrerequisite] = []
    settings = _checked(missing, lambda: backend_settings(project))
    pulumi_path = _checked(missing, lambda: require_pulumi(env, offline))
    if cloud or settings is None or settings.needs_aws:  # None: an S3 backend that lacks its KMS provider
        _checked(missing, lambda: require_aws_credentials(env, offline))
    if missing:
        raise missing[0] if len(missing) == 1 else _all_missing(env, missing, offline)
    assert settings is not None and pulumi_path is not None
    return settings, pulumi_path


def _checked(missing: list[MissingPrerequisite], check: Callable[[], Any]) -> Any:
    """Run one prerequisite check; a missing prerequisite is collected so that all are reported together."""
    try:
        return check()
    except MissingPrerequisite as exc:
        missing.append(exc)
        return None


def _all_missing(env: str, missing: list[MissingPrerequisite], offline: str | None = None) -> MissingPrerequisite:
    """Every missing prerequisite in one line (as `infra doctor` lists them), not one per attempt."""
    works_offline = offline or OFFLINE_HINT.format(env=env)
    parts = [f"{e.message} ({e.hint.removesuffix('; ' + works_offline)})" if e.hint else e.message for e in missing]
    return MissingPrerequisite(f"{len(missing)} prerequisites are missing: {'; '.join(parts)}",
                               hint=f"`infra doctor{'' if offline else ' ' + env}` checks them all; {works_offline}")


class PulumiStack:
    """``StackOperations`` over a LocalWorkspace on the project directory."""

    def __init__(self, environment: str, project: Path, settings: BackendSettings, pulumi_path: str,
                 *, create: bool = False) -> None:
        from pulumi import automation as auto

        self.environment = environment
        self.project = project
        self.settings = settings
        on_path = shutil.which("pulumi") == pulumi_path
        root = None if on_path else str(Path(pulumi_path).parent.parent)
        try:
            with _local_state(settings):
                self._stack = self._open(environment, project, settings, root, create=create)
        except auto.StackNotFoundError:
            raise MissingPrerequisite(
                f"{environment} has not been created yet: no stack {environment} in {settings.url}",
                hint=f"create it with `infra up {environment}`; `infra preview {environment}` shows what that would do",
            ) from None
        except (auto.CommandError, OSError, subprocess.SubprocessError) as exc:
            raise MissingPrerequisite(
                f"state backend {settings.url} unreachable: {_pulumi_error(exc)}",
                hint=f"check {BACKEND_ENV}, your credentials and network; " + OFFLINE_HINT.format(env=environment),
            ) from None

    @staticmethod
    def _open(environment: str, project: Path, settings: BackendSettings, root: str | None, *, create: bool):
        from pulumi import automation as auto

        command = auto.PulumiCommand(root=root, skip_version_check=True)
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(project), env_vars=settings.env, secrets_provider=settings.secrets_provider,
            pulumi_command=command,
        )
        choose = auto.create_or_select_stack if create else auto.select_stack
        return choose(stack_name=environment, work_dir=str(project), opts=opts)

    # operations

    def preview(self, *, policy_packs: list[str], on_event: OnEvent) -> OperationResult:
        with self._run("preview", on_event) as handler:
            result = self._stack.preview(policy_packs=policy_packs or None, on_event=handler, color="never")
        return OperationResult(changes=_op_map(result.change_summary))

    def drift_preview(self, *, on_event: OnEvent) -> OperationResult:
        """What `up` would change right after reading every resource's live state: the live environment
        against the program (``pulumi preview --refresh --diff``). Changes nothing, not even the state."""
        with self._run("drift preview", on_event) as handler:
            result = self._stack.preview(refresh=True, diff=True, on_event=handler, color="never",
                                         suppress_outputs=True)
        return OperationResult(changes=_op_map(result.change_summary))

    def up(self, *, message: str, policy_packs: list[str], on_event: OnEvent) -> OperationResult:
        with self._run("up", on_event) as handler:
            result = self._stack.up(message=message, policy_packs=policy_packs or None, on_event=handler,
                                    color="never", suppress_outputs=True)
        return OperationResult(changes=_op_map(result.summary.resource_changes), version=result.summary.version)

    def refresh(self, *, on_event: OnEvent) -> OperationResult:
        with self._run("refresh", on_event) as handler:
            result = self._stack.refresh(on_event=handler, color="never", suppress_outputs=True)
        return OperationResult(changes=_op_map(result.summary.resource_changes), version=result.summary.version)

    def destroy(self, *, on_event: OnEvent) -> OperationResult:
        with self._run("destroy", on_event) as handler:
            result = self._stack.destroy(on_event=handler, color="never", suppress_outputs=True)
        return OperationResult(changes=_op_map(result.summary.resource_changes), version=result.summary.version)

    def outputs(self, *, show_secrets: bool = False) -> dict[str, OutputValue]:
        # Not Stack.outputs(): it always reads every value in clear and flags only top-level secrets, so a
        # secret nested in an object would pass as plain. The CLI's masked document marks secrets at any
        # depth; clear text is read only when asked for.
        with self._translate("outputs"):
            masked = self._output_document(show_secrets=False)
            clear = self._output_document(show_secrets=True) if show_secrets else masked
        return {k: OutputValue(clear.get(k), holds_secret(v)) for k, v in masked.items()}

    def _output_document(self, *, show_secrets: bool) -> dict[str, Any]:
        ws = self._stack.workspace
        args = ["stack", "output", "--json", "--stack", self._stack.name, *(["--show-secrets"] if show_secrets else [])]
        env = {**({"PULUMI_HOME": ws.pulumi_home} if ws.pulumi_home else {}), **ws.env_vars}
        return json.loads(ws.pulumi_command.run(args, ws.work_dir, env).stdout or "{}")

    def history(self) -> list[UpdateRecord]:
        with self._translate("history"):
            summaries = self._stack.history(show_secrets=False)
        return [
            UpdateRecord(version=s.version, kind=s.kind, result=s.result, message=s.message or "",
                         start_time=s.start_time, end_time=s.end_time, changes=_op_map(s.resource_changes))
            for s in summaries
        ]

    def release_settings(self) -> ReleaseSettings:
        from stacks.project import stack_file

        return read_release_settings(stack_file(self.environment))

    def set_release_settings(self, settings: ReleaseSettings) -> None:
        from pulumi.automation import ConfigValue

        values = {f"infra:release.{k}": v for k, v in settings.as_config().items() if v is not None}
        with self._translate("config set"):
            self._stack.set_all_config({k: ConfigValue(str(v)) for k, v in values.items()}, path=True)
            if settings.image is None:  # no release yet (restoring after a first deploy that did not make it)
                self._stack.remove_config("infra:release.image", path=True)  # a no-op when absent

    # plumbing

    @contextmanager
    def _run(self, operation: str, on_event: OnEvent) -> Iterator[Callable[[Any], None]]:
        mandatory: list[PolicyViolation] = []

        def handler(event: Any) -> None:
            converted = convert_event(event)
            if converted is None:
                return
            if isinstance(converted, PolicyViolation) and converted.level == "mandatory":
                mandatory.append(converted)
            on_event(converted)

        try:
            with self._translate(operation):
                yield handler
        except OperationFailed:
            if mandatory:
                first = mandatory[0]
                raise Blocked(
                    f"{operation} on {self.environment} refused by policy {first.pack}/{first.policy}: "
                    f"{_first_line(first.message)}"
                ) from None
            raise

    @contextmanager
    def _translate(self, operation: str) -> Iterator[None]:
        from pulumi import automation as auto

        try:
            yield
        except auto.ConcurrentUpdateError:
            raise StackLocked(
                f"{self.environment} is locked by another update",
                hint=f"wait for it to finish; if it died, run `pulumi cancel --stack {self.environment}`",
            ) from None
        except auto.CommandError as exc:
            raise OperationFailed(f"{operation} on {self.environment} failed: {_pulumi_error(exc)}") from None


def convert_event(event: Any) -> StackEvent | None:
    """An Automation API ``EngineEvent`` as one of our events (None for those the CLI does not show)."""
    if event.resource_pre_event is not None:
        meta = event.resource_pre_event.metadata
        return ResourceStep(_op(meta.op), meta.urn, meta.type, "start", bool(event.resource_pre_event.planning),
                            _diffs(meta))
    if event.res_outputs_event is not None:
        meta = event.res_outputs_event.metadata
        return ResourceStep(_op(meta.op), meta.urn, meta.type, "done", bool(event.res_outputs_event.planning))
    if event.res_op_failed_event is not None:
        meta = event.res_op_failed_event.metadata
        return ResourceStep(_op(meta.op), meta.urn, meta.type, "failed")
    if event.diagnostic_event is not None:
        diag = event.diagnostic_event
        if diag.ephemeral or diag.severity not in ("error", "warning"):
            return None
        return Diagnostic(diag.severity, _strip_color(diag.message).strip(), diag.urn)
    if event.policy_event is not None:
        pol = event.policy_event
        return PolicyViolation(pol.policy_pack_name, pol.policy_name, pol.enforcement_level,
                               _strip_color(pol.message).strip(), pol.resource_urn)
    return None


def _diffs(meta: Any) -> tuple[str, ...]:
    """The properties a step changes, as "path (kind)" from the detailed diff, else the plain key list."""
    detailed = getattr(meta, "detailed_diff", None) or {}
    if detailed:
        return tuple(f"{path} ({_op(getattr(d, 'diff_kind', 'update'))})" for path, d in sorted(detailed.items()))
    return tuple(sorted(getattr(meta, "diffs", None) or []))


SECRET_SENTINEL = "[secret]"  # what `pulumi stack output --json` prints in place of a secret, at any depth


def holds_secret(value: Any) -> bool:
    """Whether a JSON value holds the ``[secret]`` marker anywhere inside (outputs, plan documents)."""
    if isinstance(value, dict):
        return any(holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_secret(v) for v in value)
    return value == SECRET_SENTINEL


def _op(op: Any) -> str:
    return getattr(op, "value", str(op))


def _op_map(changes: Mapping[Any, int] | None) -> dict[str, int]:
    return {_op(k): int(v) for k, v in (changes or {}).items()}


_COLOR = re.compile(r"<\{%[^%]*%\}>|\x1b\[[0-9;]*m")


def _strip_color(text: str) -> str:
    return _COLOR.sub("", text or "")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


def _pulumi_error(exc: BaseException) -> str:
    """The line of a pulumi CLI failure that says what went wrong (CommandError carries code/stdout/stderr)."""
    text = str(exc.args[0]) if exc.args else ""
    lines = [re.sub(r"^(code|stdout|stderr):\s*", "", _strip_color(line).strip()) for line in text.splitlines()]
    errors = [line[len("error:"):].strip() for line in lines if line.lower().startswith("error:")]
    # The stack's own "update failed" often comes first in the diagnostics; the cause is a resource's error.
    specific = [e for e in errors if not _GENERIC_FAILURE.fullmatch(e)]
    if errors:
        return (specific or errors)[0]
    return next((line for line in lines if line and not line.isdigit()), type(exc).__name__)


_GENERIC_FAILURE = re.compile(r"(update|preview|refresh|destroy) failed", re.IGNORECASE)

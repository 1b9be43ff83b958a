"""`infra doctor [ENV]`: everything the other commands need, checked at once, each with its fix.

Each command already names the one prerequisite it misses (exit 3); this shows them all before the
first `infra up`, or at 3 a.m. before a runbook. It only reads: nothing is created or changed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stacks.errors import ExitCode, InfraError, MissingPrerequisite

if TYPE_CHECKING:  # pydantic stays out of `infra --help`
    from stacks.config import EnvironmentConfig

STACK = "preview, up, refresh, destroy, outputs, history, deploy, releases, rollback"
AWS = "the stack commands, cost report, the AWS runbooks"
KUBERNETES = "runbooks on EKS (temporal-restart with k8s://, cost-circuit-breaker)"
DOCKER = "restart-container, temporal-restart with docker://"
TEMPORAL = "temporal-restart, up (Temporal's shard count)"
TENANTS = "infra tenant"


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    needed_by: str
    exit_code: ExitCode = ExitCode.MISSING_PREREQUISITE

    def as_dict(self) -> dict[str, object]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail, "neededBy": self.needed_by}


def _run(check: str, needed_by: str, probe: Callable[[], str]) -> Finding:
    try:
        return Finding(check, True, probe(), needed_by)
    except InfraError as exc:
        return Finding(check, False, str(exc), needed_by, exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - one odd answer must not hide the other checks
        from cli.output import unexpected

        return Finding(check, False, f"the check itself failed: {unexpected(exc)}", needed_by, ExitCode.FAILED)


@dataclass(frozen=True)
class _StackFile:
    """The environment's stack file, read once for every check that needs it."""

    path: Path
    config: EnvironmentConfig | None
    problem: InfraError | None  # why it could not be read (the configuration row reports it)

    @classmethod
    def read(cls, env: str) -> _StackFile:
        from stacks import config
        from stacks.project import stack_file

        path = stack_file(env)
        try:
            return cls(path, config.load(env, path), None)
        except InfraError as exc:
            return cls(path, None, exc)

    def valid(self) -> EnvironmentConfig:
        if self.problem is not None:
            raise self.problem
        assert self.config is not None
        return self.config


def _config(stack: _StackFile) -> str:
    cfg = stack.valid()
    return f"{stack.path.name} is valid ({cfg.region}, budget ${cfg.budget.monthly_usd:,.0f}/month)"


def _example_values(stack: _StackFile) -> str:
    from stacks import config
    from stacks.errors import InvalidInput

    found = config.example_values(stack.valid())
    if found:
        raise InvalidInput(f"{stack.path.name} still has example values: {'; '.join(found)}",
                           hint="put your own before the first `infra up`; `infra plan` is fine with them")
    return "none left"


def _pulumi(env: str) -> str:
    from stacks.workspace import require_pulumi

    path = require_pulumi(env)
    try:
        version = subprocess.run([path, "version"], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MissingPrerequisite(f"the pulumi CLI at {path} does not run ({type(exc).__name__})",
                                  hint="reinstall it: curl -fsSL https://get.pulumi.com | sh") from None
    return f"{version.stdout.strip()} at {path}"


def _backend() -> str:
    import os

    from stacks.project import project_dir
    from stacks.workspace import STATE_DIR, backend_settings

    project = project_dir()
    settings = backend_settings(project)  # reads only: the passphrase is generated when a stack is opened
    if not settings.is_local:
        return f"{settings.url} (shared); secrets provider: {settings.secrets_provider or 'the backend'}"
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        passphrase = "from PULUMI_CONFIG_PASSPHRASE(_FILE)"
    elif (project / STATE_DIR / "passphrase").is_file():
        passphrase = f"kept in {STATE_DIR}/passphrase"
    else:
        passphrase = f"generated into {STATE_DIR}/passphrase on first use"
    return f"{settings.url} (local files, no account needed); passphrase {passphrase}"


def _aws(env: str) -> str:
    from stacks import config
    from stacks.aws_clients import call, client
    from stacks.project import stack_file

    cfg = config.load(env, stack_file(env))
    sts = client("sts", region=cfg.region, profile=cfg.profile)
    identity = call("check the AWS credentials", sts.get_caller_identity)
    return f"account {identity['Account']} as {identity['Arn']} in {sts.meta.region_name}"


def _kubernetes(stack: _StackFile) -> str:
    import os

    from kubernetes import client, config

    from runbooks.targets.kubernetes import api_call, default_api_client
    from stacks.config import KubernetesConfig

    api = default_api_client()
    try:
        _, active = config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))
        context = f"context {active['name']}, "
    except (config.ConfigException, OSError, TypeError, KeyError):
        context = "in-cluster, "
    version = api_call("the cluster", "read the version of", client.VersionApi(api).get_code,
                       not_found_hint="check the kubeconfig's server address")
    found = f"{context}API server {version.git_version} at {api.configuration.host}"
    namespaces = (stack.config.kubernetes if stack.config else KubernetesConfig()).namespaces
    denied = [what for what, allowed in _runbook_access(api, namespaces) if not allowed]
    if denied:
        raise MissingPrerequisite(f"{found}, but you may not {'; '.join(denied)}",
                                  hint="the runbooks need it: ask for an infra:eks.access entry (edit in those "
                                       "namespaces)")
    return f"{found}; you may restart and scale the workloads and take runbook leases"


def _temporal(stack: _StackFile) -> str:
    """What the stack runs of Temporal, and whether temporal-restart's default target is one of its deployments
    (a typo there is found now, not during the incident)."""
    from runbooks.targets import parse_target
    from stacks.config import TEMPORAL_SERVERS, temporal_deployment
    from stacks.errors import InvalidInput

    cfg = stack.valid()
    tc, namespace = cfg.temporal, cfg.kubernetes.temporal_namespace
    frontend = f"k8s://{namespace}/deployment/{temporal_deployment('frontend')}"
    made = (f"the stack runs Temporal {tc.server_version} in namespace {namespace} ({tc.num_history_shards} "
            "history shards, fixed at the first deploy)")
    target = cfg.runbooks.temporal.target
    ref = parse_target(target)
    if ref.engine != "k8s":
        return f"{made}; temporal-restart acts on {target}, a container outside the stack (its frontend: {frontend})"
    ours = {temporal_deployment(s) for s in (*TEMPORAL_SERVERS, "web")}
    if ref.namespace != namespace or ref.kind != "deployment" or ref.name not in ours:
        raise InvalidInput(f"{made}, but infra:runbooks.temporal.target {target} is none of its deployments",
                           hint=f"set it to {frontend}")
    return f"{made}; temporal-restart acts on {target}"


# What the Kubernetes runbooks do, per namespace: restart (patch) and scale Deployments, take a Lease.
RUNBOOK_VERBS = (("patch", "apps", "deployments"), ("create", "coordination.k8s.io", "leases"))


def _runbook_access(api, namespaces: tuple[str, ...]) -> list[tuple[str, bool]]:
    """Ask the API server itself (SelfSubjectAccessReview) whether these credentials may do what the
    runbooks do, before an incident needs it."""
    from kubernetes import client

    from runbooks.targets.kubernetes import api_call

    auth = client.AuthorizationV1Api(api)
    answers = []
    for namespace in namespaces:
        for verb, group, resource in RUNBOOK_VERBS:
            review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(namespace=namespace, verb=verb, group=group,
                                                                resource=resource)))
            answer = api_call("the cluster", "review the access to", auth.create_self_subject_access_review,
                              review, not_found_hint="check the kubeconfig's server address")
            answers.append((f"{verb} {resource} in {namespace}", bool(answer.status.allowed)))
    return answers


def _tenant_database(stack: _StackFile) -> str:
    """The path `infra tenant` takes to the private database: INFRA_DATABASE_URL (a port-forward) or the
    RDS endpoint, with the master secret's login (docs/tenants.md)."""
    from tenants.connection import probe
    from tenants.lifecycle import tenancy_of

    cfg = stack.valid()
    tenancy_of(cfg)
    return probe(cfg)


def _docker() -> str:
    import os

    from runbooks.targets.docker import DockerTarget

    engine = DockerTarget.connect()
    try:
        version = engine.version()
    finally:
        engine.close()
    name = next((c.get("Name") for c in version.get("Components", []) if c.get("Name")), "Docker Engine")
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    return f"{name} {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) at {where}"


def doctor(
    env: Annotated[str, typer.Argument(help="Environment: staging or prod.", show_default=False)] = "staging",
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as a versioned JSON document.")] = False,
) -> None:
    """Check everything the other commands need, all at once, and say how to fix what is missing.

    Reads only. Exit 0 when everything is ready, 2 when a setting is invalid (the stack file,
    INFRA_BACKEND_URL), 3 when a prerequisite is missing (each row names the commands that need it).
    """
    from stacks.config import check_environment

    check_environment(env)
    stack = _StackFile.read(env)
    findings = [
        _run("configuration", "every command", lambda: _config(stack)),
        _run("example values", "up, deploy", lambda: _example_values(stack)),
        _run("pulumi CLI", STACK, lambda: _pulumi(env)),
        _run("state backend", STACK, _backend),
        _run("AWS credentials", AWS, lambda: _aws(env)),
        _run("Kubernetes", KUBERNETES, lambda: _kubernetes(stack)),
        _run("Temporal", TEMPORAL, lambda: _temporal(stack)),
        _run("container engine", DOCKER, _docker),
        _run("tenant database", TENANTS, lambda: _tenant_database(stack)),
    ]
    if as_json:
        typer.echo(json.dumps({"version": 1, "environment": env, "ready": all(f.ok for f in findings),
                               "checks": [f.as_dict() for f in findings]}, indent=2))
    else:
        _print(env, findings)
    codes = {f.exit_code for f in findings if not f.ok}
    for code in (ExitCode.INVALID_INPUT, ExitCode.MISSING_PREREQUISITE, ExitCode.FAILED, ExitCode.BLOCKED):
        if code in codes:  # invalid settings first: they are the user's to fix before anything else
            raise typer.Exit(int(code))


def _print(env: str, findings: list[Finding]) -> None:
    from rich import box
    from rich.table import Table

    from cli.output import console

    out = console()
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=f"infra doctor {env}",
                  title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("what was found / how to fix it", overflow="fold")
    table.add_column("needed by", style="dim", overflow="fold")
    for f in findings:
        table.add_row(f.check, "[green]ok[/]" if f.ok else "[red]MISSING[/]", f.detail, f.needed_by)
    out.print(table)
    missing = sum(not f.ok for f in findings)
    out.print("ready: every check passed" if not missing else
              f"{missing} of {len(findings)} checks failed: the commands that need them refuse until fixed "
              f"(`infra plan {env}` works offline)")

"""`infra up|preview|refresh|destroy|outputs|history ENV`: the environment's stack, over the Automation API.

Every command checks its input first (environment, stack file), then its prerequisites (pulumi CLI, AWS
credentials, backend), then asks, then changes something. Mutating commands ask for confirmation unless
`--yes`; prod wants its name typed. The shared helpers here (confirmation, progress) serve `infra deploy`
and `infra rollback` too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console

    from stacks.workspace import OperationResult, StackEvent

EnvArg = Annotated[str, typer.Argument(help="Environment (stack): staging or prod.", show_default=False)]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (CI, scripts).")]
OverrideBudgetOpt = Annotated[str | None, typer.Option(
    "--override-budget", metavar="REASON",
    help="Proceed although this month's spend is at 100%+ of the budget; the reason is audited.")]


# --- confirmation --------------------------------------------------------------------------------------


def require_confirmable(env: str, yes: bool) -> None:
    """Refuse early, before anything runs, when confirmation is needed and nobody can give it."""
    from cli.confirm import interactive
    from stacks.errors import InvalidInput

    if not yes and not interactive():
        raise InvalidInput(f"refusing to change {env} without --yes (no terminal to confirm)")


def confirm(env: str, what: str, yes: bool) -> None:
    """Ask before changing ``env``: y/N for staging, the environment's name typed for prod."""
    from cli.confirm import approved
    from stacks.errors import InvalidInput

    if yes:
        return
    require_confirmable(env, yes)
    question = f"This will {what} prod." if env == "prod" else f"{what[:1].upper()}{what[1:]} {env}?"
    if not approved(env, question):
        why = f"the typed name does not match {env!r}" if env == "prod" else "not confirmed"
        raise InvalidInput(f"{why}; nothing was changed")


# --- progress ------------------------------------------------------------------------------------------

_SYMBOLS = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"),
            "replace": ("+-", "magenta"), "create-replacement": ("++", "magenta"),
            "delete-replaced": ("--", "magenta"), "read": (">", "cyan"), "refresh": ("↻", "cyan"),
            "import": ("=", "cyan")}
_DONE = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced",
         "create-replacement": "created replacement", "delete-replaced": "deleted original", "read": "read",
         "refresh": "refreshed", "import": "imported", "same": "unchanged"}
_PLANNED = {"create": "to create", "update": "to update", "delete": "to delete", "replace": "to replace",
            "create-replacement": "to create (replacement)", "delete-replaced": "to delete (replaced)",
            "read": "to read", "refresh": "to refresh", "import": "to import", "same": "unchanged"}


class Progress:
    """Prints resource events as the engine reports them (called from the Automation API's event thread)."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.failed: list[str] = []

    def __call__(self, event: StackEvent) -> None:
        from rich.markup import escape

        from stacks.workspace import Diagnostic, PolicyViolation, ResourceStep

        if isinstance(event, ResourceStep):
            if event.op == "same" or event.type == "pulumi:pulumi:Stack":
                return
            symbol, color = _SYMBOLS.get(event.op, ("*", "white"))
            what = f"{escape(event.type)} [bold]{escape(event.name)}[/]"
            if event.phase == "start":
                verb = _PLANNED.get(event.op, event.op) if event.planning else f"{event.op}…"
                self.out.print(f"  [{color}]{symbol}[/] {what} [dim]{escape(verb)}[/]")
            elif event.phase == "done" and not event.planning:
                self.out.print(f"  [green]✓[/] {what} [dim]{escape(_DONE.get(event.op, event.op))}[/]")
            elif event.phase == "failed":
                self.failed.append(event.urn)
                self.out.print(f"  [bold red]✗[/] {what} [red]{escape(event.op)} failed[/]")
        elif isinstance(event, Diagnostic):
            from stacks.redact import redact  # provider errors quote requests: URLs, headers, values

            color = "red" if event.severity == "error" else "yellow"
            self.out.print(f"  [{color}]{event.severity}:[/] {escape(redact(event.message))}")
        elif isinstance(event, PolicyViolation):
            color = "red" if event.level == "mandatory" else "yellow"
            self.out.print(f"  [{color}]policy {escape(event.level)}[/] {escape(event.pack)}/{escape(event.policy)}: "
                           f"{escape(event.message)}")


def summary(changes: Mapping[str, int], *, planned: bool) -> str:
    words = _PLANNED if planned else _DONE
    order = ["create", "update", "replace", "create-replacement", "delete-replaced", "delete", "read", "refresh",
             "import", "same"]
    parts = [f"{changes[op]} {words.get(op, op)}" for op in sorted(changes, key=lambda o: (
        order.index(o) if o in order else len(order), o)) if changes[op]]
    return ", ".join(parts) if parts else "no changes"


@contextmanager
def running(out: Console, text: str) -> Iterator[Progress]:
    """A spinner on a terminal (plain lines in logs) while the engine runs."""
    progress = Progress(out)
    if out.is_terminal:
        with out.status(text):
            yield progress
    else:
        out.print(text)
        yield progress


def policy_note(out: Console, packs: list[str]) -> None:
    from rich.markup import escape

    if packs:
        out.print(f"[dim]policy pack: {escape(', '.join(packs))}[/]")
    else:
        out.print("[dim]no policy pack (policies/PulumiPolicy.yaml absent): nothing enforced beyond config checks[/]")


def run_preview(stack: Any, out: Console, env: str, packs: list[str]) -> OperationResult:
    with running(out, f"previewing {env}…") as progress:
        result = stack.preview(policy_packs=packs, on_event=progress)
    out.print(f"[bold]{env} preview:[/] {summary(result.changes, planned=True)}")
    return result


def run_up(stack: Any, out: Console, env: str, packs: list[str], message: str) -> OperationResult:
    with running(out, f"updating {env}…") as progress:
        result = stack.up(message=message, policy_packs=packs, on_event=progress)
    out.print(f"[bold green]{env} updated[/] (update {result.version}): {summary(result.changes, planned=False)}")
    return result


def _validated(env: str, *, applying: bool = False):
    """The environment's config, validated before anything runs (bad env or file: exit 2). ``applying``:
    the command creates or updates resources, so the shipped example values must be gone: applied, they
    fail halfway (access entries for a foreign account) or lock everyone out."""
    from stacks import config as stack_config
    from stacks.errors import InvalidInput
    from stacks.project import stack_file

    path = stack_file(env)
    cfg = stack_config.load(env, path)
    left = stack_config.example_values(cfg) if applying else []
    if left:
        raise InvalidInput(f"{path.name} still has example values: {'; '.join(left)}"
                           f"{_also_missing(env)}; nothing was changed",
                           hint=f"put your own first (README, Before the first `infra up`); `infra doctor {env}` "
                                "lists everything with its fix")
    return cfg


def _also_missing(env: str) -> str:
    """The prerequisites a fresh clone also lacks, so the first refusal names everything at once."""
    from stacks import workspace
    from stacks.errors import InvalidInput, MissingPrerequisite

    try:
        workspace.prerequisites(env, cloud=True)
    except (MissingPrerequisite, InvalidInput) as exc:
        return f"; and {exc.message}"
    return ""
def refuse_fixed_changes(stack: Any, cfg: Any) -> None:
    """Before preview or up: the stack file may not change what the environment fixed at its first deploy
    (Temporal's history shard count); exit 4 with the reason."""
    from stacks.shards import check_history_shards

    check_history_shards(cfg, stack.outputs())


# --- commands --------------------------------------------------------------------------------------------


def preview(env: EnvArg) -> None:
    """Show what `infra up ENV` would change in the real environment (with the policy pack, if any).

    Needs the pulumi CLI, AWS credentials and the state backend; `infra plan ENV` works offline.
    """
    from cli.output import console
    from stacks import workspace
    from stacks.project import project_dir

    cfg = _validated(env)
    stack = workspace.open_stack(env, cloud=True, create=True)
    refuse_fixed_changes(stack, cfg)
    out = console()
    packs = workspace.policy_packs(project_dir())
    policy_note(out, packs)
    run_preview(stack, out, env, packs)


def up(env: EnvArg, yes: YesOpt = False, override_budget: OverrideBudgetOpt = None) -> None:
    """Create or update the environment's resources to match its program and stack file.

    Without --yes: previews, then asks (prod: type its name). Runs the policy pack when it exists.
    Refused (exit 4) while the month's spend is at 100% of the budget or more, unless --override-budget.
    """
    from cli.output import console
    from policies import spend
    from stacks import releases, workspace
    from stacks.project import project_dir

    cfg = _validated(env, applying=True)
    require_confirmable(env, yes)
    stack = workspace.open_stack(env, cloud=True, create=True)  # prerequisites first: a missing CLI comes first
    refuse_fixed_changes(stack, cfg)
    spend.enforce(cfg, action=f"infra up {env}", override_reason=override_budget)
    out = console()
    project = project_dir()
    packs = workspace.policy_packs(project)
    policy_note(out, packs)
    _warn_release_drift(out, env, cfg.release.image, releases.releases(stack.history()))
    if not yes:
        run_preview(stack, out, env, packs)
        confirm(env, "update", yes)
    run_up(stack, out, env, packs, f"infra up: commit={workspace.git_commit(project)}")


def _warn_release_drift(out: Console, env: str, image: str | None, found: list) -> None:
    from rich.markup import escape

    live = next((r for r in found if r.ok), None)
    if live is not None and live.settings.image != image:
        out.print(f"[yellow]note:[/] Pulumi.{env}.yaml has image {escape(image or '(none)')} but release {live.id} "
                  f"runs {escape(str(live.settings.image))}; this update applies the file "
                  f"(commit it after `infra deploy`, or use `infra rollback`)")


def refresh(env: EnvArg, yes: YesOpt = False) -> None:
    """Read every resource's real state from AWS and Kubernetes into the stack's state (fixes drift in state,
    changes no resource)."""
    from cli.output import console
    from stacks import workspace

    _validated(env)
    require_confirmable(env, yes)
    stack = workspace.open_stack(env, cloud=True)
    confirm(env, "refresh the recorded state of", yes)
    out = console()
    with running(out, f"refreshing {env}…") as progress:
        result = stack.refresh(on_event=progress)
    out.print(f"[bold green]{env} refreshed[/]: {summary(result.changes, planned=False)}")


def destroy(
    env: EnvArg,
    yes: YesOpt = False,
    destroy_production: Annotated[
        bool, typer.Option("--destroy-production", help="Required, as well, to destroy prod.")
    ] = False,
) -> None:
    """Delete every resource of the environment. Refused while PostgreSQL deletion protection is on."""
    from cli.output import console
    from stacks import workspace
    from stacks.config import check_environment
    from stacks.errors import Blocked, InvalidInput
    from stacks.project import stack_file

    check_environment(env)
    path = stack_file(env)
    if env == "prod" and not destroy_production:
        raise InvalidInput("destroying prod needs --destroy-production as well; nothing was changed")
    if workspace.deletion_protected(path):
        hint = ("prod's config requires it (stacks/config.py): retiring prod is a reviewed code change"
                if env == "prod" else f"set it to false and run `infra up {env}` first")
        raise Blocked(f"{path.name}: infra:postgres.deletionProtection is on; destroy refused", hint=hint)
    require_confirmable(env, yes)
    stack = workspace.open_stack(env, cloud=True)
    confirm(env, "destroy every resource of", yes)
    out = console()
    with running(out, f"destroying {env}…") as progress:
        result = stack.destroy(on_event=progress)
    out.print(f"[bold red]{env} destroyed[/]: {summary(result.changes, planned=False)}")


def outputs(
    env: EnvArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object of name -> value.")] = False,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="Print secret values in clear.")] = False,
) -> None:
    """Print the stack outputs (cluster endpoint, database address, secret ARNs...). Secrets stay hidden
    unless --show-secrets."""
    from rich.markup import escape
    from rich.table import Table

    from cli.output import console
    from stacks import workspace
    from stacks.config import check_environment

    check_environment(env)
    values = workspace.open_stack(env, cloud=False).outputs(show_secrets=show_secrets)
    # An output holding a secret anywhere inside is hidden whole.
    shown = {k: (v.value if show_secrets or not v.secret else workspace.SECRET_SENTINEL)
             for k, v in sorted(values.items())}
    if as_json:
        typer.echo(json.dumps(shown, indent=2, sort_keys=True))
        return
    out = console()
    if not shown:
        out.print(f"{env} has no outputs yet (run `infra up {env}`)")
        return
    table = Table(title=f"{env} outputs", title_justify="left")
    table.add_column("name")
    table.add_column("value", overflow="fold")
    for name, value in shown.items():
        text = value if isinstance(value, str) else json.dumps(value)
        table.add_row(name, escape(text))
    out.print(table)


def history(
    env: EnvArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")] = False,
) -> None:
    """List the stack's updates, newest first: who changed what, when, and whether it worked."""
    from rich.markup import escape
    from rich.table import Table

    from cli.output import console
    from stacks import workspace
    from stacks.config import check_environment

    check_environment(env)
    records = workspace.open_stack(env, cloud=False).history()
    if as_json:
        typer.echo(json.dumps({"version": 1, "environment": env, "updates": [{
            "version": r.version, "kind": r.kind, "result": r.result, "message": r.message,
            "startTime": r.start_time.isoformat() if r.start_time else None,
            "endTime": r.end_time.isoformat() if r.end_time else None, "changes": r.changes,
        } for r in records]}, indent=2))
        return
    out = console()
    if not records:
        out.print(f"{env} has no updates yet")
        return
    table = Table(title=f"{env} history", title_justify="left")
    for column in ("update", "kind", "result", "started (UTC)", "took", "changes", "message"):
        table.add_column(column)
    for r in records:
        took = f"{(r.end_time - r.start_time).total_seconds():.0f}s" if r.end_time and r.start_time else ""
        color = {"succeeded": "green", "failed": "red"}.get(r.result, "yellow")
        table.add_row(str(r.version or ""), r.kind, f"[{color}]{r.result}[/]", _when(r.start_time), took,
                      escape(summary(r.changes, planned=False)), escape(r.message))
    out.print(table)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""

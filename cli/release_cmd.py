"""`infra deploy|releases|rollback ENV`: ship the application, list what shipped, return to a good release.

A release is an `up` whose message records its settings and commit (see stacks/releases.py): the state
backend's history is the list of releases, shared by everyone using that backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.stack_cmd import EnvArg, OverrideBudgetOpt, YesOpt

if TYPE_CHECKING:
    from rich.console import Console

    from stacks.workspace import ReleaseSettings


def _show_diff(out: Console, env: str, old: ReleaseSettings, new: ReleaseSettings) -> None:
    from rich.markup import escape

    from stacks import releases

    changes = releases.diff(old, new)
    if not changes:
        out.print(f"release settings of {env} unchanged; re-applying them")
        return
    out.print(f"[bold]infra:release[/] of {env}:")
    for key, before, after in changes:
        out.print(f"  {key}: [red]{escape(_shown(before))}[/] → [green]{escape(_shown(after))}[/]")


def _shown(value: object) -> str:
    return "(none)" if value is None else str(value)


def _ship(stack, out: Console, env: str, settings: ReleaseSettings, message: str, previous: ReleaseSettings):
    """Write the release settings into the stack file, then run up. Unless the update succeeds (failed, refused
    by a policy or a lock, interrupted), the file gets its previous settings back: it must hold what runs, or the
    next `infra up` (CI on merge) would apply the release that did not make it."""
    from cli import stack_cmd
    from stacks import workspace
    from stacks.errors import OperationFailed
    from stacks.project import project_dir

    packs = workspace.policy_packs(project_dir())
    stack_cmd.policy_note(out, packs)
    stack.set_release_settings(settings)
    try:
        result = stack_cmd.run_up(stack, out, env, packs, message)
    except BaseException as exc:
        stack.set_release_settings(previous)
        if isinstance(exc, OperationFailed):
            exc.hint = (f"the update is recorded as a failed release and Pulumi.{env}.yaml keeps the previous "
                        f"settings; `infra rollback {env}` returns to the last good one")
        raise
    out.print(f"[dim]Pulumi.{env}.yaml now holds this release's settings: commit it, so that the next "
              f"`infra up {env}` (CI on merge) keeps it[/]")
    return result


def deploy(
    env: EnvArg,
    image: Annotated[str, typer.Option("--image", help="Application image, pinned: REGISTRY/REPO:TAG or @sha256:…",
                                       show_default=False)],
    app_replicas: Annotated[int | None, typer.Option("--app-replicas", min=1, help="App replicas (default: keep).")]
    = None,
    worker_replicas: Annotated[
        int | None, typer.Option("--worker-replicas", min=0, help="Worker replicas (default: keep).")
    ] = None,
    yes: YesOpt = False,
    override_budget: OverrideBudgetOpt = None,
) -> None:
    """Ship a release: set the image (and replicas) in the stack config, run up, record the release with the
    git commit and image. Refused (exit 4) at 100%+ of the month's budget unless --override-budget."""
    from cli import stack_cmd
    from cli.output import console
    from policies import spend
    from stacks import releases, workspace
    from stacks.config import check_environment, check_image
    from stacks.errors import InvalidInput
    from stacks.project import project_dir

    check_environment(env)
    try:
        check_image(image)
    except ValueError as exc:
        raise InvalidInput(f"--image: {exc}") from None
    cfg = stack_cmd._validated(env, applying=True)
    stack_cmd.require_confirmable(env, yes)
    stack = workspace.open_stack(env, cloud=True)
    stack_cmd.refuse_fixed_changes(stack, cfg)
    spend.enforce(cfg, action=f"infra deploy {env}", override_reason=override_budget)
    current = stack.release_settings()
    new = workspace.ReleaseSettings(
        image=image,
        app_replicas=current.app_replicas if app_replicas is None else app_replicas,
        worker_replicas=current.worker_replicas if worker_replicas is None else worker_replicas,
    )
    _within_autoscaling(cfg, new)
    out = console()
    _show_diff(out, env, current, new)
    stack_cmd.confirm(env, f"deploy {image} to", yes)
    message = releases.message(new, workspace.git_commit(project_dir()))
    result = _ship(stack, out, env, new, message, current)
    out.print(f"[bold green]release {result.version}[/] of {env}: {image}")


def _within_autoscaling(cfg, settings: ReleaseSettings) -> None:
    """The release's replicas are the autoscalers' floor: above their ceiling, refuse before anything changes."""
    from stacks.errors import InvalidInput

    scaling = cfg.autoscaling
    for what, wanted, key, ceiling in (("app", settings.app_replicas, "appMaxReplicas", scaling.app_max_replicas),
                                       ("worker", settings.worker_replicas, "workerMaxReplicas",
                                        scaling.worker_max_replicas)):
        if wanted > ceiling:
            raise InvalidInput(f"{wanted} {what} replicas is above infra:autoscaling.{key} ({ceiling}), the "
                               "autoscaler's maximum", hint=f"raise {key} first (`infra plan {cfg.environment}` "
                               "checks that it fits the quota)")


def list_releases(
    env: EnvArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List the environment's releases, newest first, with their result, image, replicas and commit."""
    import json

    from rich.markup import escape
    from rich.table import Table

    from cli.output import console
    from stacks import releases, workspace
    from stacks.config import check_environment

    check_environment(env)
    found = releases.releases(workspace.open_stack(env, cloud=False).history())
    if as_json:
        typer.echo(json.dumps([{
            "release": r.id, "result": r.result, "image": r.settings.image, "appReplicas": r.settings.app_replicas,
            "workerReplicas": r.settings.worker_replicas, "commit": r.commit,
            "started": r.started.isoformat() if r.started else None,
            "rollbackFrom": r.rollback_from, "rollbackTo": r.rollback_to,
        } for r in found], indent=2))
        return
    out = console()
    if not found:
        out.print(f"{env} has no releases yet (`infra deploy {env} --image REF`)")
        return
    live = next((r.id for r in found if r.ok), None)
    table = Table(title=f"{env} releases", title_justify="left")
    for column in ("release", "result", "started (UTC)", "image", "app/workers", "commit", "note"):
        table.add_column(column)
    for r in found:
        color = {"succeeded": "green", "failed": "red"}.get(r.result, "yellow")
        notes = []
        if r.id == live:
            notes.append("live")
        if r.rollback_to is not None:
            notes.append(f"rollback {r.rollback_from} → {r.rollback_to}")
        table.add_row(str(r.id), f"[{color}]{r.result}[/]",
                      r.started.strftime("%Y-%m-%d %H:%M") if r.started else "", escape(r.settings.image or ""),
                      f"{r.settings.app_replicas}/{r.settings.worker_replicas}", r.commit[:12], ", ".join(notes))
    out.print(table)


def rollback(
    env: EnvArg,
    to: Annotated[str | None, typer.Option("--to", help="Release number to return to (default: the last good "
                                                        "one before the current).", show_default=False)] = None,
    yes: YesOpt = False,
) -> None:
    """Return to a previous good release: show the settings diff, confirm, re-apply them, record a release."""
    from rich.markup import escape

    from cli import stack_cmd
    from cli.output import console
    from stacks import releases, workspace
    from stacks.config import check_environment
    from stacks.project import project_dir

    check_environment(env)
    wanted = releases.parse_release_id(to) if to is not None else None
    cfg = stack_cmd._validated(env, applying=True)
    stack_cmd.require_confirmable(env, yes)
    stack = workspace.open_stack(env, cloud=True)
    stack_cmd.refuse_fixed_changes(stack, cfg)
    found = releases.releases(stack.history())
    target = releases.rollback_target(env, found, wanted)
    _within_autoscaling(cfg, target.settings)
    current = stack.release_settings()
    out = console()
    when = f", {target.started:%Y-%m-%d %H:%M}" if target.started else ""
    out.print(f"rolling {env} back from release {found[0].id} to release {target.id} "
              f"({escape(str(target.settings.image))}, commit {target.commit[:12]}{when})")
    _show_diff(out, env, current, target.settings)
    stack_cmd.confirm(env, f"roll back to release {target.id} on", yes)
    message = releases.message(target.settings, workspace.git_commit(project_dir()),
                               rollback_from=found[0].id, rollback_to=target.id)
    result = _ship(stack, out, env, target.settings, message, current)
    out.print(f"[bold green]release {result.version}[/] of {env}: back to release {target.id}")

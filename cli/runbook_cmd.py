"""`infra runbook ...` and `infra restart-container`: scripted incident procedures.

Imports stay light here (``infra --help`` must start fast): the runbook engine, docker, kubernetes
and grpc load inside the commands.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from cli.options import seconds

EXIT_CODES = "Exit codes: 0 ok/healthy · 1 not recovered · 2 invalid input · 3 missing prerequisite · 4 locked."

app = typer.Typer(help="Scripted incident runbooks: list, show, docs, run.", no_args_is_help=True)


@contextmanager
def _redacted_errors() -> Iterator[None]:
    """Errors can quote probe URLs or log lines; mask secrets before the boundary prints them."""
    from stacks.errors import InfraError
    from stacks.redact import redact

    try:
        yield
    except InfraError as exc:
        exc.message = redact(exc.message)
        exc.hint = redact(exc.hint) if exc.hint else exc.hint
        exc.args = (exc.message,)
        raise


def _say(text: str) -> None:
    from cli.output import console

    console().print(text, markup=False, highlight=False)


def _confirmer(yes: bool, environment: str | None):
    from cli.confirm import approved, interactive
    from stacks.errors import InvalidInput

    def confirm(run, step) -> bool:
        if yes:
            return True
        if not interactive():
            raise InvalidInput(f"step '{step.name}' changes {run.target.ref} and needs confirmation, "
                               "but there is no terminal to ask", hint="pass --yes")
        question = (f"'{step.name}' changes {run.target.ref} in prod." if environment == "prod"
                    else f"'{step.name}': {step.does}. Go ahead on {run.target.ref}?")
        return approved(environment, question)

    return confirm


def _execute(runbook, inputs, *, dry_run: bool, yes: bool) -> None:
    from runbooks.engine import execute
    from runbooks.state import state_paths
    from stacks.redact import redact

    paths = state_paths()
    outcome = execute(runbook, inputs, paths=paths, dry_run=dry_run,
                      confirm=_confirmer(yes, inputs.environment), say=_say)
    _say(redact(f"✔ {outcome}"))
    if not dry_run:
        _say(f"incident record: {paths.incident_log}")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")]


@app.command("list")
def list_runbooks(as_json: JsonOpt = False) -> None:
    """List the runbooks."""
    from runbooks.registry import RUNBOOKS

    if as_json:
        typer.echo(json.dumps({"version": 1, "runbooks": [{"name": rb.name, "title": rb.title}
                                                          for rb in RUNBOOKS.values()]}, indent=2))
        return
    for rb in RUNBOOKS.values():
        _say(f"{rb.name:<20} {rb.title}")


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Runbook name (see `infra runbook list`).")],
         as_json: JsonOpt = False) -> None:
    """Show a runbook's steps: what each does, whether it changes things, and what it needs."""
    from runbooks.registry import get

    with _redacted_errors():
        rb = get(name)
    if as_json:
        typer.echo(json.dumps({"version": 1, "runbook": {
            "name": rb.name, "title": rb.title, "summary": rb.summary, "usage": rb.usage,
            "targetForms": rb.target_forms, "whenItFails": rb.when_it_fails,
            "steps": [{"name": step.name, "does": step.does, "needs": step.needs, "mutating": step.mutating}
                      for step in rb.steps]}}, indent=2))
        return
    _say(f"{rb.name}: {rb.title}\n\n{rb.summary}\n\nusage: {rb.usage}\n\nsteps:")
    for index, step in enumerate(rb.steps, 1):
        marker = " [changes things]" if step.mutating else ""
        _say(f"  {index}. {step.name}{marker}: {step.does}\n       needs: {step.needs}")
    _say(f"\nwhen it does not recover: {rb.when_it_fails}")


@app.command("docs")
def docs() -> None:
    """Print every runbook as markdown (the procedures' documentation)."""
    from runbooks.docs import render
    from runbooks.registry import RUNBOOKS

    sys.stdout.write(render(list(RUNBOOKS.values())))


@app.command("run", epilog=EXIT_CODES)
def run(
    name: Annotated[str, typer.Argument(help="Runbook name (see `infra runbook list`).")],
    env: Annotated[str, typer.Option("--env", help="Environment: staging or prod.")],
    target: Annotated[str | None, typer.Option(
        help="Override the target (forms per runbook: see `infra runbook show NAME`), e.g. docker://NAME, "
             "k8s://NAMESPACE/deployment/NAME, rds://IDENTIFIER, secretsmanager://NAME.")] = None,
    health: Annotated[str | None, typer.Option(
        help="Override the probe: tcp://HOST:PORT, http(s)://..., grpc://HOST:PORT.")] = None,
    timeout: Annotated[float | None, seconds(
        "Seconds for the restart and recovery (default: the environment's config).")] = None,
    grace: Annotated[float | None, seconds(
        "Seconds it must stay healthy after recovering (default: config).", zero_ok=True)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Observe and show the plan; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Run a runbook: observe, diagnose, act, verify, and record the incident."""
    from runbooks.registry import RESOLVERS, get

    with _redacted_errors():
        runbook = get(name)
        inputs = RESOLVERS[name](env, target=target, health=health, timeout=timeout, grace=grace)
        _execute(runbook, inputs, dry_run=dry_run, yes=yes)


@app.command("watch", epilog="Exit codes: 0 still healthy (or the window is over) · 1 relapse · 2 unknown incident.")
def watch(
    incident: Annotated[str, typer.Argument(
        help="The incident's id (the 'Incident:' line of its record in INCIDENT_LOG.md).")],
    hours: Annotated[float, typer.Option(help="How long after the incident to keep watching.",
                                         min=0.1, max=24 * 14)] = 24.0,
    health: Annotated[str | None, typer.Option(help="Override the incident's probe.")] = None,
) -> None:
    """Look once more at a restarted target and append what was seen to its incident record: schedule it
    (cron, a scheduled CI job) for the 24 h after an incident instead of holding a terminal; exit 1 on a relapse."""
    from runbooks.state import state_paths
    from runbooks.watch import watch as watch_once

    with _redacted_errors():
        watch_once(incident, paths=state_paths(), hours=hours, health=health, say=_say)


def restart_container(
    name: Annotated[str, typer.Argument(
        help="Container name (docker), or NAMESPACE/deployment/NAME (kubernetes).")],
    runtime: Annotated[str, typer.Option(
        help="docker (Docker Engine API; honours DOCKER_HOST) or kubernetes.")] = "docker",
    health: Annotated[str | None, typer.Option(
        help="Probe that must pass: tcp://HOST:PORT, http(s)://..., grpc://HOST:PORT. "
             "Required for docker; kubernetes defaults to the rollout status.")] = None,
    timeout: Annotated[float, seconds("Seconds to wait for the restart and the probe.")] = 60.0,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Restart a container and wait until its health probe passes (exit 0) or the timeout expires (exit 1)."""
    from runbooks import restart_container as rc

    with _redacted_errors():
        inputs = rc.resolve(name, runtime=runtime, health=health, timeout=timeout)
        _execute(rc.RUNBOOK, inputs, dry_run=False, yes=yes)

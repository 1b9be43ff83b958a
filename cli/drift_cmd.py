"""`infra drift ENV`: does the live environment still match the program? (someone changed it by hand)

Reads every resource's live state and previews what `infra up` would change from there (over the
Automation API: ``preview(refresh=True)``), without changing anything, the recorded state included.
Exit 0: no drift; 5 (``ExitCode.DRIFT``): drift found, listed resource by resource; the usual codes
otherwise (2 bad input, 3 missing CLI, credentials or stack, 1 the preview failed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from cli.stack_cmd import EnvArg

# Steps that are not differences: unchanged, and the refresh (reading live state) itself.
_NOT_DRIFT = {"same", "refresh", "read"}
_WORDS = {"update": "differs", "replace": "differs; up would replace it",
          "create-replacement": "differs; up would replace it", "delete-replaced": "differs; up would replace it",
          "create": "missing (deleted outside the program); up would create it",
          "delete": "not in the program; up would delete it", "import": "would be imported"}


@dataclass(frozen=True)
class Drifted:
    urn: str
    type: str
    name: str
    op: str  # what `infra up` would do to put it back
    properties: tuple[str, ...]  # "path (kind)": names, never values (they may be secrets)

    def as_dict(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "op": self.op,
                "meaning": _WORDS.get(self.op, self.op), "properties": list(self.properties)}


def drifted(events: list[Any]) -> list[Drifted]:
    """The resources a refresh preview would change, one each (a replacement's several steps are one)."""
    from stacks.workspace import ResourceStep

    found: dict[str, Drifted] = {}
    for e in events:
        if not isinstance(e, ResourceStep) or e.phase != "start" or e.op in _NOT_DRIFT:
            continue
        if e.type == "pulumi:pulumi:Stack" or e.urn in found:
            continue
        found[e.urn] = Drifted(e.urn, e.type, e.name, e.op, e.diffs)
    return sorted(found.values(), key=lambda d: (d.type, d.name))


def report_text(env: str, found: list[Drifted]) -> str:
    if not found:
        return f"{env}: no drift: the live environment matches the program"
    lines = [f"{env}: {len(found)} resource{'s' if len(found) != 1 else ''} drifted from the program "
             f"(`infra up {env}` would put them back)"]
    for d in found:
        lines.append(f"  {d.type} {d.name}: {_WORDS.get(d.op, d.op)}")
        lines.extend(f"      {p}" for p in d.properties)
    return "\n".join(lines)


def drift(
    env: EnvArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")] = False,
    notify: Annotated[bool, typer.Option(
        "--notify", help="When drift is found, also send the report to the environment's alert topic.")] = False,
) -> None:
    """Compare the live environment with the program: what was changed outside `infra up`, resource by
    resource. Changes nothing. Exit 0 no drift, 5 drift found.

    Needs the pulumi CLI, AWS credentials and the state backend (read-only access is enough).
    """
    from rich.markup import escape

    from cli.output import console, err_console
    from cli.stack_cmd import _validated, running
    from policies import spend
    from stacks import workspace
    from stacks.errors import ExitCode

    cfg = _validated(env)
    stack = workspace.open_stack(env, cloud=True)
    events: list[Any] = []
    out = err_console if as_json else console()
    with running(out, f"reading {env}'s live state and comparing it with the program…"):
        stack.drift_preview(on_event=events.append)
    found = drifted(events)
    if as_json:
        typer.echo(json.dumps({"version": 1, "environment": env, "drift": bool(found),
                               "resources": [d.as_dict() for d in found]}, indent=2, sort_keys=True))
    else:
        out.print(escape(report_text(env, found)), style="bold yellow" if found else "green")
    if found and notify:
        topic = spend.publish_alert(cfg, f"[infra] {env}: {len(found)} resources drifted from the program",
                                    report_text(env, found), what="the drift report")
        err_console.print(f"sent the drift report to {topic}", markup=False)
    if found:
        raise typer.Exit(int(ExitCode.DRIFT))

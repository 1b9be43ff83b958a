"""`infra policy list|check`: the guardrails, and checking a saved plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Guardrails: the policy pack's rules, and checking saved plans.", no_args_is_help=True)


@app.command("list")
def list_rules(
    as_json: Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")] = False,
) -> None:
    """Show every rule, its enforcement level and the closest checkov check."""
    from rich import box
    from rich.table import Table

    from cli.output import console
    from policies.rules import ALL_RULES

    if as_json:
        typer.echo(json.dumps({"version": 1, "rules": [
            {"name": r.name, "enforcement": str(r.enforcement), "description": r.description, "fix": r.fix,
             "checkov": r.checkov} for r in ALL_RULES]}, indent=2))
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("rule", "level", "what it requires", "checkov"):
        table.add_column(column, overflow="fold")
    for rule in ALL_RULES:
        table.add_row(rule.name, str(rule.enforcement), rule.description, rule.checkov or "-")
    console().print(table)


@app.command("check")
def check(
    plan_file: Annotated[Path, typer.Argument(help="A document saved with `infra plan ENV --json`.",
                                              show_default=False)],
) -> None:
    """Evaluate the guardrails on a saved plan; exit 4 on a mandatory violation."""
    from cli.guardrails_view import enforce, print_report
    from cli.output import console
    from policies.check import check_document

    _, report = check_document(plan_file)
    print_report(console(), report)
    enforce(report)

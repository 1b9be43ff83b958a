"""`infra plan ENV`: the environment's whole Pulumi program, run offline under the mock engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def plan(
    env: Annotated[str, typer.Argument(help="Environment (stack) to plan: staging or prod.", show_default=False)],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Plan from another stack config file (a what-if).", dir_okay=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a stable, versioned JSON document instead of tables.")
    ] = False,
) -> None:
    """Show every resource the environment's Pulumi program would create, offline.

    Runs the very program `infra up` deploys, in-process under Pulumi's mock engine: no pulumi CLI,
    no AWS account. Secrets are shown as [secret]. Then the guardrails run on it (a mandatory
    violation exits 4) and the monthly cost is estimated.
    """
    from cli import plan_view
    from cli.guardrails_view import cost_line, enforce, print_report
    from cli.output import console, err_console
    from policies import cost
    from policies.check import check_plan, resources_of_plan
    from stacks import config as stack_config
    from stacks import offline
    from stacks.project import stack_file, what_if_note

    path = stack_file(env, config)
    cfg = stack_config.load(env, path)
    result = offline.run(cfg)
    report = check_plan(result, cfg)
    spend = cost.estimate(env, cfg.region, resources_of_plan(result), budget_usd=cfg.budget.monthly_usd)
    what_if = what_if_note(env, path) if config is not None else None
    if as_json:
        # stdout stays a pure plan document (for `infra policy check`); the verdicts go to stderr.
        typer.echo(json.dumps(plan_view.document(result), indent=2, sort_keys=True))
        out = err_console
    else:
        out = console()
    if what_if:
        out.print(what_if, style="bold yellow", markup=False)
    if not as_json:
        for renderable in plan_view.render(result, cfg.region):
            out.print(renderable)
        out.print()
    print_report(out, report)
    out.print(cost_line(spend), markup=False)
    if what_if:
        out.print(what_if, style="bold yellow", markup=False)  # again at the end, where the verdict is read
    enforce(report)

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
    compare_to: Annotated[
        Path | None,
        typer.Option("--compare-to", metavar="BASE.json", dir_okay=False,
                      help="Show what changes against a saved plan (the target branch's `infra plan ENV --json`): "
                           "resources added, removed and changed, and the monthly cost before and after. Exit 4 "
                           "when the change takes the estimate over the budget."),
    ] = None,
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
    base = _read_base(compare_to, env) if compare_to is not None else None  # a bad base: exit 2 before running
    result = offline.run(cfg)
    report = check_plan(result, cfg)
    spend = cost.estimate(env, cfg.region, resources_of_plan(result), budget_usd=cfg.budget.monthly_usd)
    what_if = what_if_note(env, path) if config is not None else None
    if what_if:
        (err_console if as_json else console()).print(what_if, style="bold yellow", markup=False)
    if base is not None:
        _compare(base, result, cfg, spend, report, as_json)
        return
    out = plan_view.show(result, cfg.region, as_json)
    print_report(out, report)
    out.print(cost_line(spend), markup=False)
    if what_if:
        out.print(what_if, style="bold yellow", markup=False)  # again at the end, where the verdict is read
    enforce(report)


def _read_base(path: Path, env: str):
    from policies.check import protected_urns, read_document
    from policies.plan_diff import check_base

    base_env, resources = read_document(path)
    check_base(str(path), env, base_env, resources)
    return resources, protected_urns(path)


def _compare(base, result, cfg, spend, report, as_json: bool) -> None:
    """The change against the base plan; exit 4 on a mandatory violation or when it breaks the budget."""
    from cli import plan_diff_view
    from cli.guardrails_view import enforce, print_report
    from cli.output import console, err_console
    from policies import cost
    from policies.check import resources_of_plan
    from policies.plan_diff import compare
    from stacks.errors import Blocked

    base, base_protected = base
    base_cost = cost.estimate(cfg.environment, cfg.region, base, budget_usd=cfg.budget.monthly_usd)
    head_protected = {r.urn for r in result.resources if r.protect}
    diff = compare(cfg.environment, base, resources_of_plan(result), base_cost, spend,
                   protected=(base_protected, head_protected))
    if as_json:
        typer.echo(json.dumps(diff.as_dict(), indent=2, sort_keys=True))
        out = err_console
    else:
        out = console()
        plan_diff_view.render(out, diff)
    print_report(out, report)
    enforce(report)
    if diff.over_budget:
        raise Blocked(f"this change takes {cfg.environment}'s estimate to ${diff.total:,.2f} a month "
                      f"({plan_diff_view.signed(diff.diff_total)}), over its ${diff.budget:,.2f} budget",
                      hint="make it cheaper, or raise infra:budget.monthlyUsd in the same change")

"""`infra cost ...`: what an environment will cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Cost: monthly estimates from the plan and a price table.", no_args_is_help=True)


@app.command("estimate")
def estimate(
    env: Annotated[str, typer.Argument(help="Environment: staging or prod.", show_default=False)],
    config: Annotated[Path | None, typer.Option("--config", help="Estimate another stack config file.",
                                                dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")] = False,
) -> None:
    """Monthly cost per resource and in total, against the environment's budget."""
    from cli.guardrails_view import print_estimate
    from cli.output import console
    from policies import cost
    from policies.check import resources_of_plan
    from stacks import config as stack_config
    from stacks import offline
    from stacks.project import stack_file

    cfg = stack_config.load(env, stack_file(env, config))
    plan = offline.run(cfg)
    result = cost.estimate(env, cfg.region, resources_of_plan(plan), budget_usd=cfg.budget.monthly_usd)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        print_estimate(console(), result)

"""`infra cost ...`: what an environment will cost, and what it has cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import days as days_option

app = typer.Typer(help="Cost: the monthly estimate from the plan; actual spend, the daily report, the circuit "
                       "breaker.", no_args_is_help=True)


@app.command("estimate")
def estimate(
    env: Annotated[str, typer.Argument(help="Environment: staging or prod.", show_default=False)],
    config: Annotated[Path | None, typer.Option("--config", help="Estimate another stack config file.",
                                                dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")] = False,
) -> None:
    """Monthly cost per resource and in total, against the environment's budget."""
    from cli.guardrails_view import print_estimate
    from cli.output import console, err_console
    from policies import cost
    from policies.check import resources_of_plan
    from stacks import config as stack_config
    from stacks import offline
    from stacks.project import stack_file, what_if_note

    path = stack_file(env, config)
    cfg = stack_config.load(env, path)
    plan = offline.run(cfg)
    result = cost.estimate(env, cfg.region, resources_of_plan(plan), budget_usd=cfg.budget.monthly_usd)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        print_estimate(console(), result)
    what_if = what_if_note(env, path) if config is not None else None
    if what_if:
        (err_console if as_json else console()).print(what_if, style="bold yellow", markup=False)


FORMATS = ("table", "markdown", "html", "json")


@app.command("report")
def report(
    env: Annotated[str, typer.Argument(help="Environment: staging or prod.", show_default=False)],
    days: Annotated[int, days_option("Days of daily spend to show (1-365).")] = 14,
    fmt: Annotated[str, typer.Option("--format", help="table, markdown (the CEO's daily report), html (the same "
                                                      "with a chart) or json.")] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file.", dir_okay=False)] = None,
    notify: Annotated[bool, typer.Option(
        "--notify", help="Also email the markdown report through the environment's alert topic (its subscribers: "
                         "infra:budget.alertEmails), and, with infra:budget.reportSender set, the HTML report with "
                         "its chart through SES.")] = False,
) -> None:
    """Actual spend from Cost Explorer: daily by service, month to date against the budget, forecast,
    and the circuit-breaker state (ok, 90% warn, 100% freeze, 200% stop)."""
    from stacks import config as stack_config
    from stacks.errors import InvalidInput
    from stacks.project import stack_file

    cfg = stack_config.load(env, stack_file(env))
    if fmt not in FORMATS:
        raise InvalidInput(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if out is not None and not out.parent.is_dir():
        raise InvalidInput(f"--out {out}: directory {out.parent} does not exist", hint="create it first")

    from policies import spend

    result = spend.report(cfg, days=days)
    if fmt == "json":
        text = json.dumps(result.as_dict(), indent=2) + "\n"
    elif fmt == "markdown":
        text = spend.render_markdown(result)
    elif fmt == "html":
        text = spend.render_html(result)
    else:
        text = None
    if out is not None:
        from cli.output import console

        if text is None:
            with out.open("w", encoding="utf-8") as handle:
                _print_spend(console(file=handle), result)
        else:
            out.write_text(text, encoding="utf-8")
        console().print(f"wrote {out} (circuit breaker: {result.state})", markup=False)
    elif text is not None:
        typer.echo(text, nl=False)
    else:
        from cli.output import console

        _print_spend(console(), result)
    if notify:  # after the report is out, so a delivery failure never costs the report itself
        from cli.output import err_console

        topic = spend.notify(cfg, result)
        err_console.print(f"sent the report (circuit breaker: {result.state}) to {topic}", markup=False)
        if cfg.budget.report_sender:
            mailed = spend.email_html(cfg, result)
            err_console.print(f"mailed the report with its chart to {', '.join(mailed)}", markup=False)


def _print_spend(out, result) -> None:
    from rich import box
    from rich.table import Table

    colour = {"ok": "green", "warn": "yellow", "freeze": "red", "stop": "bold red"}[str(result.state)]
    out.print(f"[bold]{result.environment}[/] on {result.today.isoformat()}: month to date "
              f"${result.month_to_date_usd:,.2f} of ${result.budget_usd:,.2f} ({result.ratio:.0%}); "
              f"forecast ${result.forecast_usd:,.2f}")
    out.print(f"circuit breaker: [{colour}]{str(result.state).upper()}[/]: {result.meaning}")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("date")
    table.add_column("USD", justify="right")
    table.add_column("top services", style="dim", overflow="fold")
    for day in result.days:
        top = sorted(day.by_service.items(), key=lambda kv: -kv[1])[:3]
        table.add_row(day.day.isoformat(), f"{day.total:,.2f}", ", ".join(f"{s} {v:,.2f}" for s, v in top))
    out.print(table)

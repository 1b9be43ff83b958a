"""How guardrail results and cost estimates are shown, for `plan`, `policy` and `cost` alike."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from policies.cost import Estimate
from policies.framework import Report
from stacks.errors import Blocked


def print_report(out: Console, report: Report) -> None:
    mandatory, advisory = len(report.mandatory), len(report.advisory)
    style = "bold red" if mandatory else "yellow" if advisory else "green"
    out.print(f"[{style}]Guardrails: {report.rules_evaluated} rules on {report.resources_evaluated} resources, "
              f"{mandatory} mandatory and {advisory} advisory violations[/]")
    if not report.violations:
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("level", "rule", "resource", "why", "how to fix"):
        table.add_column(column, overflow="fold")
    for v in report.violations:
        level = "[red]MANDATORY[/]" if v.enforcement == "mandatory" else "[yellow]advisory[/]"
        table.add_row(level, v.rule, escape(v.resource_name or "(stack)"), escape(v.message), escape(v.fix))
    out.print(table)


def enforce(report: Report) -> None:
    """A mandatory violation blocks: exit 4 after everything was shown."""
    if report.mandatory:
        n = len(report.mandatory)
        raise Blocked(f"{n} mandatory guardrail violation{'s' if n > 1 else ''}: nothing may deploy",
                      hint="fix them or see: infra policy list")


def cost_line(estimate: Estimate) -> str:
    if not estimate.unknown:
        line = f"Estimated monthly cost: ${estimate.total_usd:,.2f}"
        if estimate.budget_usd:
            line += f" of the ${estimate.budget_usd:,.2f} budget ({estimate.budget_ratio:.0%})"
    else:
        names = ", ".join(i.resource_name for i in estimate.unknown)
        line = (f"Estimated monthly cost: unknown: ${estimate.total_usd:,.2f} priced, plus {len(estimate.unknown)} "
                f"resource{'s' if len(estimate.unknown) > 1 else ''} with no price ({names})")
        if estimate.budget_usd:
            line += (f"; above the ${estimate.budget_usd:,.2f} budget already" if estimate.within_budget is False
                     else f"; cannot tell whether it fits the ${estimate.budget_usd:,.2f} budget")
    if estimate.scale_out is not None and estimate.scale_out.extra_pods:
        at_max = estimate.at_max_scale_usd
        line += (f"; at max scale-out ${at_max:,.2f}" if at_max is not None else "; at max scale-out: unknown") + (
            f" ({estimate.scale_out.detail})")
    return line


def print_estimate(out: Console, estimate: Estimate) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("resource", overflow="fold")
    table.add_column("type", overflow="fold", style="cyan")
    table.add_column("USD / month", justify="right")
    table.add_column("basis", overflow="fold", style="dim")
    for item in sorted(estimate.items, key=lambda i: (i.unknown, -(i.monthly_usd or 0))):
        amount = "[red]unknown[/]" if item.unknown else f"{item.monthly_usd:,.2f}"
        table.add_row(escape(item.resource_name), item.resource_type, amount, escape(item.detail))
    out.print(table)
    out.print(f"[bold]{escape(cost_line(estimate))}[/]")

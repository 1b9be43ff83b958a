"""How `infra plan ENV --compare-to BASE.json` shows a change: resources added, removed and changed,
property by property, then the monthly cost before, after and the difference."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.plan_view import short_type
from policies.plan_diff import ABSENT, PlanDiff

_MARK = {"add": ("+", "green"), "remove": ("-", "red"), "change": ("~", "yellow")}
_VALUE_WIDTH = 120


def value_text(value: Any) -> str:
    if value is ABSENT:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"


def money(usd: float | None) -> str:
    return "-" if usd is None else f"${usd:,.2f}"


def signed(usd: float | None) -> str:
    return "unknown" if usd is None else f"{'+' if usd > 0 else '-' if usd < 0 else ''}${abs(usd):,.2f}"


def summary_line(diff: PlanDiff) -> str:
    counts = [f"{len(diff.of(a))} to {w}" for a, w in (("add", "add"), ("remove", "remove"), ("change", "change"))]
    return f"{diff.environment}: {', '.join(counts)}"


def cost_total_line(diff: PlanDiff) -> str:
    line = (f"Monthly cost: {money(diff.past_total)} -> {money(diff.total)} ({signed(diff.diff_total)})")
    if diff.budget:
        line += f", budget {money(diff.budget)} ({diff.total / diff.budget:.0%})"
    return line


def render(out: Console, diff: PlanDiff) -> None:
    out.print(f"[bold]{escape(summary_line(diff))}[/]")
    if not diff.resources:
        out.print("no resource changes")
    for r in diff.resources:
        symbol, colour = _MARK[r.action]
        out.print(f"[{colour}]{symbol}[/] {escape(short_type(r.type))} [bold]{escape(r.name)}[/]")
        for p in r.properties:
            if r.action == "add":
                out.print(f"    {escape(p.path)}: {escape(value_text(p.after))}", soft_wrap=True)
            else:
                out.print(f"    {escape(p.path)}: {escape(value_text(p.before))} -> {escape(value_text(p.after))}",
                          soft_wrap=True)
    out.print()
    if diff.costs:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("resource", overflow="fold")
        table.add_column("type", style="cyan", overflow="fold")
        for column in ("before", "after", "diff"):
            table.add_column(column, justify="right")
        for c in diff.costs:
            table.add_row(escape(c.name), short_type(c.type), money(c.before), money(c.after), signed(c.diff))
        out.print(table)
    else:
        out.print("no change in estimated cost")
    style = "bold red" if diff.over_budget else "bold"
    out.print(f"[{style}]{escape(cost_total_line(diff))}[/]")

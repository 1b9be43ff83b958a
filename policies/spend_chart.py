"""The daily cost report as a picture: daily spend, and the month's cumulative spend against the budget's
90/100/200% lines with the run-rate forecast to month end. A PNG mail clients show inline (base64 data URI
in the HTML report, a ``cid:`` part in the email).

matplotlib loads only here, with the Agg backend and without pyplot's global state, so nothing else pays
for it and no display is ever needed.
"""

from __future__ import annotations

import base64
import calendar
import io
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policies.spend import SpendReport

LINES = ((0.9, "90% warn", "#ff7f0e", ":"), (1.0, "100% freeze", "#d62728", "--"), (2.0, "200% stop", "#7f0000", "-."))


def cumulative(report: SpendReport) -> list[tuple[date, float]]:
    """This month's spend to the end of each reported day, ending at the month to date. The line starts at
    the first day shown, at what was spent before it (the month to date minus the days shown)."""
    this_month = [d for d in report.days if (d.day.year, d.day.month) == (report.today.year, report.today.month)]
    running = max(report.month_to_date_usd - sum(d.total for d in this_month), 0.0)
    points = [(this_month[0].day if this_month else report.today.replace(day=1), round(running, 2))]
    for d in this_month:
        running += d.total
        points.append((d.day + timedelta(days=1), round(running, 2)))
    return points


def png(report: SpendReport) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter, DayLocator
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 6.4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    daily, month = figure.subplots(2, 1)

    days = [d.day for d in report.days]
    daily.bar(days, [d.total for d in report.days], color="#1f77b4", width=0.8)
    daily.set_title(f"{report.environment}: daily spend, last {len(days)} days (USD)", loc="left")
    daily.xaxis.set_major_formatter(DateFormatter("%b %d"))
    daily.grid(axis="y", alpha=0.3)
    if not days:
        daily.text(0.5, 0.5, "no tagged spend", transform=daily.transAxes, ha="center", va="center")

    points = cumulative(report)
    month.plot([p[0] for p in points], [p[1] for p in points], color="#1f77b4", linewidth=2.5,
               marker="o", markersize=3, label=f"month to date ${report.month_to_date_usd:,.0f}")
    last_day = calendar.monthrange(report.today.year, report.today.month)[1]
    month_end = report.today.replace(day=last_day) + timedelta(days=1)
    month.plot([points[-1][0], month_end], [report.month_to_date_usd, report.forecast_usd], color="#1f77b4",
               linestyle="--", linewidth=1.5, label=f"forecast ${report.forecast_usd:,.0f}")
    for share, label, colour, style in LINES:
        month.axhline(report.budget_usd * share, color=colour, linestyle=style, linewidth=1.2,
                      label=f"{label} ${report.budget_usd * share:,.0f}")
    month.set_xlim(report.today.replace(day=1), month_end)
    month.set_ylim(0, max(report.budget_usd * 2.1, report.forecast_usd * 1.05, report.month_to_date_usd * 1.05))
    month.set_title(f"{report.today:%B %Y}: cumulative spend against the ${report.budget_usd:,.0f} budget",
                    loc="left")
    month.xaxis.set_major_locator(DayLocator(bymonthday=(1, 8, 15, 22)))
    month.xaxis.set_major_formatter(DateFormatter("%b %d"))
    month.grid(alpha=0.3)
    month.legend(loc="upper left", fontsize="small")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def data_uri(report: SpendReport) -> str:
    return "data:image/png;base64," + base64.b64encode(png(report)).decode("ascii")

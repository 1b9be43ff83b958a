"""Actual spend from Cost Explorer, the circuit breaker it drives, and the daily cost report.

Spend is read for the environment's ``environment`` cost-allocation tag. The forecast is a run-rate
projection (month to date plus the recent daily average for the days left); AWS's own forecast
reaches the team through the Budget's FORECASTED notification.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from stacks.aws_clients import call, client
from stacks.config import EnvironmentConfig

METRIC = "UnblendedCost"
RUN_RATE_DAYS = 7


class BreakerState(StrEnum):
    OK = "ok"
    WARN = "warn"
    FREEZE = "freeze"
    STOP = "stop"


# (share of the monthly budget spent, state): the memo's circuit breakers at 90/100/200%.
THRESHOLDS = ((2.0, BreakerState.STOP), (1.0, BreakerState.FREEZE), (0.9, BreakerState.WARN))

MEANING = {
    BreakerState.OK: "below 90% of the budget: nothing to do",
    BreakerState.WARN: "90% of the budget reached: review the spend today",
    BreakerState.FREEZE: "100% of the budget reached: `infra up` and `infra deploy` refuse without --override-budget",
    BreakerState.STOP: "200% of the budget reached: run `infra runbook run cost-circuit-breaker` to stop the spend",
}


def breaker_state(spent_usd: float, budget_usd: float) -> BreakerState:
    ratio = spent_usd / budget_usd
    return next((state for share, state in THRESHOLDS if ratio >= share), BreakerState.OK)


@dataclass(frozen=True)
class DailyCost:
    day: date
    by_service: dict[str, float]

    @property
    def total(self) -> float:
        return round(sum(self.by_service.values()), 2)


@dataclass
class SpendReport:
    environment: str
    today: date
    budget_usd: float
    month_to_date_usd: float
    days: list[DailyCost] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.month_to_date_usd / self.budget_usd

    @property
    def state(self) -> BreakerState:
        return breaker_state(self.month_to_date_usd, self.budget_usd)

    @property
    def meaning(self) -> str:
        return MEANING[self.state]

    @property
    def forecast_usd(self) -> float:
        recent = self.days[-RUN_RATE_DAYS:]
        daily = sum(d.total for d in recent) / len(recent) if recent else 0.0
        days_in_month = calendar.monthrange(self.today.year, self.today.month)[1]
        remaining = days_in_month - self.today.day + 1  # today has not been billed yet
        return round(self.month_to_date_usd + daily * remaining, 2)

    @property
    def by_service(self) -> list[tuple[str, float]]:
        totals: dict[str, float] = defaultdict(float)
        for day in self.days:
            for service, usd in day.by_service.items():
                totals[service] += usd
        return sorted(((s, round(v, 2)) for s, v in totals.items()), key=lambda kv: -kv[1])

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": 1, "environment": self.environment, "date": self.today.isoformat(), "currency": "USD",
            "budgetMonthlyUsd": self.budget_usd, "monthToDateUsd": self.month_to_date_usd,
            "budgetUsedPercent": round(self.ratio * 100, 1), "forecastMonthEndUsd": self.forecast_usd,
            "circuitBreaker": str(self.state), "meaning": self.meaning,
            "days": [{"date": d.day.isoformat(), "totalUsd": d.total, "byService": d.by_service} for d in self.days],
            "byService": dict(self.by_service),
        }


def _tag_filter(environment: str) -> dict[str, Any]:
    return {"Tags": {"Key": "environment", "Values": [environment], "MatchOptions": ["EQUALS"]}}


def _cost_and_usage(ce: Any, **request: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    token = None
    while True:
        page = call("reading Cost Explorer", ce.get_cost_and_usage, **request,
                    **({"NextPageToken": token} if token else {}))
        results.extend(page.get("ResultsByTime", []))
        token = page.get("NextPageToken")
        if not token:
            return results


def _amount(metrics: dict[str, Any]) -> float:
    return float(metrics.get(METRIC, {}).get("Amount", 0) or 0)


def month_to_date(environment: str, *, today: date, ce: Any) -> float:
    start = today.replace(day=1)
    if start == today:
        return 0.0  # nothing billed yet this month (Cost Explorer's end date is exclusive)
    results = _cost_and_usage(
        ce, TimePeriod={"Start": start.isoformat(), "End": today.isoformat()}, Granularity="MONTHLY",
        Metrics=[METRIC], Filter=_tag_filter(environment),
    )
    return round(sum(_amount(r.get("Total", {})) for r in results), 2)


def daily_costs(environment: str, *, today: date, days: int, ce: Any) -> list[DailyCost]:
    results = _cost_and_usage(
        ce, TimePeriod={"Start": (today - timedelta(days=days)).isoformat(), "End": today.isoformat()},
        Granularity="DAILY", Metrics=[METRIC], Filter=_tag_filter(environment),
        GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}],
    )
    out = []
    for r in results:
        by_service = {g["Keys"][0]: round(_amount(g.get("Metrics", {})), 2) for g in r.get("Groups", [])}
        out.append(DailyCost(date.fromisoformat(r["TimePeriod"]["Start"]), by_service))
    return sorted(out, key=lambda d: d.day)


def report(cfg: EnvironmentConfig, *, days: int, today: date | None = None) -> SpendReport:
    today = today or date.today()
    ce = client("ce", region="us-east-1", profile=cfg.profile)  # Cost Explorer is served from us-east-1 only
    series = daily_costs(cfg.environment, today=today, days=days, ce=ce)
    mtd = month_to_date(cfg.environment, today=today, ce=ce)
    return SpendReport(cfg.environment, today, cfg.budget.monthly_usd, mtd, series)


def current_state(cfg: EnvironmentConfig, *, today: date | None = None) -> tuple[BreakerState, float]:
    """The breaker state from this month's actual spend: what `infra up` and `infra deploy` consult."""
    today = today or date.today()
    spent = month_to_date(cfg.environment, today=today, ce=client("ce", region="us-east-1", profile=cfg.profile))
    return breaker_state(spent, cfg.budget.monthly_usd), spent


def _template(name: str, *, html: bool):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=html)
    return env.get_template(name)


def render_markdown(spend: SpendReport) -> str:
    return _template("cost_report.md.j2", html=False).render(r=spend)


def render_html(spend: SpendReport, chart_src: str | None = None) -> str:
    """The report as one self-contained HTML page, the chart inline (a data URI unless ``chart_src`` names
    another source, e.g. an email's ``cid:`` part)."""
    from policies import spend_chart

    return _template("cost_report.html.j2", html=True).render(r=spend, chart=chart_src or spend_chart.data_uri(spend))


def alerts_topic_name(cfg: EnvironmentConfig) -> str:
    return f"{cfg.name_prefix}-alerts"  # the BudgetAlerts component's topic: its subscribers get the report


def notify(cfg: EnvironmentConfig, spend: SpendReport) -> str:
    """Publish the markdown report to the environment's alert topic (the SRE and CEO subscribe by email);
    returns the topic's ARN."""
    subject = (f"[infra] {cfg.environment} cost report {spend.today.isoformat()}: {spend.state.upper()} "
               f"({spend.ratio:.0%} of budget)")
    return publish_alert(cfg, subject, render_markdown(spend), what="the cost report")


def publish_alert(cfg: EnvironmentConfig, subject: str, message: str, *, what: str) -> str:
    """Publish to the environment's alert topic; returns the topic's ARN. The topic is KMS-encrypted: the
    caller needs kms:GenerateDataKey on its key."""
    from stacks.errors import InvalidInput, MissingPrerequisite

    sts = client("sts", region=cfg.region, profile=cfg.profile)
    caller = call("find the AWS account", sts.get_caller_identity)
    partition = caller["Arn"].split(":")[1]
    sns = client("sns", region=cfg.region, profile=cfg.profile)
    topic = f"arn:{partition}:sns:{sns.meta.region_name}:{caller['Account']}:{alerts_topic_name(cfg)}"
    try:
        call("find the alert topic", sns.get_topic_attributes, TopicArn=topic)
    except InvalidInput:
        raise MissingPrerequisite(f"alert topic {topic} does not exist",
                                  hint=f"create the environment first: infra up {cfg.environment}") from None
    call(f"publish {what}", sns.publish, TopicArn=topic, Subject=subject[:100], Message=message)
    return topic


def email_html(cfg: EnvironmentConfig, spend: SpendReport) -> list[str]:
    """Mail the HTML report with its chart (an inline ``cid:`` PNG, which mail clients show, unlike data URIs)
    through SES from ``infra:budget.reportSender`` to ``alertEmails``; the markdown is the plain-text part.
    Returns the recipients. SNS email, the alert topic's channel, carries plain text only."""
    from email.message import EmailMessage

    from policies import spend_chart
    from stacks.errors import InvalidInput

    sender, recipients = cfg.budget.report_sender, cfg.budget.alert_emails
    if not sender or not recipients:
        raise InvalidInput("the HTML report needs infra:budget.reportSender (an SES-verified address) and "
                           "infra:budget.alertEmails")
    mail = EmailMessage()
    mail["Subject"] = subject(cfg, spend)
    mail["From"], mail["To"] = sender, ", ".join(recipients)
    mail.set_content(render_markdown(spend))
    mail.add_alternative(render_html(spend, chart_src="cid:spend-chart"), subtype="html")
    mail.get_payload()[1].add_related(spend_chart.png(spend), maintype="image", subtype="png", cid="<spend-chart>",
                                      filename="spend.png")
    ses = client("ses", region=cfg.region, profile=cfg.profile)
    call("mail the HTML cost report (SES)", ses.send_raw_email, Source=sender, Destinations=recipients,
         RawMessage={"Data": mail.as_bytes()})
    return recipients


def subject(cfg: EnvironmentConfig, spend: SpendReport) -> str:
    return (f"[infra] {cfg.environment} cost report {spend.today.isoformat()}: {spend.state.upper()} "
            f"({spend.ratio:.0%} of budget)")[:100]


def enforce(cfg: EnvironmentConfig, *, action: str, override_reason: str | None) -> BreakerState:
    """The circuit breaker in front of `infra up` and `infra deploy`: at 100% of the budget or more they
    refuse (exit 4) unless overridden with a reason, and every override is written to the audit log."""
    from stacks.errors import Blocked, InvalidInput

    if override_reason is not None and not override_reason.strip():
        raise InvalidInput("--override-budget needs a reason, e.g. --override-budget 'INC-42 hotfix, CEO approved'")
    state, spent = current_state(cfg)
    if state in (BreakerState.FREEZE, BreakerState.STOP):
        summary = (f"{cfg.environment} has spent ${spent:,.2f} of its ${cfg.budget.monthly_usd:,.2f} budget this "
                   f"month ({spent / cfg.budget.monthly_usd:.0%}): circuit breaker {state.upper()}")
        if override_reason is None:
            raise Blocked(f"{summary}; {action} refused",
                          hint="see `infra cost report ENV`; to proceed anyway pass --override-budget 'REASON' "
                               "(audited)")
        from stacks.audit import append

        append("budget-override", environment=cfg.environment, action=action, reason=override_reason.strip(),
               circuit_breaker=str(state), spent_usd=spent, budget_usd=cfg.budget.monthly_usd)
    return state

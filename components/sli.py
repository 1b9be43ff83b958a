"""The availability SLI and its error budget, defined once for the alarms, the dashboard and `infra status`.

Availability is the share of requests the public endpoint answered without a 5xx, counting both the app's
5xx (``HTTPCode_Target_5XX_Count``) and the load balancer's own (``HTTPCode_ELB_5XX_Count``: no healthy
target, timeouts), over ``RequestCount``, all per load balancer. Burn rate is the error ratio over the
error budget (1 - SLO); the alert windows are the Google SRE workbook's multiwindow, multi-burn-rate pair.
No pulumi import here: the CLI reads it too.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "AWS/ApplicationELB"
# metric-math id -> ALB metric; every one is a Sum per load balancer
METRICS = {"target5xx": "HTTPCode_Target_5XX_Count", "elb5xx": "HTTPCode_ELB_5XX_Count", "requests": "RequestCount"}
ERROR_RATIO = "IF(requests > 0, (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)"


@dataclass(frozen=True)
class BurnWindow:
    """Page when the budget burns ``factor`` times too fast over both the long and the short window."""

    key: str
    long_seconds: int
    short_seconds: int
    factor: float

    @property
    def budget_spent(self) -> str:
        """How much of a 30-day budget this burn spends in the long window (14.4x over 1 h: 2%)."""
        return f"{self.factor * self.long_seconds / (30 * 86400):.0%}"


FAST = BurnWindow("fast", 3600, 300, 14.4)
SLOW = BurnWindow("slow", 6 * 3600, 1800, 6.0)
WINDOWS = (FAST, SLOW)


def error_budget(slo_percent: float) -> float:
    """The share of requests that may fail: 0.005 for 99.5%."""
    return 1 - slo_percent / 100


def availability(errors: float, requests: float) -> float | None:
    """Share of requests answered without a 5xx; None when nothing was asked."""
    if requests <= 0:
        return None
    return max(0.0, 1 - errors / requests)


def budget_left(available: float, slo_percent: float) -> float:
    """Share of the error budget still unspent (negative: overspent)."""
    return 1 - (1 - available) / error_budget(slo_percent)


def seconds_label(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"

"""One CloudWatch dashboard per environment: the memo's metrics on one screen, its targets drawn as lines.

Every widget names what this stack creates (the load balancer and target group ARN suffixes, the database
instance, the Redis nodes, the cluster, the node groups' Auto Scaling groups, the uptime check), so the body
is built from those outputs once they are known; the dashboard itself is created outside any ``apply``.
The app's own metrics (queue depth, processing time, active customers) are custom metrics it publishes
under ``APP_NAMESPACE`` (docs/operations.md names them). Spend is AWS/Billing's EstimatedCharges, which AWS
publishes in us-east-1 only and for the whole account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import sli
from components.alarms import ROUTE53_METRICS_REGION
from stacks.config import EnvironmentConfig

APP_NAMESPACE = "Platform/App"  # the app's custom metrics, dimension Environment=<env>
BILLING_REGION = "us-east-1"
RED, ORANGE, GREEN = "#d62728", "#ff7f0e", "#2ca02c"
WIDTH, HEIGHT = 8, 6  # three widgets a row on CloudWatch's 24-column grid


@dataclass(frozen=True)
class DashboardArgs:
    config: EnvironmentConfig
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    database_instance_id: pulumi.Input[str]
    redis_replication_group_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    node_group_asg_names: list[pulumi.Output[str]]
    health_check_id: pulumi.Input[str] | None = None  # the uptime check, once a release serves the API


@dataclass(frozen=True)
class _Names:
    """The stack's own names, resolved: what the widgets' dimensions point at."""

    load_balancer: str
    target_group: str
    database: str
    redis_group: str
    cluster: str
    asgs: list[str]
    health_check: str | None


class Dashboard(pulumi.ComponentResource):
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:Dashboard", name, None, opts)
        cfg = args.config
        n_asgs = len(args.node_group_asg_names)
        body = pulumi.Output.all(
            args.load_balancer_arn_suffix, args.target_group_arn_suffix, args.database_instance_id,
            args.redis_replication_group_id, args.cluster_name, args.health_check_id, *args.node_group_asg_names,
        ).apply(lambda v: json.dumps(body_of(cfg, _Names(
            load_balancer=v[0], target_group=v[1], database=v[2], redis_group=v[3], cluster=v[4],
            health_check=v[5], asgs=list(v[6:6 + n_asgs])))))
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=cfg.name_prefix,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_name = dashboard.dashboard_name
        self.register_outputs({"dashboard_name": self.dashboard_name})


def _line(label: str, value: float, color: str = RED) -> dict[str, Any]:
    return {"label": label, "value": value, "color": color}


def _metric(cfg: EnvironmentConfig, title: str, metrics: list[list[Any]], *, lines: list[dict] | None = None,
            stat: str = "Average", period: int = 300, region: str | None = None, unit: str | None = None,
            y_min: float | None = 0) -> dict[str, Any]:
    properties: dict[str, Any] = {"title": title, "view": "timeSeries", "stacked": False, "metrics": metrics,
                                  "region": region or cfg.region, "stat": stat, "period": period}
    if lines:
        properties["annotations"] = {"horizontal": lines}
    axis: dict[str, Any] = {}
    if y_min is not None:
        axis["min"] = y_min
    if unit:
        axis["label"] = unit
    if axis:
        properties["yAxis"] = {"left": {**axis, "showUnits": False}}
    return {"type": "metric", "properties": properties}


def _alb_math(lb: str, expression: str, label: str) -> list[list[Any]]:
    """The availability SLI's inputs (hidden) and one expression over them (components/sli.py)."""
    hidden = [[sli.NAMESPACE, metric, "LoadBalancer", lb, {"id": query_id, "stat": "Sum", "visible": False}]
              for query_id, metric in sli.METRICS.items()]
    return [*hidden, [{"expression": expression, "label": label, "id": "sli"}]]


def body_of(cfg: EnvironmentConfig, names: _Names) -> dict[str, Any]:
    """The dashboard body (CloudWatch's dashboard body structure), from the stack's resolved names."""
    t, kc = cfg.alarms, cfg.kubernetes
    lb, tg = names.load_balancer, names.target_group
    redis_nodes = [f"{names.redis_group}-{i:03d}" for i in range(1, cfg.redis.replicas + 2)]
    namespaces = kc.namespaces
    widgets: list[dict[str, Any]] = [
        _metric(cfg, f"Availability % (SLO {t.availability_slo_percent:g}%)",
                _alb_math(lb, f"100 * (1 - {sli.ERROR_RATIO})", "requests without a 5xx"),
                lines=[_line(f"SLO {t.availability_slo_percent:g}%", t.availability_slo_percent)], y_min=None,
                unit="%"),
        _metric(cfg, "API latency (seconds)", [
            ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", lb, "TargetGroup", tg,
             {"stat": p, "label": p}] for p in ("p50", "p95", "p99")],
            lines=[_line(f"p50 {t.api_p50_latency_ms:g} ms", t.api_p50_latency_ms / 1000, GREEN),
                   _line(f"p95 {t.api_p95_latency_ms:g} ms", t.api_p95_latency_ms / 1000, ORANGE),
                   _line(f"p99 {t.api_p99_latency_ms:g} ms", t.api_p99_latency_ms / 1000)], unit="s"),
        _metric(cfg, "5xx rate % of requests", _alb_math(lb, f"100 * {sli.ERROR_RATIO}", "5xx %"),
                lines=[_line(f"target {t.api_error_rate_percent:g}%", t.api_error_rate_percent)], unit="%"),
        _metric(cfg, "Requests", [["AWS/ApplicationELB", "RequestCount", "LoadBalancer", lb, {"label": "requests"}],
                                  ["AWS/ApplicationELB", "HealthyHostCount", "LoadBalancer", lb, "TargetGroup", tg,
                                   {"stat": "Minimum", "label": "healthy targets", "yAxis": "right"}]],
                stat="Sum"),
        _metric(cfg, "Node CPU % per node group", [
            ["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", asg, {"label": group.name}]
            for asg, group in zip(names.asgs, cfg.eks.node_groups, strict=True)],
            lines=[_line(f"{t.cpu_percent:g}%", t.cpu_percent)], unit="%"),
        _metric(cfg, "Node CPU and memory % (cluster)", [
            ["ContainerInsights", "node_cpu_utilization", "ClusterName", names.cluster, {"label": "CPU"}],
            ["ContainerInsights", "node_memory_utilization", "ClusterName", names.cluster, {"label": "memory"}]],
            lines=[_line(f"CPU {t.cpu_percent:g}%", t.cpu_percent, ORANGE),
                   _line(f"memory {t.memory_percent:g}%", t.memory_percent)], unit="%"),
        _metric(cfg, "Pod CPU % of limits per namespace", [
            ["ContainerInsights", "pod_cpu_utilization_over_pod_limit", "ClusterName", names.cluster, "Namespace", ns,
             {"label": ns}] for ns in namespaces], lines=[_line(f"{t.cpu_percent:g}%", t.cpu_percent)], unit="%"),
        _metric(cfg, "Pod memory % of limits per namespace", [
            ["ContainerInsights", "pod_memory_utilization_over_pod_limit", "ClusterName", names.cluster, "Namespace",
             ns, {"label": ns}] for ns in namespaces], lines=[_line(f"{t.memory_percent:g}%", t.memory_percent)],
            unit="%"),
        _metric(cfg, "PostgreSQL CPU % and connections", [
            ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", names.database, {"label": "CPU %"}],
            ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", names.database,
             {"stat": "Maximum", "label": "connections", "yAxis": "right"}]],
            lines=[_line(f"CPU {t.cpu_percent:g}%", t.cpu_percent),
                   {**_line(f"connections {t.database_connections}", t.database_connections, ORANGE),
                    "yAxis": "right"}]),
        _metric(cfg, "PostgreSQL free storage (bytes) and write latency", [
            ["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", names.database, {"stat": "Minimum",
                                                                                     "label": "free storage"}],
            ["AWS/RDS", "WriteLatency", "DBInstanceIdentifier", names.database,
             {"label": "write latency (s): the standby is synchronous, no replica lag", "yAxis": "right"}]],
            lines=[_line(f"{t.database_free_storage_gb:g} GB", t.database_free_storage_gb * 1024**3)]),
        _metric(cfg, "Redis memory % per node", [
            ["AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", node, {"label": node}]
            for node in redis_nodes], lines=[_line(f"{t.memory_percent:g}%", t.memory_percent)], unit="%"),
        _metric(cfg, "Redis evictions per node (5 min)", [
            ["AWS/ElastiCache", "Evictions", "CacheClusterId", node, {"label": node}] for node in redis_nodes],
            lines=[_line(f"{t.cache_evictions}", t.cache_evictions)], stat="Sum"),
        _metric(cfg, "Redis engine CPU % and replication lag (s)", [
            *(["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", node, {"label": f"{node} CPU"}]
              for node in redis_nodes),
            *(["AWS/ElastiCache", "ReplicationLag", "CacheClusterId", node,
               {"label": f"{node} lag", "yAxis": "right"}] for node in redis_nodes[1:])],
            lines=[_line(f"{t.cpu_percent:g}%", t.cpu_percent)]),
        _metric(cfg, "Queue depth (the app's metric)", [
            [APP_NAMESPACE, "QueueDepth", "Environment", cfg.environment,
             {"stat": "Maximum", "label": "jobs waiting"}]]),
        _metric(cfg, "Queue processing time (the app's metric, seconds)", [
            [APP_NAMESPACE, "QueueProcessingTime", "Environment", cfg.environment, {"stat": p, "label": p}]
            for p in ("p50", "p95")], lines=[_line("30 s", 30)], unit="s"),
        _metric(cfg, "Month's estimated charges, whole account (USD)", [
            ["AWS/Billing", "EstimatedCharges", "Currency", "USD", {"label": "estimated charges"}]],
            lines=[_line(f"budget ${cfg.budget.monthly_usd:,.0f}", cfg.budget.monthly_usd),
                   _line("90%", cfg.budget.monthly_usd * 0.9, ORANGE)],
            stat="Maximum", period=21600, region=BILLING_REGION),
    ]
    if cfg.region == BILLING_REGION:  # metric math cannot span regions: only where both metrics live
        widgets.append(_metric(cfg, "Cost per active customer (USD, month to date)", [
            ["AWS/Billing", "EstimatedCharges", "Currency", "USD", {"id": "spend", "visible": False}],
            [APP_NAMESPACE, "ActiveCustomers", "Environment", cfg.environment, {"id": "customers", "visible": False}],
            [{"expression": "IF(customers > 0, spend / customers, 0)", "label": "USD per customer", "id": "cpc"}]],
            lines=[_line("$7 / month", 7)], stat="Maximum", period=21600))
    if names.health_check:
        widgets.append(_metric(cfg, "Uptime check: % of Route 53 checkers reaching the health path", [
            ["AWS/Route53", "HealthCheckPercentageHealthy", "HealthCheckId", names.health_check,
             {"label": cfg.edge.health_check_path}]], lines=[_line("all", 100, GREEN)], period=60,
            region=ROUTE53_METRICS_REGION))
    header = {"type": "text", "width": 24, "height": 2, "x": 0, "y": 0, "properties": {"markdown": (
        f"## {cfg.name_prefix}: the memo's targets\n"
        f"Availability {t.availability_slo_percent:g}% over {t.slo_window_days} days; API p50 < "
        f"{t.api_p50_latency_ms:g} ms, p95 < {t.api_p95_latency_ms:g} ms, p99 < {t.api_p99_latency_ms:g} ms; "
        f"5xx < {t.api_error_rate_percent:g}% of requests; CPU < {t.cpu_percent:g}%, memory < {t.memory_percent:g}%; "
        f"queue processing < 30 s; budget ${cfg.budget.monthly_usd:,.0f}/month. "
        "Spend is the whole account's (AWS/Billing, us-east-1 only).")}}
    placed = [header]
    for i, widget in enumerate(widgets):
        placed.append({**widget, "x": (i % 3) * WIDTH, "y": 2 + (i // 3) * HEIGHT, "width": WIDTH,
                       "height": HEIGHT})
    return {"start": "-PT12H", "periodOverride": "inherit", "widgets": placed}

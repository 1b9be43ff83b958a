"""CloudWatch alarms on the data stores, the cluster's nodes and the public API, to the environment's
alert topic.

Thresholds come from ``infra:alarms`` (the memo's targets: CPU under 70%, memory under 80%). Every
alarm also notifies on recovery, so the on-call sees when it is over.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.config import EnvironmentConfig

GB = 1024**3


@dataclass(frozen=True)
class AlarmsArgs:
    config: EnvironmentConfig
    topic_arn: pulumi.Input[str]
    database_instance_id: pulumi.Input[str]
    redis_replication_group_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    # (load balancer, target group) ARN suffixes: the API's alarms, once a release serves behind them
    api: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None


@dataclass(frozen=True)
class _Alarm:
    key: str
    namespace: str
    metric: str
    comparison: str
    threshold: float
    description: str
    statistic: str = "Average"  # or a percentile, "p95"
    periods: int = 3  # 3 x 5 minutes: sustained, not a blip


class Alarms(pulumi.ComponentResource):
    alarm_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:Alarms", name, None, opts)
        self._cfg, self._name, self._topic = args.config, name, args.topic_arn
        t = args.config.alarms
        above, below = "GreaterThanThreshold", "LessThanThreshold"
        self.alarm_names = []

        db = {"DBInstanceIdentifier": args.database_instance_id}
        for alarm in (
            _Alarm("rds-cpu", "AWS/RDS", "CPUUtilization", above, t.cpu_percent,
                   f"PostgreSQL CPU above {t.cpu_percent:g}%"),
            _Alarm("rds-free-storage", "AWS/RDS", "FreeStorageSpace", below, t.database_free_storage_gb * GB,
                   f"PostgreSQL free storage below {t.database_free_storage_gb:g} GB", periods=1),
            _Alarm("rds-connections", "AWS/RDS", "DatabaseConnections", above, t.database_connections,
                   f"PostgreSQL connections above {t.database_connections}", statistic="Maximum"),
        ):
            self._alarm(alarm, db)

        # ElastiCache reports per node: <group>-001 is the first, replicas follow.
        nodes = 1 + args.config.redis.replicas
        for i in range(1, nodes + 1):
            node = pulumi.Output.from_input(args.redis_replication_group_id).apply(lambda g, i=i: f"{g}-{i:03d}")
            dims = {"CacheClusterId": node}
            for alarm in (
                _Alarm(f"redis-{i}-memory", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", above,
                       t.memory_percent, f"Redis node {i} memory above {t.memory_percent:g}%"),
                _Alarm(f"redis-{i}-evictions", "AWS/ElastiCache", "Evictions", above, t.cache_evictions,
                       f"Redis node {i} evicting more than {t.cache_evictions} keys per 5 minutes",
                       statistic="Sum", periods=1),
                _Alarm(f"redis-{i}-cpu", "AWS/ElastiCache", "EngineCPUUtilization", above, t.cpu_percent,
                       f"Redis node {i} engine CPU above {t.cpu_percent:g}%"),
            ):
                self._alarm(alarm, dims)

        # Node metrics come from Container Insights (the amazon-cloudwatch-observability add-on).
        cluster = {"ClusterName": args.cluster_name}
        for alarm in (
            _Alarm("nodes-cpu", "ContainerInsights", "node_cpu_utilization", above, t.cpu_percent,
                   f"EKS nodes' average CPU above {t.cpu_percent:g}%"),
            _Alarm("nodes-memory", "ContainerInsights", "node_memory_utilization", above, t.memory_percent,
                   f"EKS nodes' average memory above {t.memory_percent:g}%"),
        ):
            self._alarm(alarm, cluster)

        if args.api is not None:
            load_balancer, target_group = args.api
            api = {"LoadBalancer": load_balancer, "TargetGroup": target_group}
            for alarm in (
                _Alarm("api-healthy-targets", "AWS/ApplicationELB", "HealthyHostCount", below, 1,
                       "No node can serve the API: every target of the load balancer is unhealthy",
                       statistic="Minimum", periods=2),
                _Alarm("api-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", above, t.api_errors_per_5_min,
                       f"The app answered more than {t.api_errors_per_5_min} requests with 5xx in 5 minutes",
                       statistic="Sum", periods=1),
                _Alarm("api-latency-p95", "AWS/ApplicationELB", "TargetResponseTime", above,
                       t.api_p95_latency_ms / 1000, f"API p95 latency above {t.api_p95_latency_ms:g} ms",
                       statistic="p95"),
            ):
                self._alarm(alarm, api)
        self.register_outputs({"alarm_names": self.alarm_names})

    def _alarm(self, alarm: _Alarm, dimensions: dict) -> None:
        cfg = self._cfg
        resource = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{alarm.key}",
            name=f"{cfg.name_prefix}-{alarm.key}",
            alarm_description=alarm.description,
            namespace=alarm.namespace,
            metric_name=alarm.metric,
            dimensions=dimensions,
            statistic=None if alarm.statistic.startswith("p") else alarm.statistic,
            extended_statistic=alarm.statistic if alarm.statistic.startswith("p") else None,
            period=300,
            evaluation_periods=alarm.periods,
            comparison_operator=alarm.comparison,
            threshold=alarm.threshold,
            treat_missing_data="missing",
            alarm_actions=[self._topic],
            ok_actions=[self._topic],
            tags=cfg.tags(Name=f"{cfg.name_prefix}-{alarm.key}"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alarm_names.append(resource.name)

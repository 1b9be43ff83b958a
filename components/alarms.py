"""CloudWatch alarms on the data stores, the cluster's nodes and the public API, to the environment's
alert topic (and to Slack through AWS Chatbot when ``infra:alarms.slack`` is set).

Thresholds come from ``infra:alarms`` (the memo's targets: CPU under 70%, memory under 80%, API latency by
percentile, errors as a share of requests). Once a release serves the API, an external Route 53 HTTPS
health check calls its health path, and the availability SLO pages through multiwindow burn-rate alarms
(components/sli.py). Every alarm also notifies on recovery, so the on-call sees when it is over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import sli
from components.shared import assume_role_policy
from stacks.config import EnvironmentConfig

GB = 1024**3
ROUTE53_METRICS_REGION = "us-east-1"  # Route 53 publishes health-check metrics there only


@dataclass(frozen=True)
class AlarmsArgs:
    config: EnvironmentConfig
    topic_arn: pulumi.Input[str]
    database_instance_id: pulumi.Input[str]
    redis_replication_group_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    # (load balancer, target group) ARN suffixes: the API's alarms, once a release serves behind them
    api: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None
    endpoint: pulumi.Input[str] | None = None  # the load balancer's DNS name: the uptime check's default target


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
    period: int = 300


class Alarms(pulumi.ComponentResource):
    alarm_names: list[pulumi.Output[str]]
    health_check_id: pulumi.Output[str] | None

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

        self.health_check_id = None
        if args.api is not None:
            self._api(*args.api, endpoint=args.endpoint)
        if args.config.alarms.slack is not None:
            self._slack()
        self.register_outputs({"alarm_names": self.alarm_names})

    def _api(self, load_balancer: pulumi.Input[str], target_group: pulumi.Input[str],
             endpoint: pulumi.Input[str] | None) -> None:
        t, above, below = self._cfg.alarms, "GreaterThanThreshold", "LessThanThreshold"
        api = {"LoadBalancer": load_balancer, "TargetGroup": target_group}
        self._alarm(_Alarm("api-healthy-targets", "AWS/ApplicationELB", "HealthyHostCount", below, 1,
                           "No node can serve the API: every target of the load balancer is unhealthy",
                           statistic="Minimum", periods=2), api)
        for percentile, target_ms in (("p50", t.api_p50_latency_ms), ("p95", t.api_p95_latency_ms),
                                      ("p99", t.api_p99_latency_ms)):
            self._alarm(_Alarm(f"api-latency-{percentile}", "AWS/ApplicationELB", "TargetResponseTime", above,
                               target_ms / 1000, f"API {percentile} latency above {target_ms:g} ms",
                               statistic=percentile), api)  # the metric is in seconds
        lb = {"LoadBalancer": load_balancer}
        self._ratio_alarm("api-error-rate", lb, f"100 * {sli.ERROR_RATIO}", 300, 3, t.api_error_rate_percent,
                          f"More than {t.api_error_rate_percent:g}% of API requests answered 5xx for 15 minutes",
                          actions=True)
        # Burn rate = error ratio / error budget. Each window is its own alarm without actions; a composite
        # pages only when both windows of a pair burn (long: it matters; short: it is still happening).
        budget = sli.error_budget(t.availability_slo_percent)
        for window in sli.WINDOWS:
            names = []
            for seconds in (window.long_seconds, window.short_seconds):
                label = sli.seconds_label(seconds)
                names.append(self._ratio_alarm(
                    f"api-burn-{label}", lb, f"{sli.ERROR_RATIO} / {budget:.6g}", seconds, 1, window.factor,
                    f"Error budget burning over {window.factor:g}x over {label} ({t.availability_slo_percent:g}% SLO)",
                    actions=False))
            self._composite(
                f"api-slo-{window.key}-burn", names,
                f"Availability SLO {t.availability_slo_percent:g}%: errors burn the budget {window.factor:g}x too "
                f"fast over {sli.seconds_label(window.long_seconds)} and {sli.seconds_label(window.short_seconds)} "
                f"({window.budget_spent} of a 30-day budget in {sli.seconds_label(window.long_seconds)})")
        if endpoint is not None or t.health_check_domain:
            self._uptime(t.health_check_domain or endpoint)

    def _uptime(self, domain: pulumi.Input[str]) -> None:
        """Route 53 calls the health path over HTTPS from several regions, as a user would."""
        cfg = self._cfg
        check = aws.route53.HealthCheck(
            f"{self._name}-uptime",
            type="HTTPS",
            fqdn=domain,
            port=443,
            resource_path=cfg.edge.health_check_path,
            enable_sni=True,
            request_interval=30,
            failure_threshold=3,
            tags=cfg.tags(Name=f"{cfg.name_prefix}-uptime"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.health_check_id = check.id
        if cfg.region != ROUTE53_METRICS_REGION:
            # The check's metrics live in us-east-1 and an alarm may only notify a topic in its own region:
            # elsewhere the dashboard shows the check and the burn-rate alarms page on what users see.
            return
        self._alarm(_Alarm("api-uptime", "AWS/Route53", "HealthCheckStatus", "LessThanThreshold", 1,
                           f"The public endpoint's {cfg.edge.health_check_path} fails from outside (Route 53)",
                           statistic="Minimum", periods=2, period=60),
                    {"HealthCheckId": check.id})

    def _ratio_alarm(self, key: str, dimensions: dict, expression: str, period: int, periods: int,
                     threshold: float, description: str, *, actions: bool) -> pulumi.Output[str]:
        """An alarm on metric math over the load balancer's request and 5xx counts (components/sli.py)."""
        cfg = self._cfg
        queries = [aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id, return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=sli.NAMESPACE, metric_name=metric, dimensions=dimensions, period=period, stat="Sum"))
            for query_id, metric in sli.METRICS.items()]
        queries.append(aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="ratio", expression=expression, label=description, return_data=True))
        topic = [self._topic] if actions else None
        resource = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{key}",
            name=f"{cfg.name_prefix}-{key}",
            alarm_description=description,
            metric_queries=queries,
            evaluation_periods=periods,
            comparison_operator="GreaterThanThreshold",
            threshold=threshold,
            treat_missing_data="notBreaching",  # no traffic burns no budget
            alarm_actions=topic,
            ok_actions=topic,
            tags=cfg.tags(Name=f"{cfg.name_prefix}-{key}"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alarm_names.append(resource.name)
        return resource.name

    def _composite(self, key: str, alarm_names: list[pulumi.Output[str]], description: str) -> None:
        cfg = self._cfg
        rule = pulumi.Output.all(*alarm_names).apply(lambda names: " AND ".join(f'ALARM("{n}")' for n in names))
        composite = aws.cloudwatch.CompositeAlarm(
            f"{self._name}-{key}",
            alarm_name=f"{cfg.name_prefix}-{key}",
            alarm_description=description,
            alarm_rule=rule,
            alarm_actions=[self._topic],
            ok_actions=[self._topic],
            tags=cfg.tags(Name=f"{cfg.name_prefix}-{key}"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alarm_names.append(composite.alarm_name)

    def _slack(self) -> None:
        """AWS Chatbot posts what reaches the alert topic into the Slack channel. Its role may only read
        CloudWatch (to render the alarm), and its guardrail policy caps what the channel may ask of it."""
        cfg, slack = self._cfg, self._cfg.alarms.slack
        assert slack is not None
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-chatbot-role",
            assume_role_policy=assume_role_policy("chatbot.amazonaws.com"),
            tags=cfg.tags(Name=f"{cfg.name_prefix}-chatbot"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{self._name}-chatbot-read-alarms",
            role=role.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Sid": "RenderAlarms", "Effect": "Allow", "Resource": "*",
                "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData", "cloudwatch:GetMetricWidgetImage"],
            }]}),
            opts=child,
        )
        aws.chatbot.SlackChannelConfiguration(
            f"{self._name}-slack",
            configuration_name=f"{cfg.name_prefix}-alerts",
            iam_role_arn=role.arn,
            slack_team_id=slack.workspace_id,
            slack_channel_id=slack.channel_id,
            sns_topic_arns=[self._topic],
            guardrail_policy_arns=["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"],
            logging_level="ERROR",
            tags=cfg.tags(Name=f"{cfg.name_prefix}-alerts"),
            opts=child,
        )

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
            period=alarm.period,
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

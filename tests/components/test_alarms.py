from __future__ import annotations

import pytest

from components.alarms import GB, Alarms, AlarmsArgs

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def _alarms(build, cfg, api=None):
    plan = build(cfg, lambda: Alarms("a", AlarmsArgs(
        config=cfg, topic_arn=TOPIC, database_instance_id="db-1", redis_replication_group_id="cache",
        cluster_name="eks-1", api=api)).alarm_names)
    return {r.inputs["name"].removeprefix(f"{cfg.name_prefix}-"): r.inputs
            for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")}


def test_memo_targets_cpu_70_memory_80(build, staging_cfg):
    alarms = _alarms(build, staging_cfg)
    assert alarms["rds-cpu"]["threshold"] == 70 and alarms["nodes-cpu"]["threshold"] == 70
    assert alarms["nodes-memory"]["threshold"] == 80 and alarms["redis-1-memory"]["threshold"] == 80
    assert alarms["nodes-memory"]["namespace"] == "ContainerInsights"
    assert alarms["nodes-memory"]["dimensions"] == {"ClusterName": "eks-1"}


def test_database_alarms(build, prod_cfg):
    alarms = _alarms(build, prod_cfg)
    storage = alarms["rds-free-storage"]
    assert storage["comparisonOperator"] == "LessThanThreshold"
    assert storage["threshold"] == prod_cfg.alarms.database_free_storage_gb * GB
    assert alarms["rds-connections"]["threshold"] == prod_cfg.alarms.database_connections
    assert all(alarms[k]["dimensions"] == {"DBInstanceIdentifier": "db-1"}
               for k in ("rds-cpu", "rds-free-storage", "rds-connections"))


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_redis_node_is_watched(build, request, env):
    cfg = request.getfixturevalue(f"{env}_cfg")
    alarms = _alarms(build, cfg)
    nodes = 1 + cfg.redis.replicas
    for i in range(1, nodes + 1):
        for metric in ("memory", "evictions", "cpu"):
            assert alarms[f"redis-{i}-{metric}"]["dimensions"] == {"CacheClusterId": f"cache-{i:03d}"}
    assert f"redis-{nodes + 1}-cpu" not in alarms


def test_alarms_and_recoveries_reach_the_topic(build, staging_cfg):
    for alarm in _alarms(build, staging_cfg).values():
        assert alarm["alarmActions"] == [TOPIC] and alarm["okActions"] == [TOPIC]
        assert alarm["period"] == 300 and alarm["evaluationPeriods"] >= 1


def test_the_api_is_watched_once_a_release_serves_it(build, prod_cfg):
    assert not any(k.startswith("api-") for k in _alarms(build, prod_cfg))  # nothing serves yet: no alarm noise
    alarms = _alarms(build, prod_cfg, api=("app/infra-prod-api/abc", "targetgroup/infra-prod-app/def"))
    dims = {"LoadBalancer": "app/infra-prod-api/abc", "TargetGroup": "targetgroup/infra-prod-app/def"}
    healthy, errors, latency = alarms["api-healthy-targets"], alarms["api-5xx"], alarms["api-latency-p95"]
    assert all(a["namespace"] == "AWS/ApplicationELB" and a["dimensions"] == dims for a in (healthy, errors, latency))
    assert (healthy["metricName"], healthy["comparisonOperator"], healthy["threshold"]) == (
        "HealthyHostCount", "LessThanThreshold", 1)
    assert errors["threshold"] == prod_cfg.alarms.api_errors_per_5_min and errors["statistic"] == "Sum"
    assert latency["extendedStatistic"] == "p95" and "statistic" not in latency
    assert latency["threshold"] == prod_cfg.alarms.api_p95_latency_ms / 1000  # the metric is in seconds
    assert all(a["alarmActions"] == [TOPIC] == a["okActions"] for a in (healthy, errors, latency))

"""The environment's dashboard: CloudWatch's body structure, every dimension one the stack creates, the memo's
targets as lines, and a round trip through moto's CloudWatch."""

from __future__ import annotations

import json

import jsonschema
import pytest

from stacks import offline
from stacks.config import ReleaseConfig

# CloudWatch's "Dashboard Body Structure and Syntax" (AmazonCloudWatch/latest/APIReference), for the widget
# types this stack uses: metric and text.
_RENDERING = {"type": "object", "additionalProperties": False, "properties": {
    "color": {"type": "string"}, "label": {"type": "string"}, "period": {"type": "integer", "minimum": 1},
    "stat": {"type": "string"}, "visible": {"type": "boolean"}, "yAxis": {"enum": ["left", "right"]},
    "id": {"type": "string", "pattern": "^[a-z][a-zA-Z0-9_]*$"}, "region": {"type": "string"},
    "accountId": {"type": "string"}}}
_EXPRESSION = {"type": "object", "required": ["expression"], "additionalProperties": False, "properties": {
    "expression": {"type": "string", "minLength": 1}, "label": {"type": "string"},
    "id": {"type": "string", "pattern": "^[a-z][a-zA-Z0-9_]*$"}, "period": {"type": "integer"},
    "visible": {"type": "boolean"}, "color": {"type": "string"}, "yAxis": {"enum": ["left", "right"]},
    "region": {"type": "string"}}}
_METRIC = {"type": "array", "minItems": 1, "oneOf": [
    {"prefixItems": [_EXPRESSION], "items": False},
    # namespace, metric name, dimension name/value pairs, then rendering properties
    {"prefixItems": [{"type": "string", "minLength": 1}, {"type": "string", "minLength": 1}],
     "items": {"anyOf": [{"type": "string", "minLength": 1}, _RENDERING]}, "minItems": 2}]}
_AXIS = {"type": "object", "additionalProperties": False, "properties": {
    "min": {"type": "number"}, "max": {"type": "number"}, "label": {"type": "string"},
    "showUnits": {"type": "boolean"}}}
_LINE = {"type": "object", "required": ["value"], "additionalProperties": False, "properties": {
    "value": {"type": "number"}, "label": {"type": "string"}, "color": {"type": "string"},
    "fill": {"enum": ["above", "below"]}, "visible": {"type": "boolean"}, "yAxis": {"enum": ["left", "right"]}}}
_PLACEMENT = {"x": {"type": "integer", "minimum": 0, "maximum": 23}, "y": {"type": "integer", "minimum": 0},
              "width": {"type": "integer", "minimum": 1, "maximum": 24},
              "height": {"type": "integer", "minimum": 1, "maximum": 1000}}
DASHBOARD_BODY = {
    "type": "object", "required": ["widgets"], "additionalProperties": False,
    "properties": {
        "start": {"type": "string"}, "end": {"type": "string"}, "periodOverride": {"enum": ["auto", "inherit"]},
        "widgets": {"type": "array", "minItems": 1, "maxItems": 500, "items": {"oneOf": [
            {"type": "object", "required": ["type", "properties"], "additionalProperties": False, "properties": {
                **_PLACEMENT, "type": {"const": "metric"},
                "properties": {"type": "object", "required": ["metrics", "region"], "additionalProperties": False,
                               "properties": {
                                   "metrics": {"type": "array", "minItems": 1, "items": _METRIC},
                                   "region": {"type": "string", "pattern": "^[a-z]{2}(-gov)?-[a-z]+-\\d$"},
                                   "title": {"type": "string"}, "stacked": {"type": "boolean"},
                                   "view": {"enum": ["timeSeries", "singleValue", "gauge", "bar", "pie", "table"]},
                                   "stat": {"type": "string"}, "period": {"type": "integer", "multipleOf": 60},
                                   "annotations": {"type": "object", "additionalProperties": False, "properties": {
                                       "horizontal": {"type": "array", "items": _LINE},
                                       "vertical": {"type": "array"}}},
                                   "yAxis": {"type": "object", "additionalProperties": False,
                                             "properties": {"left": _AXIS, "right": _AXIS}}}}}},
            {"type": "object", "required": ["type", "properties"], "additionalProperties": False, "properties": {
                **_PLACEMENT, "type": {"const": "text"},
                "properties": {"type": "object", "required": ["markdown"], "properties": {
                    "markdown": {"type": "string"}, "background": {"enum": ["solid", "transparent"]}}}}},
        ]}},
    },
}
IMAGE = "registry.example.com/platform/app:1.4.2"


@pytest.fixture(scope="module")
def released():
    """Both environments with a release deployed: the API's widgets and the uptime check exist."""
    from stacks import config
    from tests.conftest import ROOT

    plans = {}
    for env in ("staging", "prod"):
        cfg = config.load(env, ROOT / f"Pulumi.{env}.yaml")
        cfg = cfg.model_copy(update={"release": ReleaseConfig(image=IMAGE, app_replicas=2, worker_replicas=2)})
        plans[env] = (cfg, offline.run(cfg))
    return plans


def _body(plan) -> dict:
    [dashboard] = plan.by_type("aws:cloudwatch/dashboard:Dashboard")
    return json.loads(dashboard.inputs["dashboardBody"])


def _metrics(body: dict):
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], str):
                strings = [m for m in metric if isinstance(m, str)]
                options = next((m for m in metric if isinstance(m, dict)), {})
                yield widget, strings[0], strings[1], dict(zip(strings[2::2], strings[3::2], strict=True)), options


def _names_in(plan, cfg) -> dict[str, set[str]]:
    """For each dimension, the values that name something this plan creates."""
    def inputs(type_):
        return [r.inputs for r in plan.by_type(type_)]

    [lb] = inputs("aws:lb/loadBalancer:LoadBalancer")
    [tg] = inputs("aws:lb/targetGroup:TargetGroup")
    [db] = inputs("aws:rds/instance:Instance")
    [redis] = inputs("aws:elasticache/replicationGroup:ReplicationGroup")
    [cluster] = inputs("aws:eks/cluster:Cluster")
    return {
        # CloudWatch names a load balancer and a target group by their ARN suffix: <kind>/<name>/<id>
        "LoadBalancer": {f"app/{lb['name']}/"}, "TargetGroup": {f"targetgroup/{tg['name']}/"},
        "DBInstanceIdentifier": {db["identifier"]},
        "CacheClusterId": {f"{redis['replicationGroupId']}-{i:03d}" for i in range(1, redis["numCacheClusters"] + 1)},
        "ClusterName": {cluster["name"]},
        "AutoScalingGroupName": {f"eks-{g['nodeGroupName']}-" for g in inputs("aws:eks/nodeGroup:NodeGroup")},
        "Namespace": {n["metadata"]["name"] for n in inputs("kubernetes:core/v1:Namespace")},
        "HealthCheckId": {r.id for r in plan.by_type("aws:route53/healthCheck:HealthCheck")},
        "Environment": {cfg.environment},
        "Currency": {"USD"},
    }


PREFIXED = {"LoadBalancer", "TargetGroup", "AutoScalingGroupName"}  # the rest of the name is AWS's id


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_body_is_cloudwatchs_dashboard_structure(released, staging_plan, env):
    cfg, plan = released[env]
    for body in (_body(plan), _body(staging_plan)):
        jsonschema.validate(body, DASHBOARD_BODY)
        for widget in body["widgets"]:
            assert widget["x"] + widget["width"] <= 24
        for widget in body["widgets"]:  # every expression uses only the ids of its own widget
            metrics = widget["properties"].get("metrics", [])
            ids = {m[-1]["id"] for m in metrics if isinstance(m[-1], dict) and "id" in m[-1]} | {
                m[0]["id"] for m in metrics if isinstance(m[0], dict) and "id" in m[0]}
            for m in metrics:
                if isinstance(m[0], dict):
                    words = {w for w in _identifiers(m[0]["expression"]) if not w.isupper()}
                    assert words <= ids - {m[0]["id"]}, (widget["properties"]["title"], words - ids)


def _identifiers(expression: str) -> set[str]:
    import re

    return set(re.findall(r"\b[a-zA-Z_][a-zA-Z0-9_]*\b", expression))


def test_the_schema_catches_a_broken_body():
    broken = {"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 30, "height": 6,
                           "properties": {"metrics": [["AWS/RDS"]], "region": "us-east-1"}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, DASHBOARD_BODY)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_dimension_names_what_the_stack_creates(released, env):
    cfg, plan = released[env]
    known = _names_in(plan, cfg)
    seen: dict[str, set[str]] = {}
    for widget, namespace, metric, dimensions, _ in _metrics(_body(plan)):
        assert dimensions, f"{namespace} {metric} has no dimension: it would draw the account's, not ours"
        for name, value in dimensions.items():
            assert name in known, f"{metric}: dimension {name} is not one the stack creates"
            ok = any(value.startswith(k) for k in known[name]) if name in PREFIXED else value in known[name]
            assert ok, f"{widget['properties']['title']}: {name}={value} names nothing in the plan ({known[name]})"
            seen.setdefault(name, set()).add(value)
    # and everything worth watching is on it: every Redis node, node group, namespace, the uptime check
    assert len(seen["CacheClusterId"]) == 1 + cfg.redis.replicas
    assert len(seen["AutoScalingGroupName"]) == len(cfg.eks.node_groups)
    assert seen["Namespace"] == set(cfg.kubernetes.namespaces)
    assert seen["HealthCheckId"] == known["HealthCheckId"] and len(seen["HealthCheckId"]) == 1


def test_the_memos_targets_are_drawn_as_lines(released):
    cfg, plan = released["prod"]
    widgets = [w["properties"] for w in _body(plan)["widgets"] if w["type"] == "metric"]
    lines = {w["title"]: {a["value"] for a in w.get("annotations", {}).get("horizontal", [])} for w in widgets}
    assert lines["Availability % (SLO 99.5%)"] == {99.5}
    assert lines["API latency (seconds)"] == {0.1, 0.5, 1.0}
    assert lines["5xx rate % of requests"] == {0.1}
    assert lines["Node CPU % per node group"] == {70} and lines["Redis memory % per node"] == {80}
    assert lines["Queue processing time (the app's metric, seconds)"] == {30}
    assert lines["Month's estimated charges, whole account (USD)"] == {1600, 1440}
    assert lines["Cost per active customer (USD, month to date)"] == {7}
    billing = [w for w in _body(plan)["widgets"] if "estimated charges" in w["properties"].get("title", "")]
    assert billing[0]["properties"]["region"] == "us-east-1"  # AWS/Billing exists there only


def test_operations_doc_names_the_apps_custom_metrics():
    from components.dashboard import APP_NAMESPACE
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "operations.md").read_text()
    for word in (APP_NAMESPACE, "QueueDepth", "QueueProcessingTime", "ActiveCustomers", "Environment"):
        assert f"`{word}`" in doc


def test_the_dashboard_can_be_put_and_read_back(aws, released):
    """Through moto's CloudWatch over HTTP: the body the stack would send is accepted and comes back whole."""
    from stacks.aws_clients import client

    cfg, plan = released["staging"]
    [dashboard] = plan.by_type("aws:cloudwatch/dashboard:Dashboard")
    cloudwatch = client("cloudwatch", "us-east-1")
    answer = cloudwatch.put_dashboard(DashboardName=dashboard.inputs["dashboardName"],
                                      DashboardBody=dashboard.inputs["dashboardBody"])
    assert answer.get("DashboardValidationMessages", []) == []
    got = cloudwatch.get_dashboard(DashboardName="infra-staging")
    assert json.loads(got["DashboardBody"]) == json.loads(dashboard.inputs["dashboardBody"])
    assert [d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]] == ["infra-staging"]

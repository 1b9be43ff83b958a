"""The monthly estimate: priced from data, Multi-AZ counted twice, unknown never zero."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from policies.check import resources_of_plan
from policies.cost import PRICES_FILE, estimate, load_prices
from policies.framework import Resource

RDS = "aws:rds/instance:Instance"


def _r(type_, name="r", **props):
    return Resource(type_, name, f"urn:pulumi:staging::infra::{type_}::{name}", props)


def test_every_price_names_region_unit_source_and_date():
    doc = yaml.safe_load(PRICES_FILE.read_text())
    for prices in doc["prices"].values():
        for p in prices:
            assert {"item", "unit", "usd", "source", "as_of"} <= p.keys(), p
            assert p["usd"] > 0 and p["source"].startswith("https://aws.amazon.com/")


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_resource_of_the_real_plans_is_priced_or_free(env, request):
    cfg = request.getfixturevalue(f"{env}_cfg")
    est = estimate(env, cfg.region, resources_of_plan(request.getfixturevalue(f"{env}_plan")),
                   budget_usd=cfg.budget.monthly_usd)
    assert est.unknown == []
    assert 0 < est.total_usd < cfg.budget.monthly_usd


def test_the_memo_budget_covers_both_environments(staging_cfg, prod_cfg, staging_plan, prod_plan):
    total = sum(estimate(c.environment, c.region, resources_of_plan(p)).total_usd
                for c, p in ((staging_cfg, staging_plan), (prod_cfg, prod_plan)))
    assert total <= 2500, "the CEO approved $2,000-2,500/month for the initial infrastructure"
    assert staging_cfg.budget.monthly_usd + prod_cfg.budget.monthly_usd <= 2500


def test_multi_az_doubles_instance_and_storage():
    table = load_prices("us-east-1")
    single = estimate("staging", "us-east-1", [_r(RDS, instanceClass="db.t4g.medium", allocatedStorage=100)])
    multi = estimate("staging", "us-east-1", [_r(RDS, instanceClass="db.t4g.medium", allocatedStorage=100,
                                                 multiAz=True)])
    hourly = table.get("rds:postgres:db.t4g.medium").usd
    assert single.total_usd == pytest.approx(hourly * 730 + 0.115 * 100, abs=0.01)
    assert multi.total_usd == pytest.approx(2 * single.total_usd, abs=0.01)


def test_a_missing_price_is_unknown_not_zero():
    table = load_prices("us-east-1")
    without_ec2 = dataclasses.replace(table, prices={k: v for k, v in table.prices.items() if k != "ec2:t3.large"})
    nodes = _r("aws:eks/nodeGroup:NodeGroup", "nodes", instanceTypes=["t3.large"], scalingConfig={"desiredSize": 2})
    cluster = _r("aws:eks/cluster:Cluster", "cluster")
    est = estimate("staging", "us-east-1", [nodes, cluster], table=without_ec2)
    [unknown] = est.unknown
    assert unknown.resource_name == "nodes" and "no price for ec2:t3.large in us-east-1" in unknown.detail
    assert est.total_usd == 73.0  # the cluster alone; the nodes are not counted as zero, they are listed


def test_an_unpriced_resource_type_is_unknown():
    est = estimate("staging", "us-east-1", [_r("aws:dynamodb/table:Table", "t")])
    assert [i.detail for i in est.unknown] == ["no price for resource type aws:dynamodb/table:Table"]


def test_free_types_do_not_appear():
    est = estimate("staging", "us-east-1", [_r("aws:ec2/vpc:Vpc"), _r("kubernetes:core/v1:Namespace")])
    assert est.items == [] and est.total_usd == 0


def test_node_disks_are_priced_from_the_node_groups_launch_template(staging_plan):
    est = estimate("staging", "us-east-1", resources_of_plan(staging_plan))
    [nodes] = [i for i in est.items if i.resource_type == "aws:eks/nodeGroup:NodeGroup"]
    assert nodes.detail == "2 x t3.large + 2 x 50 GB gp3"  # 50 GB: infra:eks.nodeGroups[0].diskSizeGb
    table = load_prices("us-east-1")
    hourly, per_gb = table.get("ec2:t3.large").usd, table.get("ebs:gp3").usd
    assert nodes.monthly_usd == pytest.approx(2 * 730 * hourly + 2 * 50 * per_gb, abs=0.01)


def test_gateway_endpoints_are_free_and_interface_endpoints_unknown_not_zero():
    gateway = _r("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", vpcEndpointType="Gateway")
    interface = _r("aws:ec2/vpcEndpoint:VpcEndpoint", "ecr", vpcEndpointType="Interface")
    est = estimate("staging", "us-east-1", [gateway, interface])
    assert est.total_usd == 0 and [u.resource_name for u in est.unknown] == ["ecr"]


def _scaled(max_replicas: int, replicas: int = 2, group_max: int = 6):
    deployment = _r("kubernetes:apps/v1:Deployment", "app", metadata={"name": "app", "namespace": "app"}, spec={
        "replicas": replicas, "template": {"spec": {"containers": [
            {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}})
    hpa = _r("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "hpa", metadata={"name": "app", "namespace": "app"},
             spec={"scaleTargetRef": {"kind": "Deployment", "name": "app"}, "minReplicas": replicas,
                   "maxReplicas": max_replicas})
    nodes = _r("aws:eks/nodeGroup:NodeGroup", "nodes", instanceTypes=["t3.large"], diskSize=50,
               scalingConfig={"desiredSize": 2, "maxSize": group_max})
    return estimate("staging", "us-east-1", [deployment, hpa, nodes], budget_usd=900)


def test_the_cost_at_max_scale_out_counts_the_nodes_the_extra_pods_need():
    table = load_prices("us-east-1")
    node = table.get("ec2:t3.large").usd * 730 + 0.08 * 50
    # 8 more pods x 500m = 4 vCPU: a t3.large offers 2 x 0.85 = 1.7 to pods, so 3 more nodes
    est = _scaled(max_replicas=10)
    assert (est.scale_out.extra_pods, est.scale_out.extra_nodes) == (8, 3)
    assert est.at_max_scale_usd == pytest.approx(est.total_usd + 3 * node, abs=0.01)
    assert est.as_dict()["atMaxScaleOutMonthlyUsd"] == est.at_max_scale_usd
    from cli.guardrails_view import cost_line

    assert f"at max scale-out ${est.at_max_scale_usd:,.2f} (8 more pods (4 vCPU, 8 GiB requested) on 3 more " \
           "t3.large nodes)" in cost_line(est)
    # the node group's maxSize is the ceiling: the estimate says so rather than pretending
    assert "the node group may add only 1" in _scaled(max_replicas=10, group_max=3).scale_out.detail


def test_without_autoscalers_or_headroom_the_expected_cost_is_the_maximum(staging_plan):
    assert estimate("staging", "us-east-1", resources_of_plan(staging_plan)).scale_out is None
    flat = _scaled(max_replicas=2)
    from cli.guardrails_view import cost_line

    assert flat.at_max_scale_usd == flat.total_usd and "at max" not in cost_line(flat)
def test_an_unpriced_resource_makes_the_total_unknown_and_the_budget_verdict_open():
    cluster, table = _r("aws:eks/cluster:Cluster", "cluster"), _r("aws:dynamodb/table:Table", "t")
    fits = estimate("staging", "us-east-1", [cluster], budget_usd=100)
    assert fits.within_budget is True and fits.as_dict()["totalMonthlyUsd"] == 73.0
    open_ = estimate("staging", "us-east-1", [cluster, table], budget_usd=100)
    assert open_.within_budget is None and open_.as_dict()["totalMonthlyUsd"] is None
    assert open_.as_dict()["pricedMonthlyUsd"] == 73.0
    over = estimate("staging", "us-east-1", [cluster, table], budget_usd=50)
    assert over.within_budget is False, "already over on what is priced"


def test_redis_counts_every_node_replicas_included(staging_plan, staging_cfg):
    est = estimate("staging", "us-east-1", resources_of_plan(staging_plan))
    [redis] = [i for i in est.items if i.resource_type == "aws:elasticache/replicationGroup:ReplicationGroup"]
    nodes = staging_cfg.redis.replicas + 1  # the primary and each replica
    hourly = load_prices("us-east-1").get(f"elasticache:{staging_cfg.redis.node_type}").usd
    assert redis.detail == f"{nodes} x {staging_cfg.redis.node_type}"
    assert redis.monthly_usd == pytest.approx(nodes * 730 * hourly, abs=0.01)

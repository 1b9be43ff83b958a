from __future__ import annotations

import json

import pytest

from components.network import Network, NetworkArgs
from tests.components.conftest import only

KEY = "arn:aws:kms:us-east-1:123456789012:key/logs"


def _network(build, cfg):
    holder = {}

    def factory():
        holder["n"] = Network("net", NetworkArgs(config=cfg, logs_key_arn=KEY))
        n = holder["n"]
        return [n.vpc_id, *n.private_subnet_ids, n.database_subnet_group_name, n.cache_subnet_group_name]

    return build(cfg, factory)


@pytest.mark.parametrize(("env", "nats"), [("staging", 1), ("prod", 3)])
def test_nat_gateways_per_environment(build, request, env, nats):
    cfg = request.getfixturevalue(f"{env}_cfg")
    plan = _network(build, cfg)
    assert len(plan.by_type("aws:ec2/natGateway:NatGateway")) == nats
    # every private subnet routes to a NAT; in prod each AZ to its own
    routes = [r.inputs for r in plan.by_type("aws:ec2/route:Route") if "natGatewayId" in r.inputs]
    assert len(routes) == len(cfg.network.availability_zones)
    assert len({r["natGatewayId"] for r in routes}) == nats


def test_subnets_span_the_zones_and_stay_private(build, prod_cfg):
    plan = _network(build, prod_cfg)
    subnets = [r.inputs for r in plan.by_type("aws:ec2/subnet:Subnet")]
    for tier in ("public", "private", "database"):
        tiered = [s for s in subnets if s["tags"]["tier"] == tier]
        assert sorted(s["availabilityZone"] for s in tiered) == prod_cfg.network.availability_zones
    assert not any(s["mapPublicIpOnLaunch"] for s in subnets)


def test_database_subnets_have_no_route_out(build, staging_cfg):
    plan = _network(build, staging_cfg)
    db_rt = plan.find("aws:ec2/routeTable:RouteTable", "net-database-rt")
    routes = plan.by_type("aws:ec2/route:Route")
    assert all(r.inputs["routeTableId"] != f"{db_rt.name}-id" for r in routes)
    assert len(routes) == 1 + len(staging_cfg.network.availability_zones)


def test_s3_traffic_from_the_private_subnets_skips_the_nat_gateways(build, prod_cfg):
    plan = _network(build, prod_cfg)
    endpoint = only(plan, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint["serviceName"] == "com.amazonaws.us-east-1.s3" and endpoint["vpcEndpointType"] == "Gateway"
    private = {r.id for r in plan.by_type("aws:ec2/routeTable:RouteTable") if "-private-rt-" in r.name}
    assert len(private) == 3 and set(endpoint["routeTableIds"]) == private  # not the database subnets


def test_flow_logs_capture_everything_into_an_encrypted_group(build, staging_cfg):
    plan = _network(build, staging_cfg)
    flow = only(plan, "aws:ec2/flowLog:FlowLog")
    assert flow["trafficType"] == "ALL"
    group = only(plan, "aws:cloudwatch/logGroup:LogGroup")
    assert group["kmsKeyId"] == KEY
    assert group["retentionInDays"] == staging_cfg.network.flow_log_retention_days
    policy = json.loads(only(plan, "aws:iam/rolePolicy:RolePolicy")["policy"])
    [statement] = policy["Statement"]
    assert all("flow-logs" in arn for arn in statement["Resource"]), "write access must be scoped to the group"


def test_default_security_group_is_emptied(build, staging_cfg):
    sg = only(_network(build, staging_cfg), "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert sg.get("ingress", []) == [] and sg.get("egress", []) == []


def test_subnet_groups_use_the_database_subnets(build, staging_cfg):
    plan = _network(build, staging_cfg)
    db_ids = {f"{r.name}-id" for r in plan.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"]["tier"] == "database"}
    assert set(only(plan, "aws:rds/subnetGroup:SubnetGroup")["subnetIds"]) == db_ids
    assert set(only(plan, "aws:elasticache/subnetGroup:SubnetGroup")["subnetIds"]) == db_ids

"""The change between two plans (policies/plan_diff.py), against fixed expectations."""

from __future__ import annotations

import pytest

from policies import cost
from policies.framework import Resource
from policies.plan_diff import ABSENT, SECRET, PropertyChange, check_base, compare, property_changes
from stacks.errors import InvalidInput

URN = "urn:pulumi:staging::infra::{}::{}"
DB = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
KEY = "aws:kms/key:Key"
SUBNET = "aws:ec2/subnet:Subnet"


def res(type_: str, name: str, **props) -> Resource:
    return Resource(type_, name, URN.format(type_, name), props)


def db(klass: str, **extra) -> Resource:
    return res(DB, "db", instanceClass=klass, engine="postgres", multiAz=True, allocatedStorage=50,
               tags={"owner": "sre", "environment": "staging"}, **extra)


BASE = [
    db("db.t4g.medium", masterPassword=SECRET, parameters={"logging": {"level": "info"}}),
    res(REDIS, "cache", nodeType="cache.t4g.medium", numCacheClusters=2, authToken="old-plain-token"),
    res(KEY, "old-key", enableKeyRotation=True),
    res(SUBNET, "a", cidrBlock="10.0.0.0/24", tags={"Name": "a"}),
]
HEAD = [
    db("db.t4g.large", masterPassword=SECRET, parameters={"logging": {"level": "debug"}}),
    res(REDIS, "cache", nodeType="cache.t4g.small", numCacheClusters=2, authToken=SECRET),
    res(SUBNET, "a", cidrBlock="10.0.0.0/24", tags={"Name": "a"}),
    res(SUBNET, "b", cidrBlock="10.0.1.0/24", tags={"Name": "b"}),
]


def diff(base=BASE, head=HEAD, budget=900.0):
    table = cost.load_prices("us-east-1")
    return compare("staging", base, head,
                   cost.estimate("staging", "us-east-1", base, budget_usd=budget, table=table),
                   cost.estimate("staging", "us-east-1", head, budget_usd=budget, table=table))


def test_added_removed_and_changed_resources_property_by_property():
    d = diff()
    assert [(r.action, r.name) for r in d.resources] == [
        ("add", "b"), ("change", "cache"), ("remove", "old-key"), ("change", "db")]
    added = d.of("add")[0]
    assert added.properties == (PropertyChange("cidrBlock", ABSENT, "10.0.1.0/24"),
                                PropertyChange("tags.Name", ABSENT, "b"))
    assert d.of("remove")[0].properties == ()
    [database] = [r for r in d.of("change") if r.name == "db"]
    # a nested property by its dotted path; the unchanged secret is not a change
    assert database.properties == (PropertyChange("instanceClass", "db.t4g.medium", "db.t4g.large"),
                                   PropertyChange("parameters.logging.level", "info", "debug"))


def test_a_value_that_became_secret_is_shown_as_secret_on_both_sides():
    [cache] = [r for r in diff().of("change") if r.name == "cache"]
    assert cache.properties == (PropertyChange("authToken", SECRET, SECRET),
                                PropertyChange("nodeType", "cache.t4g.medium", "cache.t4g.small"))
    assert cache.properties[0].secret
    assert "old-plain-token" not in str(diff().as_dict())


def test_lists_are_compared_item_by_item_and_whole_when_their_length_changes():
    assert list(property_changes({"cidrs": ["a", "b"]}, {"cidrs": ["a", "c"]})) == [
        PropertyChange("cidrs[1]", "b", "c")]
    assert list(property_changes({"cidrs": ["a"]}, {"cidrs": ["a", "c"]})) == [
        PropertyChange("cidrs", ["a"], ["a", "c"])]
    assert list(property_changes({"x": {"y": 1}}, {"x": 1})) == [PropertyChange("x", {"y": 1}, 1)]
    assert list(property_changes({"x": [{"password": SECRET}]}, {"x": []})) == [PropertyChange("x", SECRET, [])]
    # credentials inside a plain string are masked as everywhere else the toolkit prints
    assert list(property_changes({"url": "a"}, {"url": "postgres://app:hunter2@db:5432/app"})) == [
        PropertyChange("url", "a", "postgres://app:***@db:5432/app")]


def test_turning_protect_off_or_on_is_a_change():
    table = cost.load_prices("us-east-1")
    est = cost.estimate("staging", "us-east-1", [], table=table)
    same = [db("db.t4g.medium")]
    urn = same[0].urn
    off = compare("staging", same, same, est, est, protected=({urn}, set()))
    assert [(r.action, r.properties) for r in off.resources] == [
        ("change", (PropertyChange("(protect)", True, False),))]
    assert compare("staging", same, same, est, est, protected=({urn}, {urn})).resources == []
    added = compare("staging", [], same, est, est, protected=(set(), {urn})).resources[0]
    assert PropertyChange("(protect)", ABSENT, True) in added.properties


def test_cost_up_per_resource_and_in_total():
    d = diff()
    by_name = {c.name: c for c in d.costs}
    # prices.yaml, us-east-1: Multi-AZ doubles instance-hours and storage (730 h, 50 GB at $0.115)
    database = by_name["db"]
    assert (database.before, database.after, database.diff) == (106.4, 199.84, 93.44)  # $0.065/h -> $0.129/h
    cache = by_name["cache"]
    assert (cache.before, cache.after, cache.diff) == (94.9, 46.72, -48.18)  # 2 nodes, $0.065/h -> $0.032/h
    assert by_name["old-key"].before == 1.0 and by_name["old-key"].after is None and by_name["old-key"].diff == -1.0
    assert "a" not in by_name and "b" not in by_name  # subnets are free: no cost line
    assert d.past_total == pytest.approx(sum(c.before or 0 for c in d.costs))
    assert d.diff_total == pytest.approx(round(d.total - d.past_total, 2))
    assert (d.past_total, d.total, d.diff_total) == (202.3, 246.56, 44.26)  # 93.44 - 48.18 - 1.00
    doc = d.as_dict()
    assert doc["pastTotalMonthlyCost"] == d.past_total and doc["totalMonthlyCost"] == d.total
    assert doc["diffTotalMonthlyCost"] == d.diff_total
    assert doc["summary"] == {"add": 1, "remove": 1, "change": 2}
    assert not d.over_budget


def test_cost_down_and_over_budget():
    down = diff(base=HEAD, head=BASE, budget=100.0)
    assert down.diff_total < 0 and down.total > 100.0
    assert not down.over_budget  # cheaper than before, even if still over the budget: not this change's fault
    up = diff(budget=220.0)
    assert up.past_total < 220.0 < up.total and up.over_budget and up.as_dict()["overBudget"] is True
    assert not diff(budget=246.56).over_budget  # reaching the budget exactly is within it


def test_unknown_cost_is_shown_as_unknown_never_as_zero():
    head = [*HEAD, res("aws:eks/nodeGroup:NodeGroup", "gpu", instanceTypes=["p5.48xlarge"],
                       scalingConfig={"desiredSize": 1})]
    [gpu] = [c for c in diff(head=head).costs if c.name == "gpu"]
    assert gpu.unknown and gpu.diff is None and gpu.after is None


def test_a_base_of_another_environment_or_project_is_refused():
    check_base("base.json", "staging", "staging", BASE)
    with pytest.raises(InvalidInput, match="a plan of prod, not staging"):
        check_base("base.json", "staging", "prod", BASE)
    other = [Resource(DB, "db", "urn:pulumi:staging::billing::aws:rds/instance:Instance::db", {})]
    with pytest.raises(InvalidInput, match="not one of project 'infra' stack 'staging'"):
        check_base("base.json", "staging", "staging", other)
    mislabelled = [Resource(DB, "db", "urn:pulumi:prod::infra::aws:rds/instance:Instance::db", {})]
    with pytest.raises(InvalidInput, match="not one of project"):
        check_base("base.json", "staging", "staging", mislabelled)

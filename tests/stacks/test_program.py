"""The whole program for staging and prod, as `infra plan` captures it under the mock engine."""

from __future__ import annotations

import collections
import importlib
import inspect
import json
import re

import pytest
import yaml

from stacks.offline import SECRET, run

REQUIRED_TAGS = {"environment", "project", "owner", "cost-center"}


def expected_counts(cfg) -> dict[str, int]:
    azs = len(cfg.network.availability_zones)
    nats = azs if cfg.network.nat_gateways == "onePerAz" else 1
    buckets = 2 if cfg.tenancy else 1
    return {
        "aws:ec2/vpc:Vpc": 1,
        "aws:ec2/subnet:Subnet": 3 * azs,
        "aws:ec2/routeTable:RouteTable": 2 + azs,
        "aws:ec2/routeTableAssociation:RouteTableAssociation": 3 * azs,
        "aws:ec2/route:Route": 1 + azs,
        "aws:ec2/natGateway:NatGateway": nats,
        "aws:ec2/eip:Eip": nats,
        "aws:ec2/flowLog:FlowLog": 1,
        "aws:ec2/vpcEndpoint:VpcEndpoint": 1,
        "aws:kms/key:Key": 5,
        "aws:kms/alias:Alias": 5,
        "aws:eks/cluster:Cluster": 1,
        "aws:eks/nodeGroup:NodeGroup": len(cfg.eks.node_groups),
        "aws:ec2/launchTemplate:LaunchTemplate": len(cfg.eks.node_groups),
        "aws:eks/addon:Addon": 5,  # vpc-cni, kube-proxy, coredns, Container Insights, metrics-server
        "aws:eks/accessEntry:AccessEntry": len(cfg.eks.access),
        "aws:lb/loadBalancer:LoadBalancer": 1,
        "aws:lb/listener:Listener": 2,  # HTTPS, and HTTP that only redirects
        "aws:wafv2/webAcl:WebAcl": 1,
        "aws:wafv2/webAclAssociation:WebAclAssociation": 1,
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": 1,
        # the load balancer's access logs; with tenants, their offboarding dumps (versioned: only that one)
        "aws:s3/bucket:Bucket": buckets,
        "aws:s3/bucketPolicy:BucketPolicy": buckets,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": buckets,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": buckets,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": buckets,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": buckets,
        "aws:s3/bucketVersioning:BucketVersioning": buckets - 1,
        "infra:aws:TenantDumps": buckets - 1,
        "aws:autoscaling/attachment:Attachment": len(cfg.eks.node_groups),
        "infra:aws:PublicEndpoint": 1,
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": len(cfg.eks.access),
        "aws:rds/instance:Instance": 1,
        "aws:elasticache/replicationGroup:ReplicationGroup": 1,
        "aws:secretsmanager/secret:Secret": 3,
        "aws:secretsmanager/secretVersion:SecretVersion": 3,
        "kubernetes:core/v1:Namespace": 3,
        # per namespace: default deny + DNS; app & workers: temporal + datastores; app: LB;
        # temporal: clients, within-namespace, postgres, public HTTPS (STS, RDS CA)
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 3 * 2 + 2 * 2 + 1 + 4 + len(set(cfg.kubernetes.https_egress)),
        "infra:aws:Network": 1,
        "infra:aws:EncryptionKeys": 1,
        "infra:aws:EksCluster": 1,
        "infra:aws:PostgresDatabase": 1,
        "infra:aws:RedisCache": 1,
        "infra:aws:ApplicationSecrets": 1,
        "infra:k8s:NetworkPolicies": 1,
        "kubernetes:core/v1:ResourceQuota": 3,
        "kubernetes:core/v1:LimitRange": 3,
        "infra:k8s:NamespaceLimits": 1,
        "aws:sns/topic:Topic": 1,
        "aws:sns/topicPolicy:TopicPolicy": 1,
        "aws:sns/topicSubscription:TopicSubscription": len(cfg.budget.alert_emails),
        "aws:budgets/budget:Budget": 1,
        # PostgreSQL 3, per Redis node 3, nodes 2
        "aws:cloudwatch/metricAlarm:MetricAlarm": 3 + 3 * (1 + cfg.redis.replicas) + 2,
        "infra:aws:BudgetAlerts": 1,
        "infra:aws:Alarms": 1,
        # Temporal: frontend, history, matching, worker and the UI, each with a disruption budget; the frontend
        # and UI Services plus a headless one per server; server, schema and UI identities; its config, dynamic
        # config and schema scripts; the schema job; an IRSA role and policy for the servers and the job
        "infra:k8s:Temporal": 1,
        "kubernetes:apps/v1:Deployment": 5,
        "kubernetes:policy/v1:PodDisruptionBudget": 5,
        "kubernetes:core/v1:Service": 6,
        "kubernetes:core/v1:ServiceAccount": 3,
        "kubernetes:core/v1:ConfigMap": 3,
        "kubernetes:batch/v1:Job": 1,
        "aws:cloudwatch/dashboard:Dashboard": 1,
        "infra:aws:Dashboard": 1,
    }


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_resource_is_captured(env, request):
    cfg = request.getfixturevalue(f"{env}_cfg")
    plan = request.getfixturevalue(f"{env}_plan")
    counts = collections.Counter(r.type for r in plan.resources)
    for type_, n in expected_counts(cfg).items():
        assert counts[type_] == n, f"{type_}: expected {n}, captured {counts[type_]}"
    assert len(plan.resources) == len({r.urn for r in plan.resources}), "a URN was captured twice"
    # every resource hangs off the stack through its component
    urns = {r.urn for r in plan.resources}
    assert all(r.parent in urns for r in plan.resources if r.type != "pulumi:pulumi:Stack")


def test_a_second_run_captures_the_same_plan(staging_cfg, staging_plan):
    again = run(staging_cfg)
    assert sorted((r.urn, json.dumps(r.inputs, sort_keys=True)) for r in again.resources) == sorted(
        (r.urn, json.dumps(r.inputs, sort_keys=True)) for r in staging_plan.resources
    )


def test_prod_is_stricter_than_staging(staging_plan, prod_plan):
    def one(plan, type_):
        [r] = plan.by_type(type_)
        return r.inputs

    s_db, p_db = (one(p, "aws:rds/instance:Instance") for p in (staging_plan, prod_plan))
    assert p_db["deletionProtection"] is True and p_db["skipFinalSnapshot"] is False
    assert p_db["finalSnapshotIdentifier"] == "infra-prod-postgres-final"
    assert s_db["skipFinalSnapshot"] is True and "finalSnapshotIdentifier" not in s_db
    assert p_db["backupRetentionPeriod"] >= 7 and s_db["multiAz"] and p_db["multiAz"]
    assert len(prod_plan.by_type("aws:ec2/natGateway:NatGateway")) == 3
    assert len(staging_plan.by_type("aws:ec2/natGateway:NatGateway")) == 1
    assert one(prod_plan, "aws:eks/cluster:Cluster")["deletionProtection"] is True
    assert one(staging_plan, "aws:eks/cluster:Cluster")["deletionProtection"] is False
    assert all(k["deletionWindowInDays"] == 30 for k in (r.inputs for r in prod_plan.by_type("aws:kms/key:Key")))
    p_redis = one(prod_plan, "aws:elasticache/replicationGroup:ReplicationGroup")
    assert p_redis["numCacheClusters"] == 3 and p_redis["finalSnapshotIdentifier"]
    # the engine itself refuses to delete or replace prod's data and keys; nothing in staging is pinned
    protected = collections.Counter(r.type for r in prod_plan.resources if r.protect)
    assert protected == {"aws:kms/key:Key": 5, "aws:rds/instance:Instance": 1,
                         "aws:elasticache/replicationGroup:ReplicationGroup": 1,
                         "aws:s3/bucket:Bucket": 1}  # the offboarded tenants' dumps
    assert not any(r.protect for r in staging_plan.resources)


def test_an_environment_without_tenants_has_no_dumps_bucket(staging_cfg):
    cfg = staging_cfg.model_copy(update={"tenancy": None})
    plan = run(cfg)
    counts = collections.Counter(r.type for r in plan.resources)
    for type_, n in expected_counts(cfg).items():
        assert counts[type_] == n, f"{type_}: expected {n}, captured {counts[type_]}"
    [bucket] = plan.by_type("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucketPrefix"] == "infra-staging-alb-logs-"


@pytest.mark.parametrize("tenants", [True, False])
def test_the_dumps_bucket_is_a_stack_output_when_there_are_tenants(staging_cfg, tenants):
    from stacks import program
    from stacks.offline import mock_engine

    cfg = staging_cfg if tenants else staging_cfg.model_copy(update={"tenancy": None})
    seen: dict = {}
    with mock_engine(cfg.environment, cfg.region):
        import pulumi

        @pulumi.runtime.test
        def create():
            outputs = program.build(cfg)
            seen["keys"] = set(outputs)
            return outputs.get("tenant_dumps_bucket", pulumi.Output.from_input(None)).apply(
                lambda name: seen.update(bucket=name))

        create()
    assert ("tenant_dumps_bucket" in seen["keys"]) is tenants
    assert seen["bucket"] == ("infra-staging-tenant-dumps" if tenants else None)


def _taggable(type_: str) -> bool:
    package, module, cls = type_.split(":")
    mod = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
    return "tags" in inspect.signature(getattr(mod, cls)._internal_init).parameters


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_taggable_aws_resource_carries_ownership_tags(env, request):
    plan = request.getfixturevalue(f"{env}_plan")
    aws_resources = [r for r in plan.resources if r.custom and r.type.startswith("aws:")]
    taggable = [r for r in aws_resources if _taggable(r.type)]
    assert len(taggable) > 40
    for r in taggable:
        tags = r.inputs.get("tags") or {}
        assert tags.keys() >= REQUIRED_TAGS, f"{r.type} {r.name} lacks {REQUIRED_TAGS - tags.keys()}"
        assert tags["environment"] == env


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_no_secret_value_reaches_the_plan(env, request):
    plan = request.getfixturevalue(f"{env}_plan")
    text = json.dumps([r.inputs for r in plan.resources])
    assert "mock-" not in text  # the generated Redis token
    [rg] = plan.by_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert rg.inputs["authToken"] == SECRET
    [db] = plan.by_type("aws:rds/instance:Instance")
    assert "password" not in db.inputs and db.inputs["manageMasterUserPassword"] is True


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_kubernetes_objects_match_the_api_schemas(env, request):
    """Every Kubernetes object validates strictly against the real API schema of the cluster version."""
    import kubernetes_validate

    cfg = request.getfixturevalue(f"{env}_cfg")
    plan = request.getfixturevalue(f"{env}_plan")
    objects = [r for r in plan.resources if r.type.startswith("kubernetes:") and r.custom and "apiVersion" in r.inputs]
    # namespaces and network policies; quotas and limit ranges; Temporal
    assert len(objects) == 20 + 6 + 23
    for r in objects:  # every field the program sends, not a chosen few (a ConfigMap's data, an account's flags)
        kubernetes_validate.validate(r.inputs, f"{cfg.eks.version}.0", strict=True)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_with_a_release_every_kubernetes_object_and_autoscaler_matches_the_api_schemas(env, request):
    """The release's objects too (Deployments, Services, disruption budgets, HorizontalPodAutoscalers v2), and
    the guardrails pass the stack files' autoscaling ceilings against their quotas."""
    import kubernetes_validate

    from policies.check import check_plan

    cfg = request.getfixturevalue(f"{env}_cfg")
    cfg = cfg.model_copy(update={"release": cfg.release.model_copy(
        update={"image": "registry.example.com/platform/app:1.4.2"})})
    plan = run(cfg)
    objects = [r for r in plan.resources if r.type.startswith("kubernetes:") and r.custom]
    autoscalers = [r for r in objects if r.type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"]
    assert len(autoscalers) == 2
    for r in objects:
        manifest = {k: r.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec", "automountServiceAccountToken")
                    if k in r.inputs}
        kubernetes_validate.validate(manifest, f"{cfg.eks.version}.0", strict=True)
    assert check_plan(plan, cfg).violations == []


def test_schema_validation_would_catch_a_broken_object():
    import kubernetes_validate

    broken = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "x", "namespace": "app"},
              "spec": {"podSelector": {}, "policyType": ["Ingress"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.33.0", strict=True)


_PASSWORD_KEYS = re.compile(r"(?i)^(password|passwd|pgpassword|sql_password|master_?password|secret_?string)$")
# `password: hunter2`, `PGPASSWORD=hunter2`, `"password": "hunter2"`: a literal, not a reference ($VAR, $(...))
_PASSWORD_TEXT = re.compile(r"(?i)(password|passwd)[\"']?\s*[:=]\s*[\"']?(?![\"'$\s{(])[^\s\"',}]{4,}")


def _password_literals(value, path="") -> list[str]:
    found = []
    if isinstance(value, dict):
        if _PASSWORD_KEYS.match(str(value.get("name", ""))) and isinstance(value.get("value"), str):
            found.append(f"{path} (env {value['name']})")  # an environment variable given a literal
        for k, v in value.items():
            if _PASSWORD_KEYS.match(str(k)) and v not in (None, "", SECRET):
                found.append(f"{path}.{k}")
            found += _password_literals(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _password_literals(v, f"{path}[{i}]")
    elif isinstance(value, str):
        found += [f"{path}: {m.group(0)}" for m in _PASSWORD_TEXT.finditer(value)]
        if value.lstrip().startswith(("{", "#")) or "\n" in value:  # a config file inside a ConfigMap
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                parsed = None
            if isinstance(parsed, dict | list):
                found += _password_literals(parsed, f"{path}(yaml)")
    return found


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_no_password_shaped_literal_in_any_input(env, request):
    plan = request.getfixturevalue(f"{env}_plan")
    found = [f"{r.type} {r.name}{where}" for r in plan.resources for where in _password_literals(r.inputs)]
    assert found == []


@pytest.mark.parametrize("leak", [
    {"data": {"production.yaml": "persistence:\n  sql:\n    password: hunter2hunter2\n"}},
    {"env": [{"name": "SQL_PASSWORD", "value": "hunter2hunter2"}]},
    {"data": {"run.sh": "export PGPASSWORD=hunter2hunter2\n"}},
])
def test_the_password_scan_would_catch_a_leak(leak):
    assert _password_literals(leak)


def test_temporal_pods_get_the_rds_endpoint_with_tls_for_both_datastores(staging_plan):
    [db] = staging_plan.by_type("aws:rds/instance:Instance")
    address = f"{db.inputs['identifier']}."  # the mock engine's address starts with the identifier
    [config] = [r for r in staging_plan.by_type("kubernetes:core/v1:ConfigMap")
                if r.inputs["metadata"]["name"] == "temporal-config"]
    stores = yaml.safe_load(config.inputs["data"]["production.yaml"])["persistence"]["datastores"]
    for store in stores.values():
        sql = store["sql"]
        assert sql["connectAddr"].startswith(address) and sql["connectAddr"].endswith(".rds.amazonaws.com:5432")
        assert sql["tls"]["enabled"] is True and sql["tls"]["enableHostVerification"] is True
        assert sql["authPlugin"]["plugin"] == "rds-iam-auth"

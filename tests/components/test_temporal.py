"""Temporal on the cluster: the servers, their schema job, their identity, health checks and configuration."""

from __future__ import annotations

import json

import pytest
import yaml

from components.temporal import SCHEMA_SCRIPT, Temporal, TemporalArgs
from stacks.config import TemporalConfig

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
ADDRESS = "infra-staging-postgres.abc123.us-east-1.rds.amazonaws.com"
INSTANCE_ARN = "arn:aws:rds:us-east-1:123456789012:db:infra-staging-postgres"
MASTER_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234"
KEY = "arn:aws:kms:us-east-1:123456789012:key/secrets"
SERVERS = ("frontend", "history", "matching", "worker")


def _temporal(build_k8s, cfg):
    def make(provider):
        t = Temporal("tp", TemporalArgs(
            config=cfg, provider=provider, database_address=ADDRESS, database_port=5432,
            database_arn=INSTANCE_ARN, database_resource_id="db-ABCDEF123", master_secret_arn=MASTER_SECRET,
            secrets_key_arn=KEY, oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X",
            oidc_issuer="https://oidc.example/id/X"))
        return [t.frontend_address, t.history_shards]

    plan = build_k8s(cfg, make)
    objects = {(r.type, r.inputs["metadata"]["name"]): r for r in plan.resources
               if r.type.startswith("kubernetes:") and r.custom and "metadata" in r.inputs}
    return objects, plan


def _pod(objects, name, kind=DEPLOYMENT):
    return objects[(kind, name)].inputs["spec"]["template"]["spec"]


def _server_config(objects) -> dict:
    text = objects[("kubernetes:core/v1:ConfigMap", "temporal-config")].inputs["data"]["production.yaml"]
    assert text.startswith("# enable-template")  # Temporal renders {{ env "POD_IP" }} per pod
    return yaml.safe_load(text)


def test_four_servers_and_the_ui_run_pinned_images_of_one_version(build_k8s, prod_cfg):
    objects, _ = _temporal(build_k8s, prod_cfg)
    tc = prod_cfg.temporal
    for service in SERVERS:
        deployment = objects[(DEPLOYMENT, f"temporal-{service}")].inputs["spec"]
        assert deployment["replicas"] == getattr(tc, service).replicas
        [server] = deployment["template"]["spec"]["containers"]
        assert server["image"] == tc.server_image and server["command"][-2:] == ["--service", service]
        assert server["resources"]["limits"]["memory"] == server["resources"]["requests"]["memory"]
    assert objects[(DEPLOYMENT, "temporal-history")].inputs["spec"]["replicas"] == 3
    [ui] = _pod(objects, "temporal-web")["containers"]
    assert ui["image"] == tc.ui_image
    images = {c["image"] for r in objects.values() if r.type in (DEPLOYMENT, JOB)
              for c in [*r.inputs["spec"]["template"]["spec"]["containers"],
                        *r.inputs["spec"]["template"]["spec"].get("initContainers", [])]}
    assert images == {tc.server_image, tc.admin_tools_image, tc.ui_image, tc.aws_cli_image}
    assert not any(i.endswith(":latest") or ":" not in i for i in images)


def test_frontend_is_ready_by_grpc_health_and_a_slow_start_is_never_killed(build_k8s, staging_cfg):
    objects, _ = _temporal(build_k8s, staging_cfg)
    [frontend] = _pod(objects, "temporal-frontend")["containers"]
    assert frontend["readinessProbe"]["grpc"] == {"port": 7233,
                                                  "service": "temporal.api.workflowservice.v1.WorkflowService"}
    for service in SERVERS:
        [c] = _pod(objects, f"temporal-{service}")["containers"]
        startup, liveness = c["startupProbe"], c["livenessProbe"]
        # Kubernetes holds liveness and readiness back until the startup probe passes: its budget (5 minutes
        # here) covers joining the membership ring and acquiring shards.
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
        # Liveness asks only whether the port is open: a server up but not serving (database away) is taken out
        # of the Service by readiness, never restarted into a crash loop.
        assert set(liveness) - {"periodSeconds", "timeoutSeconds", "failureThreshold"} == {"tcpSocket"}
        assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 120
        assert "initialDelaySeconds" not in liveness
    for service in ("history", "matching", "worker"):  # the server as a whole: what they answer for
        [c] = _pod(objects, f"temporal-{service}")["containers"]
        assert c["readinessProbe"]["grpc"] == c["startupProbe"]["grpc"] == {"port": {"history": 7234, "matching": 7235,
                                                                                      "worker": 7239}[service]}


def test_every_workload_has_a_disruption_budget(build_k8s, staging_cfg):
    objects, _ = _temporal(build_k8s, staging_cfg)
    deployments = {n for (t, n) in objects if t == DEPLOYMENT}
    budgets = {n: r.inputs["spec"] for (t, n), r in objects.items() if t == "kubernetes:policy/v1:PodDisruptionBudget"}
    assert deployments == set(budgets) == {f"temporal-{s}" for s in (*SERVERS, "web")}
    for name, spec in budgets.items():
        assert spec["maxUnavailable"] == 1
        assert spec["selector"] == objects[(DEPLOYMENT, name)].inputs["spec"]["selector"]


def test_pods_meet_pod_security_restricted(build_k8s, staging_cfg):
    objects, _ = _temporal(build_k8s, staging_cfg)
    pods = [r.inputs["spec"]["template"]["spec"] for r in objects.values() if r.type in (DEPLOYMENT, JOB)]
    assert len(pods) == 6
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        assert pod["automountServiceAccountToken"] is False
        for c in [*pod["containers"], *pod.get("initContainers", [])]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert c["resources"]["limits"] and c["resources"]["requests"]


def test_servers_connect_to_rds_with_tls_and_iam_for_both_datastores(build_k8s, staging_cfg):
    objects, _ = _temporal(build_k8s, staging_cfg)
    config = _server_config(objects)
    persistence = config["persistence"]
    assert persistence["numHistoryShards"] == staging_cfg.temporal.num_history_shards == 128
    stores = persistence["datastores"]
    assert {persistence["defaultStore"], persistence["visibilityStore"]} == set(stores) == {"default", "visibility"}
    assert {s["sql"]["databaseName"] for s in stores.values()} == {"temporal", "temporal_visibility"}
    for store in stores.values():
        sql = store["sql"]
        assert sql["connectAddr"] == f"{ADDRESS}:5432" and sql["pluginName"] == "postgres12"
        assert sql["tls"] == {"enabled": True, "caFile": "/run/rds-ca/ca.pem", "enableHostVerification": True,
                              "serverName": ADDRESS}
        assert sql["authPlugin"]["plugin"] == "rds-iam-auth" and sql["user"] == "temporal"
        assert "password" not in sql
    assert config["global"]["membership"]["broadcastAddress"] == '{{ env "POD_IP" }}'
    # every server mounts that file and the CA bundle its TLS checks RDS against
    for service in SERVERS:
        pod = _pod(objects, f"temporal-{service}")
        [c] = pod["containers"]
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/etc/temporal/platform", "/run/rds-ca"} <= mounts
        assert c["command"][:7] == ["temporal-server", "--root", "/etc/temporal", "--config", "platform",
                                    "--env", "production"]
        [ca] = pod["initContainers"]
        assert "truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem" in ca["command"][-1]


def test_servers_roll_only_after_the_schema_job_and_it_fails_loudly(build_k8s, staging_cfg):
    objects, _ = _temporal(build_k8s, staging_cfg)
    job = objects[(JOB, "temporal-schema-1-29-1")]  # one job per server version
    for service in SERVERS:
        assert job.urn in objects[(DEPLOYMENT, f"temporal-{service}")].depends_on
    spec = job.inputs["spec"]
    assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == 900
    assert job.inputs["metadata"]["annotations"] == {"pulumi.com/timeoutSeconds": "900",
                                                     "pulumi.com/replaceUnready": "true"}
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "temporal-schema"
    assert [c["name"] for c in pod["initContainers"]] == ["rds-ca", "credentials"]
    [schema] = pod["containers"]
    for c in [*pod["initContainers"], schema]:
        assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"  # the log tail in Pulumi's error
    # the master password lives in an in-memory volume of this pod only
    credentials = next(v for v in pod["volumes"] if v["name"] == "credentials")
    assert credentials["emptyDir"]["medium"] == "Memory"
    env = {e["name"]: e.get("value") for e in schema["env"]}
    assert env["SQL_HOST"] == ADDRESS and env["SQL_PORT"] == "5432" and env["SQL_USER"] == "temporal"


def test_schema_script_sets_up_once_then_updates_with_tls_for_both_databases():
    assert "set -euo pipefail" in SCHEMA_SCRIPT
    assert "PGSSLMODE=verify-full" in SCHEMA_SCRIPT and "SQL_TLS=true" in SCHEMA_SCRIPT
    assert "setup-schema -v 0.0" in SCHEMA_SCRIPT and "to_regclass('public.schema_version')" in SCHEMA_SCRIPT
    assert "for store in temporal:temporal visibility:temporal_visibility" in SCHEMA_SCRIPT
    assert "/etc/temporal/schema/postgresql/v12/$directory/versioned" in SCHEMA_SCRIPT


def _role_policies(plan) -> dict[str, dict]:
    roles = {r.name: r for r in plan.by_type("aws:iam/role:Role")}
    policies = {r.name: json.loads(r.inputs["policy"]) for r in plan.by_type("aws:iam/rolePolicy:RolePolicy")}
    return roles, policies


def test_each_pod_identity_may_do_exactly_its_job(build_k8s, staging_cfg):
    objects, plan = _temporal(build_k8s, staging_cfg)
    roles, policies = _role_policies(plan)
    assert set(roles) == {"tp-server-role", "tp-schema-role"}
    user = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEF123/temporal"
    assert policies["tp-server-policy"]["Statement"] == [
        {"Sid": "ConnectAsTemporal", "Effect": "Allow", "Action": "rds-db:connect", "Resource": user}]
    schema = {s["Sid"]: s for s in policies["tp-schema-policy"]["Statement"]}
    assert schema["ReadTheMasterSecret"]["Resource"] == [MASTER_SECRET]
    assert schema["DecryptThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    assert schema["ConnectAsTemporal"]["Resource"] == user
    for slug, account in (("server", "temporal-server"), ("schema", "temporal-schema")):
        trust = json.loads(roles[f"tp-{slug}-role"].inputs["assumeRolePolicy"])["Statement"][0]
        sub = trust["Condition"]["StringEquals"]["oidc.example/id/X:sub"]
        assert sub == f"system:serviceaccount:temporal:{account}"
    accounts = {n: r.inputs for (t, n), r in objects.items() if t == "kubernetes:core/v1:ServiceAccount"}
    assert "eks.amazonaws.com/role-arn" not in (accounts["temporal-web"]["metadata"].get("annotations") or {})
    assert all(_pod(objects, f"temporal-{s}")["serviceAccountName"] == "temporal-server" for s in SERVERS)


def test_reachable_only_inside_the_cluster(build_k8s, staging_cfg):
    objects, _ = _temporal(build_k8s, staging_cfg)
    services = {n: r.inputs["spec"] for (t, n), r in objects.items() if t == "kubernetes:core/v1:Service"}
    assert services["temporal-frontend"]["type"] == "ClusterIP"
    assert services["temporal-frontend"]["ports"] == [{"name": "grpc", "port": 7233, "targetPort": "grpc",
                                                       "protocol": "TCP"}]
    assert services["temporal-web"]["type"] == "ClusterIP"  # the UI: kubectl port-forward only
    for name, port, membership in (("history", 7234, 6934), ("matching", 7235, 6935), ("worker", 7239, 6939)):
        headless = services[f"temporal-{name}-headless"]
        assert headless["clusterIP"] == "None" and [p["port"] for p in headless["ports"]] == [port, membership]
    assert all(s.get("type", "ClusterIP") == "ClusterIP" for s in services.values())


def test_dynamic_config_holds_the_per_namespace_rate_limits(build_k8s, staging_cfg):
    temporal = staging_cfg.temporal.model_copy(update={"namespace_rps": {"tenant-pro": 300, "tenant-free": 20},
                                                       "default_namespace_rps": 50})
    objects, _ = _temporal(build_k8s, staging_cfg.model_copy(update={"temporal": temporal}))
    text = objects[("kubernetes:core/v1:ConfigMap", "temporal-dynamic-config")].inputs["data"]["dynamicconfig.yaml"]
    assert yaml.safe_load(text)["frontend.namespaceRPS"] == [
        {"value": 20, "constraints": {"namespace": "tenant-free"}},
        {"value": 300, "constraints": {"namespace": "tenant-pro"}},
        {"value": 50},  # every other namespace
    ]
    client = _server_config(objects)["dynamicConfigClient"]
    assert client["filepath"] == "/etc/temporal/dynamicconfig/dynamicconfig.yaml"


def test_objects_match_the_api_schema(build_k8s, prod_cfg):
    import kubernetes_validate

    objects, _ = _temporal(build_k8s, prod_cfg)
    assert len(objects) == 5 + 5 + 6 + 3 + 3 + 1  # deployments, budgets, services, accounts, config maps, job
    for r in objects.values():
        kubernetes_validate.validate(r.inputs, f"{prod_cfg.eks.version}.0", strict=True)


@pytest.mark.parametrize(("change", "message"), [
    ({"adminToolsImage": "temporalio/admin-tools:1.28.0-tctl-1.18.4-cli-1.5.0"}, "is not for server 1.29.1"),
    ({"serverImage": "temporalio/server:latest"}, "moving tag 'latest'"),
    ({"serverImage": "temporalio/server"}, "has no tag or digest"),
    ({"history": {"replicas": 2, "cpu": 2, "cpuLimit": 1, "memoryGb": 1}}, "cpuLimit 1.0 is below cpu 2.0"),
    ({"numHistoryShards": 0}, "numHistoryShards"),
    ({"namespaceRps": {"bad name!": 10}}, "is not a Temporal namespace name"),
])
def test_bad_temporal_settings_are_refused_with_the_key(write_config, change, message):
    from stacks import config
    from stacks.errors import ConfigError

    path = write_config("staging", lambda c: c["infra:temporal"].update(change))
    with pytest.raises(ConfigError) as err:
        config.load("staging", path)
    assert "infra:temporal" in str(err.value) and message in str(err.value)


def test_defaults_are_pinned_to_one_version():
    tc = TemporalConfig()
    assert tc.admin_tools_image.split(":")[1].startswith(tc.server_version + "-")


def _quota_verdict(build_k8s, cfg):
    """The quota guardrail on Temporal and its namespace's limits, as `infra plan` evaluates them."""
    from components.namespace_limits import NamespaceLimits, NamespaceLimitsArgs
    from components.network_policies import NetworkPolicies, NetworkPoliciesArgs
    from policies.check import check_plan

    def make(provider):
        NetworkPolicies("np", NetworkPoliciesArgs(config=cfg, provider=provider))
        NamespaceLimits("nl", NamespaceLimitsArgs(config=cfg, provider=provider))
        return Temporal("tp", TemporalArgs(
            config=cfg, provider=provider, database_address=ADDRESS, database_port=5432,
            database_arn=INSTANCE_ARN, database_resource_id="db-ABCDEF123", master_secret_arn=MASTER_SECRET,
            secrets_key_arn=KEY, oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X",
            oidc_issuer="https://oidc.example/id/X")).frontend_address

    report = check_plan(build_k8s(cfg, make), cfg)
    return [v for v in report.violations if v.rule == "k8s-workloads-fit-quota"]


def test_the_quota_guardrail_counts_every_temporal_pod(build_k8s, staging_cfg):
    assert _quota_verdict(build_k8s, staging_cfg) == []
    # 3 history pods of 2 GiB plus the surge one (8 GiB), the other servers, the UI and the schema job: 11.75 GiB
    history = staging_cfg.temporal.history.model_copy(update={"replicas": 3, "memory_gb": 2})
    big = staging_cfg.model_copy(update={"temporal": staging_cfg.temporal.model_copy(update={"history": history})})
    [violation] = _quota_verdict(build_k8s, big)
    assert violation.message.startswith("namespace temporal: at full rollout")
    assert "temporal-history" in violation.message and "limits.memory 11.8Gi > 8Gi" in violation.message


def test_the_schema_job_and_init_containers_count_as_kubernetes_counts_them():
    from policies.framework import Resource
    from policies.rules.quotas import _at_full_rollout

    def pod(containers, init=()):
        return {"template": {"spec": {"containers": [{"resources": {"limits": c}} for c in containers],
                                      "initContainers": [{"resources": {"limits": c}} for c in init]}}}

    job = Resource("kubernetes:batch/v1:Job", "schema", "urn:job", {"spec": pod(
        [{"cpu": "500m", "memory": "256Mi"}], init=[{"cpu": "2", "memory": "128Mi"}])})
    used = _at_full_rollout([job], {}, {})
    # one pod; the larger init container's CPU (init containers run alone), the container's memory
    assert used == {"pods": 1, "limits.cpu": 2, "limits.memory": 256 * 2 ** 20}

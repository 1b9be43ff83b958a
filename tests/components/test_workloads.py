"""The application release on the cluster: restricted pods with limits, probes and disruption budgets."""

from __future__ import annotations

import collections

import pytest

from components.workloads import SecretAccess, Workloads, WorkloadsArgs
from stacks.config import ReleaseConfig

IMAGE = "registry.example.com/platform/app:1.4.2"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def _with_release(cfg, image=IMAGE, app=3, workers=2):
    return cfg.model_copy(update={"release": ReleaseConfig(image=image, app_replicas=app, worker_replicas=workers)})


def _workloads(build_k8s, cfg):
    plan = build_k8s(cfg, lambda provider: Workloads("wl", WorkloadsArgs(cfg, provider)).app_service_name)
    return {(r.type, r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs
            for r in plan.resources if r.type.startswith("kubernetes:") and r.custom and "metadata" in r.inputs}, plan


def test_app_and_workers_run_the_release_image_in_their_namespaces(build_k8s, staging_cfg):
    objects, _ = _workloads(build_k8s, _with_release(staging_cfg, app=3, workers=5))
    app = objects[(DEPLOYMENT, "app", "app")]["spec"]
    worker = objects[(DEPLOYMENT, "workers", "worker")]["spec"]
    assert app["replicas"] == 3 and worker["replicas"] == 5
    [app_c] = app["template"]["spec"]["containers"]
    [worker_c] = worker["template"]["spec"]["containers"]
    assert app_c["image"] == worker_c["image"] == IMAGE
    assert app_c["args"] == ["serve"] and worker_c["args"] == ["worker"]
    assert app_c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert {"name": "PORT", "value": "8080"} in app_c["env"]
    service = objects[("kubernetes:core/v1:Service", "app", "app")]["spec"]
    # reached by the load balancer on the NodePort its target group uses, keeping the client's source address
    assert service["type"] == "NodePort" and service["selector"] == app["selector"]["matchLabels"]
    assert service["externalTrafficPolicy"] == "Local"
    assert service["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP",
                                 "nodePort": 30080}]


@pytest.mark.parametrize("component", [("app", "app"), ("workers", "worker")])
def test_pods_meet_pod_security_restricted(build_k8s, prod_cfg, component):
    objects, _ = _workloads(build_k8s, _with_release(prod_cfg))
    pod = objects[(DEPLOYMENT, *component)]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == component[1]
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # the one writable path


@pytest.mark.parametrize("component", [("app", "app"), ("workers", "worker")])
def test_requests_hard_limits_probes_and_a_disruption_budget(build_k8s, staging_cfg, component):
    objects, _ = _workloads(build_k8s, _with_release(staging_cfg))
    spec = objects[(DEPLOYMENT, *component)]["spec"]
    [c] = spec["template"]["spec"]["containers"]
    assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}  # no capacity dip on deploy
    pdb = objects[("kubernetes:policy/v1:PodDisruptionBudget", *component)]["spec"]
    assert pdb["maxUnavailable"] == 1 and pdb["selector"] == spec["selector"]
    [spread] = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"


def test_every_object_validates_against_the_cluster_api(build_k8s, prod_cfg):
    import kubernetes_validate

    objects, plan = _workloads(build_k8s, _with_release(prod_cfg))
    counts = collections.Counter(t for t, _, _ in objects)
    assert counts == {DEPLOYMENT: 2, "kubernetes:core/v1:ServiceAccount": 2,
                      "kubernetes:policy/v1:PodDisruptionBudget": 2, "kubernetes:core/v1:Service": 1, HPA: 2}
    for inputs in objects.values():
        manifest = {k: inputs[k] for k in ("apiVersion", "kind", "metadata", "spec", "automountServiceAccountToken")
                    if k in inputs}
        kubernetes_validate.validate(manifest, f"{prod_cfg.eks.version}.0", strict=True)


def test_app_and_workers_scale_between_the_release_and_the_ceiling(build_k8s, prod_cfg):
    from stacks.config import AutoscalingConfig

    cfg = _with_release(prod_cfg, app=3, workers=2).model_copy(update={"autoscaling": AutoscalingConfig(
        app_max_replicas=6, worker_max_replicas=5, target_cpu_percent=70, worker_queue_depth_per_pod=20)})
    objects, _ = _workloads(build_k8s, cfg)
    app, worker = objects[(HPA, "app", "app")]["spec"], objects[(HPA, "workers", "worker")]["spec"]
    assert app["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}
    assert (app["minReplicas"], app["maxReplicas"]) == (3, 6)
    assert (worker["minReplicas"], worker["maxReplicas"]) == (2, 5)
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    assert app["metrics"] == [cpu]  # the memo's 70%
    assert worker["metrics"] == [cpu, {"type": "External", "external": {
        "metric": {"name": "queue_depth", "selector": {"matchLabels": {"environment": "prod"}}},
        "target": {"type": "AverageValue", "averageValue": "20"}}}]
    assert objects[(DEPLOYMENT, "app", "app")]["spec"]["replicas"] == 3  # the start; then the autoscaler's


def test_workers_stopped_at_zero_get_no_autoscaler(build_k8s, staging_cfg):
    objects, _ = _workloads(build_k8s, _with_release(staging_cfg, app=2, workers=0))
    assert (HPA, "app", "app") in objects and (HPA, "workers", "worker") not in objects


def test_the_program_adds_workloads_only_with_a_release(staging_cfg, staging_plan):
    from stacks import offline

    assert not staging_plan.by_type("infra:k8s:Workloads")  # today's stack files: unchanged plan
    plan = offline.run(_with_release(staging_cfg))
    [component] = plan.by_type("infra:k8s:Workloads")
    added = collections.Counter(r.type for r in plan.resources) - collections.Counter(
        r.type for r in staging_plan.resources)
    assert added == {"infra:k8s:Workloads": 1, DEPLOYMENT: 2, "kubernetes:core/v1:ServiceAccount": 2,
                     "kubernetes:policy/v1:PodDisruptionBudget": 2, "kubernetes:core/v1:Service": 1, HPA: 2,
                     # and the API's alarms, now that it serves: healthy targets, p50/p95/p99, error rate, four
                     # burn-rate windows paired by two composites, and the uptime check with its alarm
                     "aws:cloudwatch/metricAlarm:MetricAlarm": 10, "aws:cloudwatch/compositeAlarm:CompositeAlarm": 2,
                     "aws:route53/healthCheck:HealthCheck": 1,
                     "aws:iam/role:Role": 2, "aws:iam/rolePolicy:RolePolicy": 2}  # each reads its secrets (IRSA)
    [app_sa] = [r for r in plan.resources if r.type == "kubernetes:core/v1:ServiceAccount"
                and r.inputs["metadata"]["name"] == "app"]
    assert app_sa.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("workloads-app-role")
    assert all(r.parent == component.urn for r in plan.resources  # Temporal's are its own component's
               if r.type == DEPLOYMENT and r.inputs["metadata"]["namespace"] in ("app", "workers"))


SECRETS = SecretAccess(
    oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC",
    oidc_issuer="https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
    secrets_key_arn="arn:aws:kms:us-east-1:123456789012:key/secrets",
    env={"APP_DATABASE_SECRET_ARN": "arn:db-settings", "APP_REDIS_SECRET_ARN": "arn:redis-settings"},
    readable=["arn:db-settings", "arn:redis-settings", "arn:rds-master", "arn:redis-auth"],
)


@pytest.mark.parametrize(("namespace", "component"), [("app", "app"), ("workers", "worker")])
def test_each_workload_reads_exactly_the_app_secrets_through_its_own_role(build_k8s, prod_cfg, namespace, component):
    import json

    cfg = _with_release(prod_cfg)
    plan = build_k8s(cfg, lambda provider: Workloads("wl", WorkloadsArgs(cfg, provider, SECRETS)).app_service_name)
    [role] = [r for r in plan.by_type("aws:iam/role:Role") if r.name == f"wl-{component}-role"]
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Condition"]["StringEquals"] == {
        "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": f"system:serviceaccount:{namespace}:{component}",
        "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com"}
    [policy] = [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == f"wl-{component}-read-secrets"]
    read, decrypt = json.loads(policy.inputs["policy"])["Statement"]
    assert read["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    assert read["Resource"] == sorted(SECRETS.readable)  # no wildcard: these four and nothing else
    assert decrypt == {"Sid": "DecryptThroughSecretsManager", "Effect": "Allow", "Action": "kms:Decrypt",
                       "Resource": SECRETS.secrets_key_arn,
                       "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}}
    objects = {(r.type, r.inputs["metadata"]["name"]): r.inputs for r in plan.resources
               if r.type.startswith("kubernetes:") and "metadata" in r.inputs}
    account = objects[("kubernetes:core/v1:ServiceAccount", component)]
    [annotation] = account["metadata"]["annotations"].items()
    assert annotation[0] == "eks.amazonaws.com/role-arn" and annotation[1].endswith(f":wl-{component}-role")
    assert account["automountServiceAccountToken"] is False
    [container] = objects[(DEPLOYMENT, component)]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["APP_DATABASE_SECRET_ARN"] == "arn:db-settings" and env["APP_REDIS_SECRET_ARN"] == "arn:redis-settings"
    assert env["AWS_REGION"] == "us-east-1"

"""The application release on the cluster: the app (API) and the workers, from one image.

Created only once ``infra:release.image`` is set (``infra deploy``). Both run under Pod Security
``restricted`` (the namespaces enforce it): non-root, RuntimeDefault seccomp, no capabilities, no privilege
escalation, read-only root filesystem (a small ``/tmp`` emptyDir is writable), no service-account token.
Every container has requests and hard limits, readiness and liveness probes; a PodDisruptionBudget keeps
node drains from taking a whole workload down, and replicas spread across availability zones.

The image's contract: ``serve`` listens on ``kubernetes.appPort`` (env ``PORT``), ``worker`` runs the Temporal
workers with a health server on ``HEALTH_PORT``; both answer ``GET /readyz`` (ready for traffic/work) and
``GET /healthz`` (alive). ``ENVIRONMENT`` names the environment; ``APP_DATABASE_SECRET_ARN`` and
``APP_REDIS_SECRET_ARN`` name the connection-settings secrets, which each workload reads with its own IRSA role
(no Kubernetes API token is mounted; EKS projects the web-identity token on its own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.shared import irsa_role, restricted_container, restricted_pod, rolling_deployment
from stacks.config import EnvironmentConfig

meta = k8s.meta.v1
core = k8s.core.v1
apps = k8s.apps.v1
autoscaling = k8s.autoscaling.v2

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
QUEUE_DEPTH_METRIC = "queue_depth"  # external metric the workers scale on, when an adapter serves it
WORKER_HEALTH_PORT = 9090
RUN_AS = 10001
ZONE = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


APP_RESOURCES = Resources("250m", "512Mi", "1", "1Gi")
WORKER_RESOURCES = Resources("500m", "1Gi", "2", "2Gi")


@dataclass(frozen=True)
class SecretAccess:
    """What the pods may read from Secrets Manager, and where they learn of it."""

    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    env: dict[str, pulumi.Input[str]]  # e.g. APP_DATABASE_SECRET_ARN -> the app's connection-settings secret
    readable: list[pulumi.Input[str]]  # those, and the credential secrets they point at


@dataclass(frozen=True)
class WorkloadsArgs:
    config: EnvironmentConfig
    provider: k8s.Provider
    secrets: SecretAccess | None = None  # None: the pods get no AWS identity


class Workloads(pulumi.ComponentResource):
    app_service_name: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:k8s:Workloads", name, None, opts)
        cfg = args.config
        image = cfg.release.image
        if not image:
            raise ValueError("Workloads needs infra:release.image; build it only once a release is deployed")
        kc = cfg.kubernetes
        self._name = name
        self._env = cfg.environment
        self._child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self._secrets = args.secrets
        self._cfg = cfg

        scaling = cfg.autoscaling
        app = self._workload(
            component="app", namespace=kc.app_namespace, image=image, replicas=cfg.release.app_replicas,
            args=["serve"], port=kc.app_port, port_env="PORT", resources=APP_RESOURCES,
            max_replicas=scaling.app_max_replicas,
        )
        service = core.Service(
            f"{name}-app-service",
            metadata=meta.ObjectMetaArgs(name="app", namespace=kc.app_namespace, labels=self._labels("app")),
            # The load balancer (components/edge.py) sends to this NodePort on the nodes; Local keeps its
            # address as the source (the network policy admits the public subnets) and skips nodes without
            # an app pod instead of hopping to another node.
            spec=core.ServiceSpecArgs(
                type="NodePort",
                external_traffic_policy="Local",
                selector=self._selector("app"),
                ports=[core.ServicePortArgs(name="http", port=kc.app_port, target_port="http", protocol="TCP",
                                            node_port=cfg.edge.node_port)],
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[app])),
        )
        self._workload(
            component="worker", namespace=kc.workers_namespace, image=image,
            replicas=cfg.release.worker_replicas, args=["worker"], port=WORKER_HEALTH_PORT, port_env="HEALTH_PORT",
            resources=WORKER_RESOURCES, max_replicas=scaling.worker_max_replicas,
            queue_depth_per_pod=scaling.worker_queue_depth_per_pod,
        )
        self.app_service_name = service.metadata.apply(lambda m: m.name)
        self.register_outputs({"app_service_name": self.app_service_name})

    def _labels(self, component: str) -> dict[str, str]:
        return {**self._selector(component), "app.kubernetes.io/part-of": "platform",
                "app.kubernetes.io/managed-by": "pulumi", "environment": self._env}

    @staticmethod
    def _selector(component: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": component}

    def _workload(self, *, component: str, namespace: str, image: str, replicas: int, args: list[str],
                  port: int, port_env: str, resources: Resources, max_replicas: int,
                  queue_depth_per_pod: int | None = None) -> apps.Deployment:
        labels = self._labels(component)
        role_arn = self._secret_reader(component, namespace) if self._secrets else None
        account = core.ServiceAccount(
            f"{self._name}-{component}-sa",
            metadata=meta.ObjectMetaArgs(name=component, namespace=namespace, labels=labels,
                                         annotations={IRSA_ANNOTATION: role_arn} if role_arn else None),
            automount_service_account_token=False,  # no Kubernetes API token; the IRSA token is projected apart
            opts=self._child,
        )
        secret_env = [core.EnvVarArgs(name=k, value=v) for k, v in sorted((self._secrets.env if self._secrets
                                                                            else {}).items())]
        container = core.ContainerArgs(
            name=component,
            image=image,
            image_pull_policy="IfNotPresent",
            args=args,
            env=[core.EnvVarArgs(name=port_env, value=str(port)),
                 core.EnvVarArgs(name="ENVIRONMENT", value=self._env),
                 core.EnvVarArgs(name="AWS_REGION", value=self._cfg.region), *secret_env],
            ports=[core.ContainerPortArgs(name="http", container_port=port, protocol="TCP")],
            resources=core.ResourceRequirementsArgs(
                requests={"cpu": resources.cpu_request, "memory": resources.memory_request},
                limits={"cpu": resources.cpu_limit, "memory": resources.memory_limit},
            ),
            readiness_probe=core.ProbeArgs(
                http_get=core.HTTPGetActionArgs(path="/readyz", port="http"),
                initial_delay_seconds=5, period_seconds=10, timeout_seconds=2, failure_threshold=3,
            ),
            liveness_probe=core.ProbeArgs(
                http_get=core.HTTPGetActionArgs(path="/healthz", port="http"),
                initial_delay_seconds=15, period_seconds=20, timeout_seconds=2, failure_threshold=3,
            ),
            security_context=restricted_container(),
            volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        metadata = meta.ObjectMetaArgs(name=component, namespace=namespace, labels=labels)
        deployment = rolling_deployment(
            f"{self._name}-{component}", metadata=metadata, selector=self._selector(component), replicas=replicas,
            template_metadata=meta.ObjectMetaArgs(labels=labels),
            pod=core.PodSpecArgs(
                service_account_name=component,
                automount_service_account_token=False,
                security_context=restricted_pod(RUN_AS),
                containers=[container],
                volumes=[core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(
                    medium="Memory", size_limit="64Mi"))],
                termination_grace_period_seconds=30,
                topology_spread_constraints=[core.TopologySpreadConstraintArgs(
                    max_skew=1, topology_key=ZONE, when_unsatisfiable="ScheduleAnyway",
                    label_selector=meta.LabelSelectorArgs(match_labels=self._selector(component)),
                )],
            ),
            # Once created, the autoscaler owns the replica count: an update must not reset it. Zero replicas
            # (the cost circuit breaker's stop) is left alone: an HPA does not scale a target at zero.
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(
                depends_on=[account], ignore_changes=["spec.replicas"] if replicas else None)),
        )
        if replicas:
            self._autoscaler(component, namespace, labels, replicas, max_replicas, queue_depth_per_pod, deployment)
        return deployment

    def _autoscaler(self, component: str, namespace: str, labels: dict[str, str], replicas: int, max_replicas: int,
                    queue_depth_per_pod: int | None, deployment: apps.Deployment) -> None:
        """Scale between the release's replicas and the ceiling on CPU over requests (metrics-server, an EKS
        add-on), and for the workers also on queue depth per pod when configured; the HPA takes the larger."""
        metrics = [autoscaling.MetricSpecArgs(type="Resource", resource=autoscaling.ResourceMetricSourceArgs(
            name="cpu", target=autoscaling.MetricTargetArgs(
                type="Utilization", average_utilization=self._cfg.autoscaling.target_cpu_percent)))]
        if queue_depth_per_pod:
            metrics.append(autoscaling.MetricSpecArgs(type="External", external=autoscaling.ExternalMetricSourceArgs(
                metric=autoscaling.MetricIdentifierArgs(
                    name=QUEUE_DEPTH_METRIC, selector=meta.LabelSelectorArgs(match_labels={"environment": self._env})),
                target=autoscaling.MetricTargetArgs(type="AverageValue", average_value=str(queue_depth_per_pod)))))
        autoscaling.HorizontalPodAutoscaler(
            f"{self._name}-{component}-hpa",
            metadata=meta.ObjectMetaArgs(name=component, namespace=namespace, labels=labels),
            spec=autoscaling.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=autoscaling.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=component),
                min_replicas=replicas,
                max_replicas=max_replicas,
                metrics=metrics,
                # Up at once on load; down one pod per minute after 5 calm minutes, so a dip does not flap.
                behavior=autoscaling.HorizontalPodAutoscalerBehaviorArgs(
                    scale_down=autoscaling.HPAScalingRulesArgs(
                        stabilization_window_seconds=300,
                        policies=[autoscaling.HPAScalingPolicyArgs(type="Pods", value=1, period_seconds=60)])),
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[deployment])),
        )

    def _secret_reader(self, component: str, namespace: str) -> pulumi.Output[str]:
        """An IAM role only this service account can assume (IRSA), allowed to read exactly the app's secrets
        and to decrypt them through Secrets Manager, nothing else."""
        access, cfg = self._secrets, self._cfg
        assert access is not None
        return irsa_role(
            f"{self._name}-{component}", cfg, slug=component, provider_arn=access.oidc_provider_arn,
            issuer=access.oidc_issuer, namespace=namespace, service_account=component,
            policy=pulumi.Output.all(access.secrets_key_arn, *access.readable).apply(
                lambda v: _read_secrets_policy(v[0], v[1:], cfg.region)),
            parent=self, policy_suffix="read-secrets",
        )


def _read_secrets_policy(key_arn: str, secret_arns: list[str], region: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadTheAppSecrets", "Effect": "Allow",
             "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
             "Resource": sorted(set(secret_arns))},
            {"Sid": "DecryptThroughSecretsManager", "Effect": "Allow", "Action": "kms:Decrypt",
             "Resource": key_arn,
             "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}},
        ],
    })

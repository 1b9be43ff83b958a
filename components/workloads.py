"""The application release on the cluster: the app (API) and the workers, from one image.

Created only once ``infra:release.image`` is set (``infra deploy``). Both run under Pod Security
``restricted`` (the namespaces enforce it): non-root, RuntimeDefault seccomp, no capabilities, no privilege
escalation, read-only root filesystem (a small ``/tmp`` emptyDir is writable), no service-account token.
Every container has requests and hard limits, readiness and liveness probes; a PodDisruptionBudget keeps
node drains from taking a whole workload down, and replicas spread across availability zones.

The image's contract: ``serve`` listens on ``kubernetes.appPort`` (env ``PORT``), ``worker`` runs the Temporal
workers with a health server on ``HEALTH_PORT``; both answer ``GET /readyz`` (ready for traffic/work) and
``GET /healthz`` (alive). ``ENVIRONMENT`` names the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from stacks.config import EnvironmentConfig

meta = k8s.meta.v1
core = k8s.core.v1
apps = k8s.apps.v1
policy = k8s.policy.v1

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
class WorkloadsArgs:
    config: EnvironmentConfig
    provider: k8s.Provider


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

        app = self._workload(
            component="app", namespace=kc.app_namespace, image=image, replicas=cfg.release.app_replicas,
            args=["serve"], port=kc.app_port, port_env="PORT", resources=APP_RESOURCES,
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
            resources=WORKER_RESOURCES,
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
                  port: int, port_env: str, resources: Resources) -> apps.Deployment:
        labels = self._labels(component)
        account = core.ServiceAccount(
            f"{self._name}-{component}-sa",
            metadata=meta.ObjectMetaArgs(name=component, namespace=namespace, labels=labels),
            automount_service_account_token=False,
            opts=self._child,
        )
        container = core.ContainerArgs(
            name=component,
            image=image,
            image_pull_policy="IfNotPresent",
            args=args,
            env=[core.EnvVarArgs(name=port_env, value=str(port)),
                 core.EnvVarArgs(name="ENVIRONMENT", value=self._env)],
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
            security_context=core.SecurityContextArgs(
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                run_as_non_root=True,
                capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        deployment = apps.Deployment(
            f"{self._name}-{component}",
            metadata=meta.ObjectMetaArgs(name=component, namespace=namespace, labels=labels),
            spec=apps.DeploymentSpecArgs(
                replicas=replicas,
                revision_history_limit=10,
                selector=meta.LabelSelectorArgs(match_labels=self._selector(component)),
                strategy=apps.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=apps.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                ),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=labels),
                    spec=core.PodSpecArgs(
                        service_account_name=component,
                        automount_service_account_token=False,
                        security_context=core.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS, fs_group=RUN_AS,
                            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[container],
                        volumes=[core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(
                            medium="Memory", size_limit="64Mi"))],
                        termination_grace_period_seconds=30,
                        topology_spread_constraints=[core.TopologySpreadConstraintArgs(
                            max_skew=1, topology_key=ZONE, when_unsatisfiable="ScheduleAnyway",
                            label_selector=meta.LabelSelectorArgs(match_labels=self._selector(component)),
                        )],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[account])),
        )
        policy.PodDisruptionBudget(
            f"{self._name}-{component}-pdb",
            metadata=meta.ObjectMetaArgs(name=component, namespace=namespace, labels=labels),
            spec=policy.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=meta.LabelSelectorArgs(match_labels=self._selector(component)),
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[deployment])),
        )
        return deployment

"""Temporal on the cluster: frontend, history, matching and internal-worker services and the Web UI, persisted in
the environment's RDS PostgreSQL (databases ``temporal`` and ``temporal_visibility``).

Plain Kubernetes objects rather than a Helm release, so every one is in the offline plan and under the
guardrails (quota fit, schema validation, Pod Security ``restricted``).

* **Credentials**: none are stored anywhere. The servers log in as the database user ``temporal`` with RDS IAM
  authentication (Temporal's ``rds-iam-auth`` plugin signs a 15-minute token for each new connection with the
  pod's IRSA role, which may ``rds-db:connect`` as that one user). The schema job reads the AWS-managed master
  password from Secrets Manager into its own memory (an in-memory volume of that pod) to create the user and
  the databases, then migrates as ``temporal`` with a token. Nothing reaches Pulumi config, state or a
  Kubernetes Secret.
* **TLS to RDS**: every connection is ``verify-full`` against the RDS CA bundle of the region (fetched by an
  init container from AWS's trust store, over HTTPS); the parameter group refuses anything unencrypted.
* **Order**: the servers depend on the schema job, and Pulumi waits for the job to complete: a failed schema
  step fails the update before any server rolls, its log tail in the job's termination message.
* **Health**: readiness by the gRPC health service of each server (Kubernetes ``grpc`` probes); a startup probe
  whose budget covers membership join and shard acquisition; liveness only checks the port is open, and
  only once the startup probe passed, so a slow starter is never killed (the memo's incident).
* **Dynamic config**: a ConfigMap the servers poll; ``frontend.namespaceRPS`` per Temporal namespace comes from
  ``infra:temporal.namespaceRps`` (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.namespace_limits import cpu_quantity, memory_quantity
from components.shared import irsa_role, restricted_container, restricted_pod, rolling_deployment
from components.workloads import IRSA_ANNOTATION, ZONE, _read_secrets_policy
from stacks.config import TEMPORAL_SERVERS, EnvironmentConfig, TemporalServiceConfig, temporal_deployment

meta = k8s.meta.v1
core = k8s.core.v1
apps = k8s.apps.v1
batch = k8s.batch.v1

RUN_AS = 1000  # the `temporal` user of Temporal's images
DB_USER = "temporal"
DATABASES = {"temporal": "temporal", "visibility": "temporal_visibility"}  # schema directory -> database
SQL_PLUGIN = "postgres12"
COMPONENT_LABEL = "app.kubernetes.io/component"
# service -> (membership port, the service its gRPC health check names). The frontend reports its workflow API
# (NOT_SERVING until it can serve it); history, matching and the worker answer only for the server as a whole
# (""), as a real Temporal server does (tests/components/test_temporal_health.py). The frontend's gRPC port is
# infra:kubernetes.temporalPort; the others are Temporal's defaults.
SERVICES: dict[str, tuple[int, str]] = dict(zip(TEMPORAL_SERVERS, (
    (6933, "temporal.api.workflowservice.v1.WorkflowService"),
    (6934, ""),
    (6935, ""),
    (6939, ""),
), strict=True))
GRPC_PORTS = {"history": 7234, "matching": 7235, "worker": 7239}
UI_PORT = 8080
CONFIG_DIR = "/etc/temporal/platform"
DYNAMIC_CONFIG_DIR = "/etc/temporal/dynamicconfig"
RDS_CA = "/run/rds-ca/ca.pem"
CREDENTIALS_DIR = "/run/credentials"
# Startup: up to 30 x 10 s for membership join and shard acquisition before the first check may fail it.
STARTUP_PERIOD_SECONDS, STARTUP_FAILURES = 10, 30
SCHEMA_TIMEOUT_SECONDS = 900


def grpc_ports(frontend_port: int) -> dict[str, int]:
    return {"frontend": frontend_port, **GRPC_PORTS}


deployment_name = temporal_deployment


@dataclass(frozen=True)
class TemporalArgs:
    config: EnvironmentConfig
    provider: k8s.Provider
    database_address: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_arn: pulumi.Input[str]  # the instance's ARN: partition, region and account of its rds-db ARN
    database_resource_id: pulumi.Input[str]  # db-XXXX, what `rds-db:connect` names
    master_secret_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]


class Temporal(pulumi.ComponentResource):
    frontend_address: pulumi.Output[str]
    history_shards: pulumi.Output[int]

    def __init__(self, name: str, args: TemporalArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:k8s:Temporal", name, None, opts)
        cfg = args.config
        self._name, self._cfg, self._args = name, cfg, args
        self._ns = cfg.kubernetes.temporal_namespace
        self._tc = cfg.temporal
        self._child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self._ports = grpc_ports(cfg.kubernetes.temporal_port)
        self.frontend_host = f"{deployment_name('frontend')}.{self._ns}.svc.cluster.local"

        connect_user = _rds_db_user_arn(args.database_arn, args.database_resource_id, DB_USER)
        server_sa = self._service_account("temporal-server", self._role("server", "temporal-server", pulumi.Output.all(
            connect_user).apply(lambda v: _connect_policy(v[0]))))
        schema_sa = self._service_account("temporal-schema", self._role(
            "schema", "temporal-schema", pulumi.Output.all(args.secrets_key_arn, args.master_secret_arn, connect_user)
            .apply(lambda v: _schema_policy(v[0], v[1], v[2], cfg.region))))
        ui_sa = self._service_account("temporal-web", None)

        server_config = pulumi.Output.all(args.database_address, args.database_port).apply(
            lambda v: render_server_config(cfg, v[0], int(v[1]), self.frontend_host))
        config_map = self._config_map("temporal-config", server_config.apply(lambda text: {"production.yaml": text}))
        dynamic = self._config_map("temporal-dynamic-config", {"dynamicconfig.yaml": render_dynamic_config(cfg)})
        schema = self._schema_job(schema_sa, args)

        ready_first = [schema, config_map, dynamic, server_sa]
        checksum = server_config.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())
        frontend = None
        for service in SERVICES:
            deployment = self._server(service, checksum, ready_first)
            frontend = frontend or deployment
            self._headless_service(service, deployment)
        self._frontend_service(frontend)
        self._ui(ui_sa, frontend)

        self.frontend_address = pulumi.Output.from_input(f"{self.frontend_host}:{self._ports['frontend']}")
        self.history_shards = pulumi.Output.from_input(self._tc.num_history_shards)
        self.register_outputs({"frontend_address": self.frontend_address, "history_shards": self.history_shards})

    # identity

    def _role(self, slug: str, service_account: str, policy_doc: pulumi.Output[str]) -> pulumi.Output[str]:
        args = self._args
        return irsa_role(f"{self._name}-{slug}", self._cfg, slug=f"temporal-{slug}",
                         provider_arn=args.oidc_provider_arn, issuer=args.oidc_issuer, namespace=self._ns,
                         service_account=service_account, policy=policy_doc, parent=self)

    def _service_account(self, account: str, role_arn: pulumi.Output[str] | None) -> core.ServiceAccount:
        return core.ServiceAccount(
            f"{self._name}-{account}-sa",
            metadata=meta.ObjectMetaArgs(name=account, namespace=self._ns, labels=self._labels("identity"),
                                         annotations={IRSA_ANNOTATION: role_arn} if role_arn else None),
            automount_service_account_token=False,  # no Kubernetes API token; the IRSA token is projected apart
            opts=self._child,
        )

    def _config_map(self, name: str, data) -> core.ConfigMap:
        return core.ConfigMap(
            f"{self._name}-{name}",
            metadata=meta.ObjectMetaArgs(name=name, namespace=self._ns, labels=self._labels("config")),
            data=data,
            opts=self._child,
        )

    # schema

    def _schema_job(self, account: core.ServiceAccount, args: TemporalArgs) -> batch.Job:
        version = self._tc.server_version
        scripts = self._config_map("temporal-schema-scripts", {
            "credentials.sh": CREDENTIALS_SCRIPT, "bootstrap.sql": bootstrap_sql(), "schema.sh": SCHEMA_SCRIPT})
        env = [core.EnvVarArgs(name="SQL_HOST", value=args.database_address),
               core.EnvVarArgs(name="SQL_PORT", value=pulumi.Output.from_input(args.database_port).apply(str)),
               core.EnvVarArgs(name="SQL_USER", value=DB_USER),
               core.EnvVarArgs(name="AWS_REGION", value=self._cfg.region),
               core.EnvVarArgs(name="HOME", value="/tmp")]
        small = TemporalServiceConfig(replicas=1, cpu=0.1, cpu_limit=0.5, memory_gb=0.25)
        mounts = [core.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                  core.VolumeMountArgs(name="rds-ca", mount_path="/run/rds-ca"),
                  core.VolumeMountArgs(name="credentials", mount_path=CREDENTIALS_DIR),
                  core.VolumeMountArgs(name="scripts", mount_path="/etc/temporal-schema", read_only=True)]
        containers = [
            self._container("rds-ca", self._tc.admin_tools_image, ["sh", "-c", fetch_ca_command(self._cfg.region)],
                            small, mounts=mounts[:2]),
            self._container("credentials", self._tc.aws_cli_image, ["sh", "/etc/temporal-schema/credentials.sh"],
                            small, env=[*env, core.EnvVarArgs(name="MASTER_SECRET_ARN", value=args.master_secret_arn)],
                            mounts=mounts),
            self._container("schema", self._tc.admin_tools_image, ["bash", "/etc/temporal-schema/schema.sh"], small,
                            env=env, mounts=mounts),
        ]
        return batch.Job(
            f"{self._name}-schema",
            # One job per server version: a new version migrates once, before its servers roll.
            metadata=meta.ObjectMetaArgs(name=f"temporal-schema-{version.replace('.', '-')}", namespace=self._ns,
                                         labels=self._labels("schema"),
                                         annotations={
                                             # Pulumi waits for the job to complete, fails at once if it fails;
                                             # after a failure the next `up` runs it again instead of waiting on it
                                             "pulumi.com/timeoutSeconds": str(SCHEMA_TIMEOUT_SECONDS),
                                             "pulumi.com/replaceUnready": "true"}),
            spec=batch.JobSpecArgs(
                backoff_limit=2,
                active_deadline_seconds=SCHEMA_TIMEOUT_SECONDS,
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=self._labels("schema")),
                    spec=self._pod_spec(
                        "temporal-schema", init_containers=containers[:2], containers=containers[2:],
                        volumes=[_memory_volume("credentials", "1Mi"), _disk_volume("rds-ca"),
                                 core.VolumeArgs(name="scripts", config_map=core.ConfigMapVolumeSourceArgs(
                                     name="temporal-schema-scripts"))],
                        restart_policy="Never",
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(
                depends_on=[account, scripts], delete_before_replace=True)),
        )

    # servers

    def _server(self, service: str, checksum: pulumi.Output[str], ready_first: list) -> apps.Deployment:
        sizing: TemporalServiceConfig = getattr(self._tc, service)
        membership, health = SERVICES[service]
        grpc_port = self._ports[service]
        check = core.GRPCActionArgs(port=grpc_port, service=health or None)
        tcp = core.TCPSocketActionArgs(port="grpc")
        container = self._container(
            service, self._tc.server_image,
            ["temporal-server", "--root", "/etc/temporal", "--config", CONFIG_DIR.rsplit("/", 1)[1],
             "--env", "production", "start", "--service", service],
            sizing,
            env=[core.EnvVarArgs(name="POD_IP", value_from=core.EnvVarSourceArgs(
                     field_ref=core.ObjectFieldSelectorArgs(field_path="status.podIP"))),
                 core.EnvVarArgs(name="AWS_REGION", value=self._cfg.region),
                 core.EnvVarArgs(name="TEMPORAL_ALLOW_NO_AUTH", value="true")],  # clients: network policy, docs
            mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                    core.VolumeMountArgs(name="rds-ca", mount_path="/run/rds-ca", read_only=True),
                    core.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                    core.VolumeMountArgs(name="dynamic-config", mount_path=DYNAMIC_CONFIG_DIR, read_only=True)],
            ports=[core.ContainerPortArgs(name="grpc", container_port=grpc_port, protocol="TCP"),
                   core.ContainerPortArgs(name="membership", container_port=membership, protocol="TCP")],
            startup_probe=core.ProbeArgs(grpc=check, period_seconds=STARTUP_PERIOD_SECONDS, timeout_seconds=5,
                                         failure_threshold=STARTUP_FAILURES),
            readiness_probe=core.ProbeArgs(grpc=check, period_seconds=10, timeout_seconds=5, failure_threshold=3),
            # Only the port: a server that is up but not serving (its database away) must not be restarted
            # into a crash loop; readiness takes it out of the Service instead.
            liveness_probe=core.ProbeArgs(tcp_socket=tcp, period_seconds=20, timeout_seconds=5, failure_threshold=6),
        )
        ca = self._container("rds-ca", self._tc.admin_tools_image, ["sh", "-c", fetch_ca_command(self._cfg.region)],
                             TemporalServiceConfig(replicas=1, cpu=0.05, cpu_limit=0.25, memory_gb=0.125),
                             mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                                     core.VolumeMountArgs(name="rds-ca", mount_path="/run/rds-ca")])
        pod = self._pod_spec(
            "temporal-server", init_containers=[ca], containers=[container],
            volumes=[_disk_volume("rds-ca"),
                     core.VolumeArgs(name="config", config_map=core.ConfigMapVolumeSourceArgs(name="temporal-config")),
                     core.VolumeArgs(name="dynamic-config", config_map=core.ConfigMapVolumeSourceArgs(
                         name="temporal-dynamic-config"))],
            spread=service,
        )
        return self._deployment(service, sizing.replicas, pod, ready_first,
                                annotations=checksum.apply(lambda c: {"platform/config-sha256": c}))

    def _deployment(self, service: str, replicas: int, pod: core.PodSpecArgs, depends_on: list,
                    annotations=None) -> apps.Deployment:
        metadata = meta.ObjectMetaArgs(name=deployment_name(service), namespace=self._ns,
                                       labels=self._labels(service))
        deployment = rolling_deployment(
            f"{self._name}-{service}", metadata=metadata, selector=self._selector(service), replicas=replicas,
            template_metadata=meta.ObjectMetaArgs(labels=self._labels(service), annotations=annotations), pod=pod,
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=depends_on)),
        )
        return deployment

    def _headless_service(self, service: str, deployment: apps.Deployment) -> None:
        """Each server's pods by name, on its gRPC and membership ports (peers find each other through the
        membership table in the database; this names them for operators and metrics)."""
        core.Service(
            f"{self._name}-{service}-headless",
            metadata=meta.ObjectMetaArgs(name=f"{deployment_name(service)}-headless", namespace=self._ns,
                                         labels=self._labels(service)),
            spec=core.ServiceSpecArgs(
                cluster_ip="None", publish_not_ready_addresses=True, selector=self._selector(service),
                ports=[core.ServicePortArgs(name="grpc", port=self._ports[service], target_port="grpc", protocol="TCP"),
                       core.ServicePortArgs(name="membership", port=SERVICES[service][0], target_port="membership",
                                            protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[deployment])),
        )

    def _frontend_service(self, frontend: apps.Deployment) -> None:
        core.Service(
            f"{self._name}-frontend-service",
            metadata=meta.ObjectMetaArgs(name=deployment_name("frontend"), namespace=self._ns,
                                         labels=self._labels("frontend")),
            spec=core.ServiceSpecArgs(
                type="ClusterIP", selector=self._selector("frontend"),
                ports=[core.ServicePortArgs(name="grpc", port=self._ports["frontend"], target_port="grpc",
                                            protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[frontend])),
        )

    def _ui(self, account: core.ServiceAccount, frontend: apps.Deployment) -> None:
        """The Web UI: a ClusterIP Service only (`kubectl -n temporal port-forward svc/temporal-web 8080`)."""
        tcp = core.TCPSocketActionArgs(port="http")
        container = self._container(
            "web", self._tc.ui_image, None, self._tc.ui,
            env=[core.EnvVarArgs(name="TEMPORAL_ADDRESS", value=f"{self.frontend_host}:{self._ports['frontend']}"),
                 core.EnvVarArgs(name="TEMPORAL_UI_PORT", value=str(UI_PORT))],
            mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],
            ports=[core.ContainerPortArgs(name="http", container_port=UI_PORT, protocol="TCP")],
            readiness_probe=core.ProbeArgs(tcp_socket=tcp, period_seconds=10, timeout_seconds=2, failure_threshold=3),
            liveness_probe=core.ProbeArgs(tcp_socket=tcp, initial_delay_seconds=20, period_seconds=20,
                                          timeout_seconds=2, failure_threshold=3),
            # the UI server writes its rendered config next to itself at start
            read_only_root=False,
        )
        deployment = self._deployment("web", self._tc.ui.replicas,
                                      self._pod_spec("temporal-web", containers=[container], spread="web"),
                                      [account, frontend])
        core.Service(
            f"{self._name}-web-service",
            metadata=meta.ObjectMetaArgs(name=deployment_name("web"), namespace=self._ns, labels=self._labels("web")),
            spec=core.ServiceSpecArgs(
                type="ClusterIP", selector=self._selector("web"),
                ports=[core.ServicePortArgs(name="http", port=UI_PORT, target_port="http", protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(depends_on=[deployment])),
        )

    # pod building blocks

    def _labels(self, component: str) -> dict[str, str]:
        return {**self._selector(component), "app.kubernetes.io/part-of": "platform",
                "app.kubernetes.io/version": self._tc.server_version,
                "app.kubernetes.io/managed-by": "pulumi", "environment": self._cfg.environment}

    @staticmethod
    def _selector(component: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": "temporal", COMPONENT_LABEL: component}

    @staticmethod
    def _container(name: str, image: str, command: list[str] | None, sizing: TemporalServiceConfig, *,
                   env: list | None = None, mounts: list | None = None, ports: list | None = None,
                   read_only_root: bool = True, **probes) -> core.ContainerArgs:
        memory = memory_quantity(sizing.memory_gb)
        return core.ContainerArgs(
            name=name,
            image=image,
            image_pull_policy="IfNotPresent",
            command=command,
            env=env,
            ports=ports,
            resources=core.ResourceRequirementsArgs(
                requests={"cpu": cpu_quantity(sizing.cpu), "memory": memory},
                limits={"cpu": cpu_quantity(sizing.cpu_limit), "memory": memory},
            ),
            security_context=restricted_container(read_only_root=read_only_root),
            # a failed step's last log lines become its termination message: Pulumi and `kubectl describe` show them
            termination_message_policy="FallbackToLogsOnError",
            volume_mounts=mounts,
            **probes,
        )

    def _pod_spec(self, account: str, *, containers: list, init_containers: list | None = None,
                  volumes: list | None = None, restart_policy: str | None = None,
                  spread: str | None = None) -> core.PodSpecArgs:
        return core.PodSpecArgs(
            service_account_name=account,
            automount_service_account_token=False,
            security_context=restricted_pod(RUN_AS),
            init_containers=init_containers,
            containers=containers,
            volumes=[_memory_volume("tmp", "64Mi"), *(volumes or [])],
            restart_policy=restart_policy,
            termination_grace_period_seconds=60,
            topology_spread_constraints=[core.TopologySpreadConstraintArgs(
                max_skew=1, topology_key=ZONE, when_unsatisfiable="ScheduleAnyway",
                label_selector=meta.LabelSelectorArgs(match_labels=self._selector(spread)),
            )] if spread else None,
        )


def _memory_volume(name: str, size: str) -> core.VolumeArgs:
    return core.VolumeArgs(name=name, empty_dir=core.EmptyDirVolumeSourceArgs(medium="Memory", size_limit=size))


def _disk_volume(name: str) -> core.VolumeArgs:
    return core.VolumeArgs(name=name, empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="1Mi"))


# --- what the pods receive --------------------------------------------------------------------------------


def render_server_config(cfg: EnvironmentConfig, address: str, port: int, frontend_host: str) -> str:
    """The servers' configuration file. ``enable-template``: Temporal renders ``{{ env "POD_IP" }}`` at start,
    so each pod announces its own address to the membership ring."""
    ports = grpc_ports(cfg.kubernetes.temporal_port)

    def sql(database: str) -> dict:
        return {"sql": {
            "pluginName": SQL_PLUGIN, "databaseName": database, "connectAddr": f"{address}:{port}",
            "connectProtocol": "tcp", "user": DB_USER,
            "authPlugin": {"plugin": "rds-iam-auth", "timeout": "10s"},  # a token per connection, no password
            "maxConns": 20, "maxIdleConns": 20, "maxConnLifetime": "10m",
            "tls": {"enabled": True, "caFile": RDS_CA, "enableHostVerification": True, "serverName": address},
        }}

    doc = {
        "log": {"stdout": True, "level": "info"},
        "persistence": {
            "numHistoryShards": cfg.temporal.num_history_shards,
            "defaultStore": "default", "visibilityStore": "visibility",
            "datastores": {"default": sql(DATABASES["temporal"]), "visibility": sql(DATABASES["visibility"])},
        },
        "global": {"membership": {"maxJoinDuration": "30s", "broadcastAddress": '{{ env "POD_IP" }}'}},
        "services": {service: {"rpc": {"grpcPort": ports[service], "membershipPort": SERVICES[service][0],
                                       "bindOnIP": "0.0.0.0"}} for service in SERVICES},
        "clusterMetadata": {
            "enableGlobalNamespace": False, "failoverVersionIncrement": 10,
            "masterClusterName": "active", "currentClusterName": "active",
            "clusterInformation": {"active": {"enabled": True, "initialFailoverVersion": 1, "rpcName": "frontend",
                                              "rpcAddress": f"{frontend_host}:{ports['frontend']}"}},
        },
        "dcRedirectionPolicy": {"policy": "noop"},
        "archival": {"history": {"state": "disabled"}, "visibility": {"state": "disabled"}},
        "namespaceDefaults": {"archival": {"history": {"state": "disabled"}, "visibility": {"state": "disabled"}}},
        "publicClient": {"hostPort": f"{frontend_host}:{ports['frontend']}"},
        "dynamicConfigClient": {"filepath": f"{DYNAMIC_CONFIG_DIR}/dynamicconfig.yaml", "pollInterval": "60s"},
    }
    return "# enable-template\n" + yaml.safe_dump(doc, sort_keys=False)


def render_dynamic_config(cfg: EnvironmentConfig) -> str:
    """Dynamic config: settings the servers re-read every minute. ``frontend.namespaceRPS``: one constraint per
    Temporal namespace from ``infra:temporal.namespaceRps`` (the tenant tiers), then the default for the rest."""
    tc = cfg.temporal
    rps = [{"value": value, "constraints": {"namespace": namespace}}
           for namespace, value in sorted(tc.namespace_rps.items())]
    doc = {"frontend.namespaceRPS": [*rps, {"value": tc.default_namespace_rps}]}
    return "# Written by the stack (infra:temporal); edits here are overwritten. See docs/operations.md.\n" + \
        yaml.safe_dump(doc, sort_keys=False)


def fetch_ca_command(region: str) -> str:
    bundle = f"https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"
    return f"curl -fsS --retry 5 --retry-all-errors --max-time 30 -o {RDS_CA} {bundle}"


CREDENTIALS_SCRIPT = f"""\
# The schema job's credentials, into this pod's memory only: the master user's (AWS-managed, read from
# Secrets Manager) to create the user and databases, and a 15-minute RDS IAM token for `temporal`.
set -eu
umask 077
aws secretsmanager get-secret-value --secret-id "$MASTER_SECRET_ARN" --query SecretString --output text \\
  > {CREDENTIALS_DIR}/master.json
aws rds generate-db-auth-token --hostname "$SQL_HOST" --port "$SQL_PORT" --username "$SQL_USER" \\
  > {CREDENTIALS_DIR}/token
echo "credentials: ready"
"""


def bootstrap_sql() -> str:
    """Idempotent: the IAM-authenticated user and the two databases it owns, created when missing."""
    names = ", ".join(f"'{d}'" for d in DATABASES.values())
    return f"""\
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DB_USER}') THEN CREATE ROLE {DB_USER} LOGIN; END IF;
END $$;
GRANT rds_iam TO {DB_USER};
GRANT {DB_USER} TO CURRENT_USER;
SELECT format('CREATE DATABASE %I OWNER {DB_USER}', d) FROM unnest(ARRAY[{names}]) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d)\\gexec
"""


_STORES = " ".join(f"{directory}:{database}" for directory, database in DATABASES.items())
SCHEMA_SCRIPT = f"""\
# Temporal's schema, idempotently: create what is missing, then update to the version this admin-tools
# image ships (the servers' version). Any failure exits non-zero: the job fails and the servers do not roll.
set -euo pipefail
export PGHOST="$SQL_HOST" PGPORT="$SQL_PORT" PGSSLMODE=verify-full PGSSLROOTCERT={RDS_CA} PGCONNECT_TIMEOUT=10
echo "schema: user {DB_USER} and databases on $SQL_HOST"
PGUSER="$(jq -r .username {CREDENTIALS_DIR}/master.json)" \\
PGPASSWORD="$(jq -r .password {CREDENTIALS_DIR}/master.json)" \\
  psql -d postgres -v ON_ERROR_STOP=1 -q -f /etc/temporal-schema/bootstrap.sql
export SQL_PLUGIN={SQL_PLUGIN} SQL_TLS=true SQL_TLS_CA_FILE={RDS_CA}
SQL_PASSWORD="$(cat {CREDENTIALS_DIR}/token)"  # an RDS IAM token for $SQL_USER, not a password
export SQL_PASSWORD
for store in {_STORES}; do
  directory="${{store%%:*}}" database="${{store#*:}}"
  exists="$(PGUSER="$SQL_USER" PGPASSWORD="$SQL_PASSWORD" \\
    psql -d "$database" -tAc "SELECT to_regclass('public.schema_version')")"
  if [ -z "$exists" ]; then
    echo "schema: $database is new: setting up versioning"
    SQL_DATABASE="$database" temporal-sql-tool setup-schema -v 0.0
  fi
  echo "schema: $database: updating to this release's version"
  SQL_DATABASE="$database" temporal-sql-tool update-schema -d "/etc/temporal/schema/postgresql/v12/$directory/versioned"
done
echo "schema: done"
"""


# --- IAM ---------------------------------------------------------------------------------------------------


def _rds_db_user_arn(instance_arn: pulumi.Input[str], resource_id: pulumi.Input[str], user: str) -> pulumi.Output[str]:
    def arn(v: list) -> str:
        partition, region, account = v[0].split(":")[1], v[0].split(":")[3], v[0].split(":")[4]
        return f"arn:{partition}:rds-db:{region}:{account}:dbuser:{v[1]}/{user}"

    return pulumi.Output.all(instance_arn, resource_id).apply(arn)


def _connect_policy(user_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ConnectAsTemporal", "Effect": "Allow", "Action": "rds-db:connect", "Resource": user_arn}]})


def _schema_policy(key_arn: str, master_secret_arn: str, user_arn: str, region: str) -> str:
    doc = json.loads(_read_secrets_policy(key_arn, [master_secret_arn], region))
    doc["Statement"][0]["Sid"] = "ReadTheMasterSecret"
    doc["Statement"].append(json.loads(_connect_policy(user_arn))["Statement"][0])
    return json.dumps(doc)

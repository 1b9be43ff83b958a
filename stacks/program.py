"""One environment, composed. Run by the Pulumi engine (``stacks/__main__.py``) and, unchanged, by
``infra plan`` under the mock engine: the plan is this program, not a description of it."""

from __future__ import annotations

import pulumi

from components.alarms import Alarms, AlarmsArgs
from components.app_secrets import ApplicationSecrets, ApplicationSecretsArgs
from components.budget_alerts import BudgetAlerts, BudgetAlertsArgs
from components.dashboard import Dashboard, DashboardArgs
from components.edge import EdgeArgs, PublicEndpoint
from components.eks_cluster import EksCluster, EksClusterArgs
from components.encryption_keys import EncryptionKeys, EncryptionKeysArgs
from components.namespace_limits import NamespaceLimits, NamespaceLimitsArgs
from components.network import Network, NetworkArgs
from components.network_policies import NetworkPolicies, NetworkPoliciesArgs
from components.postgres import PostgresDatabase, PostgresDatabaseArgs
from components.redis import RedisCache, RedisCacheArgs
from components.temporal import Temporal, TemporalArgs
from components.tenant_dumps import TenantDumps, TenantDumpsArgs
from components.workloads import SecretAccess, Workloads, WorkloadsArgs
from stacks.config import EnvironmentConfig


def build(cfg: EnvironmentConfig) -> dict[str, pulumi.Output]:
    """Create every component of the environment and return the stack outputs."""
    prefix = cfg.name_prefix
    keys = EncryptionKeys(f"{prefix}-keys", EncryptionKeysArgs(config=cfg))
    network = Network(f"{prefix}-network", NetworkArgs(config=cfg, logs_key_arn=keys.logs_key_arn))
    eks = EksCluster(f"{prefix}-eks", EksClusterArgs(
        config=cfg,
        private_subnet_ids=network.private_subnet_ids,
        secrets_key_arn=keys.eks_key_arn,
        logs_key_arn=keys.logs_key_arn,
    ))
    postgres = PostgresDatabase(f"{prefix}-postgres", PostgresDatabaseArgs(
        config=cfg,
        vpc_id=network.vpc_id,
        subnet_group_name=network.database_subnet_group_name,
        node_security_group_id=eks.cluster_security_group_id,
        data_key_arn=keys.data_key_arn,
        secrets_key_arn=keys.secrets_key_arn,
    ))
    redis = RedisCache(f"{prefix}-redis", RedisCacheArgs(
        config=cfg,
        vpc_id=network.vpc_id,
        subnet_group_name=network.cache_subnet_group_name,
        node_security_group_id=eks.cluster_security_group_id,
        data_key_arn=keys.data_key_arn,
        secrets_key_arn=keys.secrets_key_arn,
    ))
    app_secrets = ApplicationSecrets(f"{prefix}-app-secrets", ApplicationSecretsArgs(
        config=cfg,
        secrets_key_arn=keys.secrets_key_arn,
        database_address=postgres.address,
        database_port=postgres.port,
        database_master_secret_arn=postgres.master_user_secret_arn,
        redis_endpoint=redis.primary_endpoint,
        redis_port=redis.port,
        redis_auth_secret_arn=redis.auth_secret_arn,
    ))
    # where `infra tenant offboard` writes; only an environment with tenants has one
    dumps = TenantDumps(f"{prefix}-tenant-dumps", TenantDumpsArgs(config=cfg, data_key_arn=keys.data_key_arn)) \
        if cfg.tenancy else None
    edge = PublicEndpoint(f"{prefix}-edge", EdgeArgs(
        config=cfg,
        vpc_id=network.vpc_id,
        public_subnet_ids=network.public_subnet_ids,
        node_security_group_id=eks.cluster_security_group_id,
        node_group_asg_names=eks.node_group_asg_names,
        logs_key_arn=keys.logs_key_arn,
    ))
    netpol = NetworkPolicies(f"{prefix}-netpol", NetworkPoliciesArgs(config=cfg, provider=eks.provider))
    limits = NamespaceLimits(f"{prefix}-limits", NamespaceLimitsArgs(config=cfg, provider=eks.provider),
                             opts=pulumi.ResourceOptions(depends_on=[netpol]))  # netpol creates the namespaces
    temporal = Temporal(f"{prefix}-temporal", TemporalArgs(
        config=cfg,
        provider=eks.provider,
        database_address=postgres.address,
        database_port=postgres.port,
        database_arn=postgres.arn,
        database_resource_id=postgres.resource_id,
        master_secret_arn=postgres.master_user_secret_arn,
        secrets_key_arn=keys.secrets_key_arn,
        oidc_provider_arn=eks.cluster_oidc_provider_arn,
        oidc_issuer=eks.oidc_issuer,
    ), opts=pulumi.ResourceOptions(depends_on=[netpol, limits]))
    if cfg.release.image:  # the application, once `infra deploy` has set a release
        secrets = SecretAccess(
            oidc_provider_arn=eks.cluster_oidc_provider_arn,
            oidc_issuer=eks.oidc_issuer,
            secrets_key_arn=keys.secrets_key_arn,
            env={"APP_DATABASE_SECRET_ARN": app_secrets.database_secret_arn,
                 "APP_REDIS_SECRET_ARN": app_secrets.redis_secret_arn},
            readable=[app_secrets.database_secret_arn, app_secrets.redis_secret_arn,
                      postgres.master_user_secret_arn, redis.auth_secret_arn],
        )
        Workloads(f"{prefix}-workloads", WorkloadsArgs(config=cfg, provider=eks.provider, secrets=secrets),
                  opts=pulumi.ResourceOptions(depends_on=[netpol, limits]))
    alerts = BudgetAlerts(f"{prefix}-budget", BudgetAlertsArgs(config=cfg, alerts_key_arn=keys.alerts_key_arn))
    alarms = Alarms(f"{prefix}-alarms", AlarmsArgs(
        config=cfg,
        topic_arn=alerts.topic_arn,
        database_instance_id=postgres.instance_identifier,
        redis_replication_group_id=redis.replication_group_id,
        cluster_name=eks.cluster_name,
        # until `infra deploy` sets a release no app pod answers, so the API alarms would only ever fire
        api=(edge.load_balancer_arn_suffix, edge.target_group_arn_suffix) if cfg.release.image else None,
        endpoint=edge.dns_name,  # the uptime check's target unless infra:alarms.healthCheckDomain names one
    ))
    dashboard = Dashboard(f"{prefix}-dashboard", DashboardArgs(
        config=cfg,
        load_balancer_arn_suffix=edge.load_balancer_arn_suffix,
        target_group_arn_suffix=edge.target_group_arn_suffix,
        database_instance_id=postgres.instance_identifier,
        redis_replication_group_id=redis.replication_group_id,
        cluster_name=eks.cluster_name,
        node_group_asg_names=eks.node_group_asg_names,
        health_check_id=alarms.health_check_id,
    ))

    outputs = {
        "environment": pulumi.Output.from_input(cfg.environment),
        "region": pulumi.Output.from_input(cfg.region),
        "vpc_id": network.vpc_id,
        "cluster_name": eks.cluster_name,
        "cluster_endpoint": eks.cluster_endpoint,
        "cluster_oidc_provider_arn": eks.cluster_oidc_provider_arn,
        "kubeconfig": eks.kubeconfig,
        "database_address": postgres.address,
        "database_port": postgres.port,
        "database_instance_id": postgres.instance_identifier,
        "database_master_secret_arn": postgres.master_user_secret_arn,
        "redis_primary_endpoint": redis.primary_endpoint,
        "redis_port": redis.port,
        "redis_replication_group_id": redis.replication_group_id,
        "redis_auth_secret_arn": redis.auth_secret_arn,
        "app_database_secret_arn": app_secrets.database_secret_arn,
        "app_redis_secret_arn": app_secrets.redis_secret_arn,
        "load_balancer_dns_name": edge.dns_name,  # point the API's domain (the certificate's) here
        "alerts_topic_arn": alerts.topic_arn,
        "budget_name": alerts.budget_name,
        "temporal_frontend_address": temporal.frontend_address,  # what the workers dial (7233, in-cluster)
        # fixed forever at the first deploy: preview and up compare the stack file with it (stacks/shards.py)
        "temporal_history_shards": temporal.history_shards,
        "dashboard_name": dashboard.dashboard_name,
    }
    if dumps:
        outputs["tenant_dumps_bucket"] = dumps.bucket_name
    return outputs


def main(cfg: EnvironmentConfig | None = None) -> None:
    """The Pulumi program: read and validate the stack's config once, build, export."""
    if cfg is None:
        from stacks.config import from_pulumi

        cfg = from_pulumi()
    for key, value in build(cfg).items():
        pulumi.export(key, value)

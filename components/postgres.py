"""RDS PostgreSQL: Multi-AZ, CMK-encrypted, TLS forced, AWS-managed master password, reachable from nodes only."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.shared import assume_role_policy, nodes_only_security_group
from stacks.config import EnvironmentConfig

PORT = 5432


@dataclass(frozen=True)
class PostgresDatabaseArgs:
    config: EnvironmentConfig
    vpc_id: pulumi.Input[str]
    subnet_group_name: pulumi.Input[str]
    node_security_group_id: pulumi.Input[str]
    data_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]


class PostgresDatabase(pulumi.ComponentResource):
    address: pulumi.Output[str]
    port: pulumi.Output[int]
    master_user_secret_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    instance_identifier: pulumi.Output[str]
    arn: pulumi.Output[str]
    resource_id: pulumi.Output[str]  # db-XXXX: what IAM database authentication (rds-db:connect) names

    def __init__(self, name: str, args: PostgresDatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:PostgresDatabase", name, None, opts)
        cfg, pg = args.config, args.config.postgres
        child = pulumi.ResourceOptions(parent=self)

        sg = nodes_only_security_group(
            name, cfg, what="PostgreSQL", slug="postgres", port=PORT, vpc_id=args.vpc_id,
            node_security_group_id=args.node_security_group_id, parent=self,
        )

        params = aws.rds.ParameterGroup(
            f"{name}-params",
            name=f"{cfg.name_prefix}-postgres{pg.major_version}",
            family=f"postgres{pg.major_version}",
            description=f"{cfg.name_prefix}: TLS only, slow-query logging",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="ssl_min_protocol_version", value="TLSv1.2"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="1000"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
            ],
            tags=cfg.tags(Name=f"{cfg.name_prefix}-postgres"),
            opts=child,
        )

        monitoring_role_arn = None
        if pg.monitoring_interval_seconds:
            role = aws.iam.Role(
                f"{name}-monitoring-role",
                assume_role_policy=assume_role_policy("monitoring.rds.amazonaws.com"),
                tags=cfg.tags(Name=f"{cfg.name_prefix}-rds-monitoring"),
                opts=child,
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-monitoring",
                role=role.name,
                policy_arn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
                opts=child,
            )
            monitoring_role_arn = role.arn

        identifier = cfg.database_identifier
        self.instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=identifier,
            engine="postgres",
            engine_version=pg.engine_version,
            instance_class=pg.instance_class,
            db_name=pg.database_name,
            username=pg.username,
            # AWS generates, stores and rotates the password in Secrets Manager: it never passes
            # through config, state or this program.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.secrets_key_arn,
            allocated_storage=pg.allocated_storage_gb,
            max_allocated_storage=pg.max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.data_key_arn,
            multi_az=pg.multi_az,
            db_subnet_group_name=args.subnet_group_name,
            vpc_security_group_ids=[sg.id],
            publicly_accessible=False,
            parameter_group_name=params.name,
            backup_retention_period=pg.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            deletion_protection=pg.deletion_protection,
            skip_final_snapshot=not cfg.is_prod,
            final_snapshot_identifier=f"{identifier}-final" if cfg.is_prod else None,
            performance_insights_enabled=pg.performance_insights,
            performance_insights_kms_key_id=args.data_key_arn if pg.performance_insights else None,
            performance_insights_retention_period=7 if pg.performance_insights else None,
            monitoring_interval=pg.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role_arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            auto_minor_version_upgrade=True,
            iam_database_authentication_enabled=True,
            tags=cfg.tags(Name=identifier),
            # Prod's data: the engine refuses any delete or replace (a changed identifier, username,
            # database name...) until an operator unprotects it on purpose.
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.is_prod),
        )
        self.address = self.instance.address
        self.port = self.instance.port
        self.instance_identifier = self.instance.identifier
        self.master_user_secret_arn = self.instance.master_user_secrets.apply(
            lambda secrets: secrets[0].secret_arn if secrets else None
        )
        self.security_group_id = sg.id
        self.arn = self.instance.arn
        self.resource_id = self.instance.resource_id
        self.register_outputs({
            "arn": self.arn,
            "resource_id": self.resource_id,
            "address": self.address,
            "port": self.port,
            "instance_identifier": self.instance_identifier,
            "master_user_secret_arn": self.master_user_secret_arn,
            "security_group_id": self.security_group_id,
        })

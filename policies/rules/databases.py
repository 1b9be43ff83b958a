"""RDS PostgreSQL and ElastiCache Redis."""

from __future__ import annotations

from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule

RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
MIN_BACKUP_DAYS = 7


def _rds_encrypted(r: Resource, ctx: Context) -> Iterator[str]:
    if r.props.get("storageEncrypted") is not True:
        yield "storage is not encrypted at rest"


def _rds_private(r: Resource, ctx: Context) -> Iterator[str]:
    if r.props.get("publiclyAccessible") is True:
        yield "the instance is publicly accessible"


def _rds_managed_password(r: Resource, ctx: Context) -> Iterator[str]:
    if r.props.get("password") or r.props.get("passwordWo"):
        yield "a master password is passed in (it would live in config and state)"
    if r.props.get("manageMasterUserPassword") is not True and not r.props.get("replicateSourceDb"):
        yield "the master password is not managed by AWS Secrets Manager"


def _rds_backups(r: Resource, ctx: Context) -> Iterator[str]:
    days = r.props.get("backupRetentionPeriod") or 0
    if days < MIN_BACKUP_DAYS:
        yield f"backups are kept {days} days, fewer than {MIN_BACKUP_DAYS}"


def _rds_prod_resilience(r: Resource, ctx: Context) -> Iterator[str]:
    if not ctx.is_prod:
        return
    if r.props.get("multiAz") is not True:
        yield "a production database must be Multi-AZ"
    if r.props.get("deletionProtection") is not True:
        yield "a production database must have deletion protection"


def _redis_encryption(r: Resource, ctx: Context) -> Iterator[str]:
    if r.props.get("atRestEncryptionEnabled") is not True:
        yield "data is not encrypted at rest"
    if r.props.get("transitEncryptionEnabled") is not True:
        yield "traffic is not encrypted in transit"


def _redis_auth(r: Resource, ctx: Context) -> Iterator[str]:
    if not r.props.get("authToken") and not r.props.get("authTokenWo") and not r.props.get("userGroupIds"):
        yield "no AUTH token (or RBAC user group): anyone who reaches the port can read and write"


def _redis_prod_resilience(r: Resource, ctx: Context) -> Iterator[str]:
    if not ctx.is_prod:
        return
    if r.props.get("automaticFailoverEnabled") is not True:
        yield "production Redis must fail over automatically"
    if r.props.get("multiAzEnabled") is not True:
        yield "production Redis must be Multi-AZ"


RULES = [
    Rule("rds-storage-encrypted", "RDS storage is encrypted at rest", Enforcement.MANDATORY,
         "set storage_encrypted=True with a customer-managed kms_key_id", "CKV_AWS_16", (RDS,), _rds_encrypted),
    Rule("rds-not-public", "RDS instances are not publicly accessible", Enforcement.MANDATORY,
         "set publicly_accessible=False; reach the database from inside the VPC", "CKV_AWS_17", (RDS,),
         _rds_private),
    Rule("rds-managed-master-password", "The RDS master password is generated and kept by AWS",
         Enforcement.MANDATORY, "drop password=... and set manage_master_user_password=True", None, (RDS,),
         _rds_managed_password),
    Rule("rds-backup-retention", f"RDS keeps automated backups at least {MIN_BACKUP_DAYS} days",
         Enforcement.MANDATORY, f"set backup_retention_period >= {MIN_BACKUP_DAYS}", "CKV_AWS_133", (RDS,),
         _rds_backups),
    Rule("rds-prod-multi-az-and-deletion-protection", "Production RDS is Multi-AZ with deletion protection",
         Enforcement.MANDATORY, "set multi_az=True and deletion_protection=True (infra:postgres in Pulumi.prod.yaml)",
         "CKV_AWS_157, CKV_AWS_293", (RDS,), _rds_prod_resilience),
    Rule("redis-encryption", "ElastiCache encrypts at rest and in transit", Enforcement.MANDATORY,
         "set at_rest_encryption_enabled=True and transit_encryption_enabled=True", "CKV_AWS_29, CKV_AWS_30",
         (REDIS,), _redis_encryption),
    Rule("redis-auth", "ElastiCache requires an AUTH token", Enforcement.MANDATORY,
         "set auth_token from a generated secret kept in Secrets Manager", "CKV_AWS_31", (REDIS,), _redis_auth),
    Rule("redis-prod-failover", "Production ElastiCache fails over automatically across AZs", Enforcement.MANDATORY,
         "set automatic_failover_enabled=True, multi_az_enabled=True and at least one replica", None, (REDIS,),
         _redis_prod_resilience),
]

"""Where `infra tenant offboard` keeps an offboarded tenant's schema dump (``infra:tenancy.dumps``): the only
copy of its data once the schema is dropped. Private, TLS-only, SSE-KMS with the environment's data key (what
offboarding writes with), versioned so an overwrite or delete can be undone, expiring after
``tenancy.dumpRetentionDays``; in prod the engine refuses to delete or replace it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.buckets import private_bucket, sse_kms
from stacks.config import EnvironmentConfig

NONCURRENT_DAYS = 30  # an overwritten or deleted dump can be restored this long
ABORT_UPLOADS_DAYS = 7  # the parts of a dump whose upload died (pg_dump streams in a multipart upload)


@dataclass(frozen=True)
class TenantDumpsArgs:
    config: EnvironmentConfig
    data_key_arn: pulumi.Input[str]


class TenantDumps(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: TenantDumpsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:TenantDumps", name, None, opts)
        cfg, tenancy = args.config, args.config.tenancy
        if tenancy is None:
            raise ValueError("TenantDumps needs infra:tenancy")
        bucket, _ = private_bucket(
            f"{name}-bucket", cfg, bucket=tenancy.dumps_bucket, tag_name=f"{cfg.name_prefix}-tenant-dumps",
            encryption=sse_kms(args.data_key_arn), expire_after_days=tenancy.dump_retention_days,
            noncurrent_days=NONCURRENT_DAYS, abort_uploads_after_days=ABORT_UPLOADS_DAYS, parent=self,
            protect=cfg.is_prod)
        self.bucket_name = bucket.bucket
        self.register_outputs({"bucket_name": self.bucket_name})

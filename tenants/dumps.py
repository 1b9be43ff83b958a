"""Offboarding's safety net: the tenant's schema, dumped with pg_dump and stored encrypted in S3.

pg_dump's output streams straight into the S3 upload (no plaintext copy on disk), encrypted with
SSE-KMS under the environment's data key; the object is then read back (HEAD) to prove it exists,
is KMS-encrypted and is not empty before anything is dropped. pg_dump gets its login from PG*
variables, never on its command line. It must be at least the server's major version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stacks.aws_clients import aws_errors, client
from stacks.errors import MissingPrerequisite, OperationFailed

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig
    from tenants.connection import AdminTarget
    from tenants.names import TenantNames

PG_DUMP_VARIABLE = "INFRA_PG_DUMP"


@dataclass(frozen=True)
class Dump:
    location: str  # s3://bucket/key
    size: int
    kms_key: str

    def as_dict(self) -> dict[str, Any]:
        # "encryptedWith", not "kmsKey": the audit log masks any field named like a key or a secret
        return {"location": self.location, "bytes": self.size, "encryptedWith": self.kms_key}


def pg_dump_binary() -> str:
    found = os.environ.get(PG_DUMP_VARIABLE) or shutil.which("pg_dump")
    if not found:
        raise MissingPrerequisite("pg_dump is not installed (offboarding dumps the tenant's schema first)",
                                  hint=f"apt-get install postgresql-client (at least the server's major version) "
                                       f"or set {PG_DUMP_VARIABLE}")
    return found


def dump_schema(cfg: EnvironmentConfig, target: AdminTarget, names: TenantNames) -> Dump:
    assert cfg.tenancy is not None
    bucket, prefix = cfg.tenancy.dumps_bucket, cfg.tenancy.dumps_prefix
    key = names.dump_key(prefix, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    kms_key = f"alias/{cfg.name_prefix}-data"
    s3 = client("s3", region=cfg.region, profile=cfg.profile)
    binary = pg_dump_binary()
    env = {**os.environ, **target.libpq_env(), "PGAPPNAME": "infra-tenant-offboard", "PGCONNECT_TIMEOUT": "10"}
    process = subprocess.Popen([binary, "--format=custom", "--no-password", f"--schema={names.schema}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None
    where = f"s3://{bucket}/{key}"
    with aws_errors(f"write the dump of tenant {names.slug} to s3://{bucket}"):
        try:
            _upload(s3, process.stdout, bucket, key, kms_key, names.slug, cfg.environment)
        except BaseException:
            process.kill()
            raise
        finally:
            process.stdout.close()
            _, stderr = process.communicate(timeout=600)
        if process.returncode != 0:
            s3.delete_object(Bucket=bucket, Key=key)
            from stacks.redact import redact

            why = redact((stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1])
            raise OperationFailed(f"pg_dump of {names.schema} failed ({why}); nothing was dropped",
                                  hint="a pg_dump of the server's major version or newer is needed")
        head = s3.head_object(Bucket=bucket, Key=key)
    if head.get("ServerSideEncryption") != "aws:kms" or not head.get("ContentLength"):
        raise OperationFailed(f"the dump at {where} is not KMS-encrypted or is empty; nothing was dropped")
    return Dump(where, int(head["ContentLength"]), str(head.get("SSEKMSKeyId") or kms_key))


def _upload(s3: Any, stream: Any, bucket: str, key: str, kms_key: str, tenant: str, environment: str) -> None:
    from boto3.exceptions import S3UploadFailedError

    try:
        s3.upload_fileobj(stream, bucket, key, ExtraArgs={
            "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key,
            "Tagging": f"tenant={tenant}&environment={environment}"})
    except S3UploadFailedError as exc:  # the transfer manager wraps the ClientError in its own
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            raise cause from None
        raise OperationFailed(f"the dump upload to s3://{bucket}/{key} failed: {exc}; nothing was dropped") from None


def check_destination(cfg: EnvironmentConfig) -> str:
    """Offboarding refuses before changing anything when the dumps bucket (the stack makes it) is not there
    (or not ours)."""
    from botocore.exceptions import ClientError

    assert cfg.tenancy is not None
    bucket = cfg.tenancy.dumps_bucket
    s3 = client("s3", region=cfg.region, profile=cfg.profile)
    with aws_errors(f"check the dumps bucket s3://{bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in ("404", "NoSuchBucket", "403", "AccessDenied"):
                raise MissingPrerequisite(
                    f"the dumps bucket s3://{bucket} (infra:tenancy.dumps) does not exist or is not yours ({code}); "
                    "nothing was changed",
                    hint=f"`infra up {cfg.environment}` creates it from infra:tenancy.dumps; or fix that key") from None
            raise
    return bucket

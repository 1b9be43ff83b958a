"""The tenant role's password: generated here, kept only in Secrets Manager under the secrets key.

The secret (``<prefix>/tenants/<slug>``) holds what the application needs to log in as the tenant; the
value is written and never read back or printed by this toolkit. Offboarding schedules its deletion
with a recovery window (30 days in prod, 7 in staging), during which a re-created tenant restores it.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from stacks.aws_clients import aws_errors, client

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig

PASSWORD_BYTES = 32


def generate_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


class CredentialStore:
    def __init__(self, cfg: EnvironmentConfig) -> None:
        self.cfg = cfg
        self._client: Any = None

    @property
    def secrets(self) -> Any:
        if self._client is None:
            self._client = client("secretsmanager", region=self.cfg.region, profile=self.cfg.profile)
        return self._client

    @property
    def kms_key(self) -> str:
        return f"alias/{self.cfg.name_prefix}-secrets"

    def store(self, name: str, *, tenant: str, value: dict[str, Any]) -> None:
        """Create the secret, or put a new current version (restoring it if its deletion was scheduled)."""
        from botocore.exceptions import ClientError

        body = json.dumps(value)
        with aws_errors(f"store the credentials of tenant {tenant}"):
            try:
                self.secrets.create_secret(
                    Name=name, KmsKeyId=self.kms_key, SecretString=body,
                    Description=f"{self.cfg.name_prefix}: login of tenant {tenant} (infra tenant)",
                    Tags=[{"Key": k, "Value": v} for k, v in self.cfg.tags(tenant=tenant).items()])
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("ResourceExistsException",
                                                                     "InvalidRequestException"):
                    raise
            if "DeletedDate" in self.secrets.describe_secret(SecretId=name):  # a tenant offboarded in the window
                self.secrets.restore_secret(SecretId=name)
            self.secrets.put_secret_value(SecretId=name, SecretString=body)

    def schedule_deletion(self, name: str, *, tenant: str) -> int | None:
        """Schedule the deletion (once); the recovery window in days, or None when there is no secret."""
        window = 30 if self.cfg.is_prod else 7
        found = self.describe(name)
        if found is None:
            return None
        if "DeletedDate" not in found:
            with aws_errors(f"schedule the deletion of tenant {tenant}'s credentials"):
                self.secrets.delete_secret(SecretId=name, RecoveryWindowInDays=window)
        return window

    def describe(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        with aws_errors("describe the tenant's credentials"):
            try:
                return self.secrets.describe_secret(SecretId=name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return None
                raise

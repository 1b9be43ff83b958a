"""The bootstrap stack, composed. Run by the Pulumi engine (``bootstrap/__main__.py``) and, unchanged, by
``infra bootstrap plan`` under the mock engine."""

from __future__ import annotations

import pulumi

from bootstrap.config import BootstrapConfig
from components.ci_access import CiAccess, CiAccessArgs

# Stack output -> the repository variable the workflows read it from (the one place they look).
VARIABLES = {"preview_role_arn": "AWS_PREVIEW_ROLE_ARN", "drift_role_arn": "AWS_DRIFT_ROLE_ARN",
             "deploy_role_arn": "AWS_DEPLOY_ROLE_ARN", "cost_guard_role_arn": "AWS_COST_GUARD_ROLE_ARN"}


def build(cfg: BootstrapConfig) -> dict[str, pulumi.Output]:
    access = CiAccess(f"{cfg.name_prefix}-access", CiAccessArgs(config=cfg))
    outputs = {"github_oidc_provider_arn": access.provider_arn}
    outputs.update({f"{kind.replace('-', '_')}_role_arn": arn for kind, arn in access.role_arns.items()})
    return outputs


def main(cfg: BootstrapConfig | None = None) -> None:
    from bootstrap import config

    for name, value in build(cfg or config.from_pulumi()).items():
        pulumi.export(name, value)

"""The bootstrap stack's settings (``bootstrap/Pulumi.ci.yaml``): which repository the CI roles trust and
where the state backend lives, validated once, errors naming the file and the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from stacks.config import ENVIRONMENTS, PROJECT, _decode, _Model, _suggest, read_stack_file
from stacks.errors import ConfigError

BOOTSTRAP_PROJECT = "infra-bootstrap"
STACK = "ci"  # one per account
DIRECTORY = Path(__file__).resolve().parent
STACK_FILE = DIRECTORY / f"Pulumi.{STACK}.yaml"
KNOWN_KEYS = ["owner", "costCenter", "github", "state"]
_NAME = r"[A-Za-z0-9_.-]+"


class GithubConfig(_Model):
    repository: str  # OWNER/REPO, exactly: every trust names it
    branch: str = "main"

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if not re.fullmatch(rf"{_NAME}/{_NAME}", v):
            raise ValueError(f"{v!r} is not OWNER/REPO (no wildcards: the roles trust exactly one repository)")
        return v

    @field_validator("branch")
    @classmethod
    def _branch(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", v) or v.startswith("refs/"):
            raise ValueError(f"{v!r} is not a branch name (e.g. main; no wildcards)")
        return v


class StateConfig(_Model):
    bucket: str  # the S3 bucket of INFRA_BACKEND_URL
    key_alias: str = "alias/infra-state"  # the KMS key of INFRA_SECRETS_PROVIDER

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", v):
            raise ValueError(f"{v!r} is not an S3 bucket name")
        return v

    @field_validator("key_alias")
    @classmethod
    def _alias(cls, v: str) -> str:
        if not re.fullmatch(r"alias/[A-Za-z0-9/_-]+", v) or v.startswith("alias/aws/"):
            raise ValueError(f"{v!r} is not a customer-managed KMS alias (alias/NAME)")
        return v


class BootstrapConfig(_Model):
    region: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    cost_center: str = Field(min_length=1)
    github: GithubConfig
    state: StateConfig

    @property
    def environment(self) -> str:
        return STACK  # the plan document's "environment": the bootstrap stack's name

    @property
    def environments(self) -> tuple[str, ...]:
        return ENVIRONMENTS  # the environments the roles serve

    @property
    def name_prefix(self) -> str:
        return f"{PROJECT}-ci"

    def tags(self, **extra: str) -> dict[str, str]:
        return {"environment": STACK, "project": PROJECT, "owner": self.owner, "cost-center": self.cost_center,
                "managed-by": "pulumi", **extra}

    def subject(self, kind: str, value: str) -> str:
        """GitHub's ``sub`` claim for this repository: ``environment``, ``ref`` (a branch) or ``pull_request``."""
        repo = f"repo:{self.github.repository}"
        return {"environment": f"{repo}:environment:{value}", "ref": f"{repo}:ref:refs/heads/{value}",
                "pull_request": f"{repo}:pull_request"}[kind]


def from_flat(flat: dict[str, Any], *, source: str) -> BootstrapConfig:
    data: dict[str, Any] = {}
    for full_key, raw in flat.items():
        namespace, _, key = full_key.partition(":")
        if full_key == "aws:region":
            data["region"] = raw
        elif namespace == BOOTSTRAP_PROJECT:
            if key not in KNOWN_KEYS:
                raise ConfigError(f"{source}: {full_key}: unknown key{_suggest(key, KNOWN_KEYS)}")
            data[key] = _decode(raw)
    try:
        return BootstrapConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = ".".join(str(p) for p in first["loc"])
        key = "aws:region" if path == "region" else f"{BOOTSTRAP_PROJECT}:{path}"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            msg = "required key is missing; add it"
        raise ConfigError(f"{source}: {key}: {msg}") from None


def load(path: Path = STACK_FILE) -> BootstrapConfig:
    return from_flat(read_stack_file(path), source=path.name)


def from_pulumi() -> BootstrapConfig:
    """Read the running bootstrap stack's configuration (inside the Pulumi program)."""
    from pulumi.runtime import config as runtime_config

    flat = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return from_flat(flat, source=STACK_FILE.name)

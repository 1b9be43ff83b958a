"""Where the Pulumi project lives and which stack file belongs to an environment."""

from __future__ import annotations

import os
from pathlib import Path

from stacks.config import check_environment
from stacks.errors import InvalidInput

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def project_dir() -> Path:
    """The directory holding Pulumi.yaml: $INFRA_PROJECT_DIR, else the nearest one up from the
    working directory, else the checkout this package was installed from."""
    override = os.environ.get("INFRA_PROJECT_DIR")
    candidates = [Path(override)] if override else [Path.cwd(), *Path.cwd().parents, _PACKAGE_ROOT]
    for directory in candidates:
        if (directory / "Pulumi.yaml").is_file():
            return directory
    raise InvalidInput(
        "no Pulumi.yaml found", hint="run infra inside the infra repository or set INFRA_PROJECT_DIR"
    )


def stack_file(environment: str, override: Path | None = None) -> Path:
    """``Pulumi.<env>.yaml`` of the project, or the file given with --config."""
    check_environment(environment)
    return override if override is not None else project_dir() / f"Pulumi.{environment}.yaml"

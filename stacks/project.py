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
    """``Pulumi.<env>.yaml`` of the project, or the file given with --config (a what-if), which must not be
    another environment's stack file: prod's settings planned under the staging name would be judged by
    staging's rules and budget, and look like staging's plan."""
    check_environment(environment)
    if override is None:
        return project_dir() / f"Pulumi.{environment}.yaml"
    other = _other_environments_file(environment, override)
    if other:
        raise InvalidInput(
            f"--config {override} is {other}'s stack file, not a what-if for {environment}; nothing was planned",
            hint=f"run `infra plan {other}`, or start a what-if for {environment} from a copy of "
                 f"Pulumi.{environment}.yaml")
    return override


def _other_environments_file(environment: str, path: Path) -> str | None:
    """The environment whose stack file ``path`` is, by name or by content, when that is not ``environment``."""
    from stacks.config import ENVIRONMENTS

    for other in ENVIRONMENTS:
        if other == environment:
            continue
        if path.name == f"Pulumi.{other}.yaml":
            return other
        try:
            theirs = project_dir() / f"Pulumi.{other}.yaml"
            if path.is_file() and theirs.is_file() and path.stat().st_size == theirs.stat().st_size \
                    and path.read_bytes() == theirs.read_bytes():
                return other
        except (OSError, InvalidInput):  # unreadable here: the config loader reports it
            continue
    return None


def what_if_note(environment: str, path: Path) -> str | None:
    """The label of a plan or estimate made from another file than the environment's own (None: its own)."""
    try:
        own = project_dir() / f"Pulumi.{environment}.yaml"
        if path.resolve() == own.resolve():
            return None
    except (OSError, InvalidInput):
        pass
    return (f"WHAT-IF: {environment} planned from {path}, not Pulumi.{environment}.yaml; "
            f"`infra up {environment}` would not apply this")

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def stack_doc(env: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{env}.yaml").read_text())


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a copy of an environment's stack file, changed by ``mutate(config_dict)``."""

    def write(env: str, mutate: Callable[[dict[str, Any]], Any] | None = None,
              name: str | None = None) -> Path:
        doc = copy.deepcopy(stack_doc(env))
        if mutate:
            mutate(doc["config"])
        path = tmp_path / (name or f"Pulumi.{env}.yaml")
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def staging_cfg():
    from stacks import config

    return config.load("staging", ROOT / "Pulumi.staging.yaml")


@pytest.fixture(scope="session")
def prod_cfg():
    from stacks import config

    return config.load("prod", ROOT / "Pulumi.prod.yaml")


@pytest.fixture(scope="session")
def staging_plan(staging_cfg):
    from stacks import offline

    return offline.run(staging_cfg)


@pytest.fixture(scope="session")
def prod_plan(prod_cfg):
    from stacks import offline

    return offline.run(prod_cfg)

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


@pytest.fixture
def state_dir(tmp_path, monkeypatch) -> Path:
    """Incident log, audit log and locks of the runs under test."""
    path = tmp_path / "state"
    monkeypatch.setenv("INFRA_STATE_DIR", str(path))
    return path


@pytest.fixture
def infra():
    """Run the real CLI in-process; returns typer's Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from cli.main import app

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(app, list(args), input=input)

    return invoke


@pytest.fixture(scope="session")
def moto_server():
    """A real AWS-compatible HTTP endpoint on loopback (moto's server mode), shared by the session."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    """Every boto3 client of the CLI talks to the moto server, with throwaway credentials; state is reset."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return moto_server


def moto_api(server: str, path: str, payload: dict) -> None:
    """Seed moto through its own HTTP API (e.g. the Cost Explorer results a query returns)."""
    import json
    import urllib.request

    request = urllib.request.Request(f"{server}/moto-api/{path}", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status in (200, 201)

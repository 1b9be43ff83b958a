"""`stacks/__main__.py`, the file the Pulumi engine runs, registers exactly what `infra plan` shows:
config from PULUMI_CONFIG (as the engine passes it), the same program, the same resources."""

from __future__ import annotations

import json
import runpy

import pytest
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from stacks import config
from stacks.offline import mock_engine
from tests.conftest import ROOT

MAIN = ROOT / "stacks" / "__main__.py"


def _run_entrypoint(env: str, flat: dict, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(flat))
    with mock_engine(env, flat["aws:region"]) as plan:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(MAIN), run_name="__main__")))
    return plan


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_engine_entrypoint_registers_what_the_plan_shows(env, request, monkeypatch):
    flat = config.read_stack_file(ROOT / f"Pulumi.{env}.yaml")
    live = _run_entrypoint(env, flat, monkeypatch)
    offline = request.getfixturevalue(f"{env}_plan")
    assert sorted((r.urn, json.dumps(r.inputs, sort_keys=True)) for r in live.resources) == sorted(
        (r.urn, json.dumps(r.inputs, sort_keys=True)) for r in offline.resources)


def test_invalid_config_stops_the_engine_run_with_one_line(monkeypatch, capsys):
    flat = config.read_stack_file(ROOT / "Pulumi.prod.yaml")
    flat["infra:postgres"] = json.dumps({**json.loads(flat["infra:postgres"]), "multiAz": False})
    with pytest.raises(SystemExit) as exited:
        _run_entrypoint("prod", flat, monkeypatch)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: Pulumi.prod.yaml: infra:postgres.multiAz: prod must be Multi-AZ; set it to true")

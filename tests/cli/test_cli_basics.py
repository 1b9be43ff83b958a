"""What every command does alike: -h, --version, Ctrl-C, a closed pipe, tables that stay whole when piped."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from stacks.errors import Terminated

ROOT = Path(__file__).resolve().parents[2]
INFRA = str(Path(sys.executable).with_name("infra"))  # the installed console script


def _command_paths(command, path=()):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*path, name))


COMMANDS = list(_command_paths(typer.main.get_command(app)))


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "infra")
def test_every_command_takes_dash_h(path):
    short, long = invoke(*path, "-h"), invoke(*path, "--help")
    assert short.exit_code == 0, short.output
    assert short.stdout == long.stdout and "Usage: infra" in short.stdout


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "infra")
def test_every_command_takes_version(path):
    result = invoke(*path, "--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"infra {version('infra')}\n"


@pytest.mark.parametrize(("stop", "code", "line"), [
    (KeyboardInterrupt(), 130, "error: interrupted (Ctrl-C)"),
    (Terminated(15), 143, "error: terminated (SIGTERM)"),
    (Terminated(1), 129, "error: terminated (SIGHUP)"),
])
def test_a_signal_in_any_command_is_one_line_and_128_plus_its_number(monkeypatch, stop, code, line):
    from stacks import config

    def interrupted(*args, **kwargs):
        raise stop

    monkeypatch.setattr(config, "load", interrupted)
    result = invoke("plan", "staging")
    assert result.exit_code == code
    assert result.stderr.strip() == line


@pytest.mark.parametrize("args", [["policy", "list"], ["runbook", "docs"], ["policy", "list", "--json"]])
def test_a_reader_that_stops_early_ends_the_command_quietly_with_exit_0(args):
    # `infra policy list | head -1`: the reader goes away; the command must not fail or complain.
    run = subprocess.Popen([INFRA, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run.stdout.close()  # closed before anything is written: every write hits a broken pipe
    stderr = run.stderr.read().decode()
    assert run.wait(timeout=60) == 0, stderr
    assert stderr == ""


def test_piped_tables_keep_each_row_on_one_line():
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run([INFRA, "policy", "list"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60).stdout
    from policies.rules import ALL_RULES

    rows = [line for line in out.splitlines() if line.split(" ", 1)[0] in {r.name for r in ALL_RULES}]
    assert len(rows) == len(ALL_RULES)  # no row continued on a second line
    for rule in ALL_RULES:
        assert any(rule.description in row for row in rows), rule.description  # every word whole


def test_policy_list_json_names_every_rule_with_its_level():
    import json

    from policies.rules import ALL_RULES

    result = invoke("policy", "list", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["version"] == 1
    assert [(r["name"], r["enforcement"], r["checkov"]) for r in doc["rules"]] == [
        (r.name, str(r.enforcement), r.checkov) for r in ALL_RULES]


def test_runbook_list_and_show_json():
    import json

    from runbooks.registry import RUNBOOKS

    listed = json.loads(invoke("runbook", "list", "--json").stdout)
    assert listed == {"version": 1, "runbooks": [{"name": n, "title": rb.title} for n, rb in RUNBOOKS.items()]}
    shown = invoke("runbook", "show", "temporal-restart", "--json")
    assert shown.exit_code == 0
    doc = json.loads(shown.stdout)
    assert doc["version"] == 1 and doc["runbook"]["name"] == "temporal-restart"
    assert [(s["name"], s["mutating"]) for s in doc["runbook"]["steps"]] == [
        ("observe", False), ("diagnose", False), ("restart", True), ("verify", False), ("watch", False)]
    assert doc["runbook"]["usage"].startswith("infra runbook run temporal-restart --env ENV")
    unknown = invoke("runbook", "show", "nope", "--json")
    assert unknown.exit_code == 2 and unknown.stdout == ""


@pytest.mark.parametrize(("name", "value"), [("COLUMNS", "0"), ("COLUMNS", "1"), ("COLUMNS", "-5"),
                                             ("TERMINAL_WIDTH", "abc"), ("TERMINAL_WIDTH", "0")])
def test_a_nonsensical_terminal_width_is_ignored(name, value):
    env = {**os.environ, name: value}
    error = subprocess.run([INFRA, "plan", "qa"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert error.returncode == 2
    assert error.stderr == "error: unknown environment 'qa' (use one of: staging, prod)\n"  # not swallowed
    listed = subprocess.run([INFRA, "runbook", "list"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert ("temporal-restart     Temporal fails its health check: diagnose, restart only if it is not serving\n"
            in listed.stdout)
    helped = subprocess.run([INFRA, "-h"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "Usage: infra" in helped.stdout and "Traceback" not in helped.stderr

"""docs/oncall.md is read at 3 a.m.: every `infra ...` command it shows must exist with those options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "oncall.md"


def _commands() -> list[str]:
    text = DOC.read_text()
    inline = re.findall(r"`(infra [^`]+)`", text)
    blocks = [line.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)
              for line in block.splitlines() if line.strip().startswith("infra ")]
    return sorted(set(inline + blocks))


def test_the_page_shows_the_commands_an_incident_needs():
    commands = _commands()
    assert "infra status prod" in commands and "infra doctor prod" in commands
    assert {c.split()[3] for c in commands if c.startswith("infra runbook run ")} == {
        "temporal-restart", "rds-failover", "redis-failover", "rotate-secret", "cost-circuit-breaker"}


@pytest.mark.parametrize("command", _commands())
def test_every_command_on_the_page_exists_with_its_options(command):
    # --help is eager: the command path and every option before it are parsed, nothing runs.
    result = CliRunner().invoke(app, [*shlex.split(command)[1:], "--help"])
    assert result.exit_code == 0, f"{command}: {result.output}"

from __future__ import annotations

import os
import re

import pytest

from runbooks.lock import lock_path, machine_lock_dir, target_lock
from stacks.audit import actor
from stacks.errors import Blocked, ExitCode, MissingPrerequisite

ID = "docker-container://4f2a9c0e" + "0" * 56


def test_a_second_holder_is_refused_with_who_and_since(tmp_path):
    with (target_lock("docker://generic-corp-temporal", ID, runbook="temporal-restart", locks_dir=tmp_path),
          pytest.raises(Blocked) as refused,
          target_lock("docker://generic-corp-temporal", ID, runbook="restart-container", locks_dir=tmp_path)):
        pass
    message = str(refused.value)
    assert refused.value.exit_code is ExitCode.BLOCKED
    assert f"locked by {actor()} (pid {os.getpid()}, temporal-restart) since " in message
    assert re.search(r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", message)


def test_another_name_for_the_same_target_is_refused_and_told_the_holders_name(tmp_path):
    with (target_lock("docker://generic-corp-temporal", ID, runbook="temporal-restart", locks_dir=tmp_path),
          pytest.raises(Blocked) as refused,
          target_lock("docker://4f2a9c0e", ID, runbook="restart-container", locks_dir=tmp_path)):
        pass
    assert str(refused.value).startswith("docker://4f2a9c0e is locked by ")
    assert "temporal-restart, as docker://generic-corp-temporal) since" in str(refused.value)


def test_lock_is_per_target_and_released_after_the_run(tmp_path):
    with (target_lock("docker://a", "docker-container://a1", runbook="x", locks_dir=tmp_path),
          target_lock("docker://b", "docker-container://b1", runbook="x", locks_dir=tmp_path)):
        pass
    with target_lock("docker://a", "docker-container://a1", runbook="x", locks_dir=tmp_path):
        pass
    assert not list(tmp_path.glob("*.json"))


def test_the_machine_lock_directory_ignores_the_state_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("INFRA_STATE_DIR", str(tmp_path / "one"))
    first = lock_path(ID)
    monkeypatch.setenv("INFRA_STATE_DIR", str(tmp_path / "two"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert lock_path(ID) == first and first.parent == machine_lock_dir()
    assert machine_lock_dir().name == f"infra-locks-{os.getuid()}"


def test_a_lock_directory_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "locks"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # someone made it before us, open to all: they could hold or fake our locks
    with (pytest.raises(MissingPrerequisite, match="is not a private directory of this user"),
          target_lock("docker://a", "docker-container://a1", runbook="x", locks_dir=shared)):
        pass

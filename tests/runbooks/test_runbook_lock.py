from __future__ import annotations

import os
import re

import pytest

from runbooks.lock import target_lock
from stacks.audit import actor
from stacks.errors import Blocked, ExitCode


def test_a_second_holder_is_refused_with_who_and_since(tmp_path):
    with (target_lock("docker://generic-corp-temporal", tmp_path, runbook="temporal-restart"),
          pytest.raises(Blocked) as refused,
          target_lock("docker://generic-corp-temporal", tmp_path, runbook="restart-container")):
        pass
    message = str(refused.value)
    assert refused.value.exit_code is ExitCode.BLOCKED
    assert f"locked by {actor()} (pid {os.getpid()}, temporal-restart) since " in message
    assert re.search(r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", message)


def test_lock_is_per_target_and_released_after_the_run(tmp_path):
    with target_lock("docker://a", tmp_path, runbook="x"), target_lock("docker://b", tmp_path, runbook="x"):
        pass
    with target_lock("docker://a", tmp_path, runbook="x"):
        pass
    assert not list(tmp_path.glob("*.json"))

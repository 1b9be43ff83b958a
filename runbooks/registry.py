"""The runbooks ``infra runbook`` knows, by name."""

from __future__ import annotations

import difflib

from runbooks import temporal_restart
from runbooks.engine import Runbook
from stacks.errors import InvalidInput

RUNBOOKS: dict[str, Runbook] = {temporal_restart.RUNBOOK.name: temporal_restart.RUNBOOK}
RESOLVERS = {temporal_restart.RUNBOOK.name: temporal_restart.resolve}


def get(name: str) -> Runbook:
    if name not in RUNBOOKS:
        close = difflib.get_close_matches(name, RUNBOOKS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(RUNBOOKS)}"
        raise InvalidInput(f"unknown runbook {name!r}", hint=f"{hint}; see `infra runbook list`")
    return RUNBOOKS[name]

"""The runbooks ``infra runbook`` knows, by name."""

from __future__ import annotations

import difflib

from runbooks import cost_breaker, rds_failover, redis_failover, rotate_secret, temporal_restart
from runbooks.engine import Runbook
from stacks.errors import InvalidInput

# Each module has RUNBOOK and resolve(env, *, target, health, timeout, grace) -> RunInputs.
_MODULES = (temporal_restart, cost_breaker, rds_failover, redis_failover, rotate_secret,)
RUNBOOKS: dict[str, Runbook] = {m.RUNBOOK.name: m.RUNBOOK for m in _MODULES}
RESOLVERS = {m.RUNBOOK.name: m.resolve for m in _MODULES}


def get(name: str) -> Runbook:
    if name not in RUNBOOKS:
        close = difflib.get_close_matches(name, RUNBOOKS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(RUNBOOKS)}"
        raise InvalidInput(f"unknown runbook {name!r}", hint=f"{hint}; see `infra runbook list`")
    return RUNBOOKS[name]

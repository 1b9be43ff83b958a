"""Settings an environment can never change once deployed, checked against its stack outputs before preview and
up (and the deploys and rollbacks that run up).

Temporal's ``numHistoryShards`` decides which shard owns each workflow: a cluster created with one count cannot
run with another (Temporal refuses to start, or worse, maps workflows to the wrong shards). The program exports
the count it deployed with (``temporal_history_shards``); a stack file asking for another is refused here,
before the engine runs, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stacks.errors import Blocked

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig
    from stacks.workspace import OutputValue

HISTORY_SHARDS_OUTPUT = "temporal_history_shards"


def check_history_shards(cfg: EnvironmentConfig, outputs: Mapping[str, OutputValue]) -> None:
    """Raise Blocked (exit 4) when the stack file's shard count differs from the one the environment runs with.
    No output yet (never deployed, or deployed before Temporal was part of the program): any count is a first."""
    deployed = outputs.get(HISTORY_SHARDS_OUTPUT)
    if deployed is None or deployed.value is None:
        return
    wanted = cfg.temporal.num_history_shards
    try:
        running = int(deployed.value)
    except (TypeError, ValueError):
        raise Blocked(f"{cfg.environment}'s output {HISTORY_SHARDS_OUTPUT} is {deployed.value!r}, not a shard count; "
                      "refusing to guess whether infra:temporal.numHistoryShards may change",
                      hint="check `infra outputs " + cfg.environment + "`") from None
    if running != wanted:
        raise Blocked(
            f"infra:temporal.numHistoryShards is {wanted} but {cfg.environment}'s Temporal was created with "
            f"{running}: the history shard count is fixed at a cluster's first deploy; nothing was changed",
            hint=f"set it back to {running} in Pulumi.{cfg.environment}.yaml (another count needs a new Temporal "
                 "cluster and a migration of its workflows)",
        )

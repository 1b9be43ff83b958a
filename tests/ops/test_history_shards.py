"""Temporal's history shard count is fixed at the first deploy: preview, up, deploy and rollback refuse another
one (exit 4) before the engine runs, reading what the environment was deployed with from its stack outputs."""

from __future__ import annotations

import pytest

from stacks.workspace import OutputValue
from tests.ops.conftest import IMAGE, one_error_line, release_record

STAGING_SHARDS = 128  # Pulumi.staging.yaml


def _deployed_with(fake, shards) -> None:
    fake.output_values = {"temporal_history_shards": OutputValue(shards, False),
                          "cluster_name": OutputValue("infra-staging", False)}


@pytest.mark.parametrize("args", [
    ["preview", "staging"],
    ["up", "staging", "--yes"],
    ["deploy", "staging", "--image", IMAGE.format("2.0.0"), "--yes"],
    ["rollback", "staging", "--yes"],
])
def test_a_changed_shard_count_is_refused_before_anything_runs(infra, fake, args):
    fake.history_records = [release_record(2, "1.1.0"), release_record(1, "1.0.0")]
    _deployed_with(fake, 512)
    result = infra(*args)
    assert result.exit_code == 4, result.output
    assert one_error_line(result) == (
        "error: infra:temporal.numHistoryShards is 128 but staging's Temporal was created with 512: the history "
        "shard count is fixed at a cluster's first deploy; nothing was changed (set it back to 512 in "
        "Pulumi.staging.yaml (another count needs a new Temporal cluster and a migration of its workflows))")
    assert fake.mutations() == [] and "preview" not in fake.names()


@pytest.mark.parametrize("outputs", [
    {},  # never deployed: the first deploy fixes the count
    {"cluster_name": OutputValue("infra-staging", False)},  # deployed before Temporal was part of the program
    {"temporal_history_shards": OutputValue(STAGING_SHARDS, False)},  # unchanged
])
def test_the_same_count_or_a_first_deploy_goes_ahead(infra, fake, outputs):
    fake.output_values = outputs
    result = infra("up", "staging", "--yes")
    assert result.exit_code == 0, result.output
    assert fake.mutations() == ["up"]


def test_an_unreadable_count_is_not_guessed(infra, fake):
    _deployed_with(fake, "many")
    result = infra("preview", "staging")
    assert result.exit_code == 4
    assert "output temporal_history_shards is 'many', not a shard count" in one_error_line(result)
    assert "preview" not in fake.names()

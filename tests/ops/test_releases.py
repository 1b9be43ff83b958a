"""Releases: `infra deploy`, `infra releases`, `infra rollback`, and the choice of rollback target."""

from __future__ import annotations

import json

import pytest

from stacks import releases
from stacks.errors import Blocked, InvalidInput, OperationFailed
from stacks.workspace import ReleaseSettings, StackLocked
from tests.ops.conftest import IMAGE, one_error_line, plain_record, release_record

COMMIT = "abc123def4567890abc123def4567890abc12345"


def _recorded(fake) -> releases.Release:
    return releases.releases(fake.history_records)[0]


# --- deploy ----------------------------------------------------------------------------------------------


def test_deploy_sets_the_image_runs_up_and_records_the_release(infra, fake):
    result = infra("deploy", "staging", "--image", IMAGE.format("1.4.2"), "--yes")
    assert result.exit_code == 0, result.output
    assert fake.mutations() == ["set_release_settings", "up"]  # config first, then the update
    [(_, written)] = [c for c in fake.calls if c[0] == "set_release_settings"]
    assert written["settings"] == ReleaseSettings(IMAGE.format("1.4.2"), 2, 2)
    release = _recorded(fake)
    assert (release.id, release.result, release.commit) == (1, "succeeded", COMMIT)
    assert release.settings.image == IMAGE.format("1.4.2")
    assert "image: (none) → registry.example.com/platform/app:1.4.2" in result.stdout
    assert "release 1 of staging: registry.example.com/platform/app:1.4.2" in result.stdout
    assert "Pulumi.staging.yaml now holds this release's settings: commit it" in result.stdout


def test_deploy_keeps_replicas_unless_given(infra, fake):
    fake.settings = ReleaseSettings(IMAGE.format("1.0.0"), 3, 2)
    result = infra("deploy", "prod", "--image", IMAGE.format("1.1.0"), "--worker-replicas", "4", "--yes")
    assert result.exit_code == 0, result.output
    assert fake.settings == ReleaseSettings(IMAGE.format("1.1.0"), 3, 4)
    assert "workerReplicas: 2 → 4" in result.stdout and "appReplicas" not in result.stdout.split("policy")[0]


@pytest.mark.parametrize(("image", "why"), [
    ("registry.example.com/platform/app", "has no tag or digest"),
    ("registry.example.com/platform/app:latest", "uses the moving tag 'latest'"),
    ("Registry Example/app:1", "is not a valid image reference"),
])
def test_bad_image_is_exit_2_and_nothing_runs(infra, fake, image, why):
    result = infra("deploy", "prod", "--image", image, "--yes")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith("error: --image: ") and why in line
    assert fake.opened == [] and fake.calls == []


def test_deploy_replicas_below_one_is_rejected(infra, fake):
    result = infra("deploy", "staging", "--image", IMAGE.format("1.0.0"), "--app-replicas", "0", "--yes")
    assert result.exit_code == 2 and fake.calls == []


def test_deploy_above_the_autoscalers_ceiling_is_exit_2_and_changes_nothing(infra, fake):
    # staging's workers may scale to 2 (infra:autoscaling.workerMaxReplicas): 3 as the floor cannot be
    result = infra("deploy", "staging", "--image", IMAGE.format("1.0.0"), "--worker-replicas", "3", "--yes")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "3 worker replicas is above infra:autoscaling.workerMaxReplicas (2)" in line
    assert "raise workerMaxReplicas first" in line
    assert fake.mutations() == []


def test_deploy_needs_yes_without_a_terminal(infra, fake):
    result = infra("deploy", "staging", "--image", IMAGE.format("1.0.0"))
    assert result.exit_code == 2
    assert one_error_line(result) == "error: refusing to change staging without --yes (no terminal to confirm)"
    assert fake.calls == []


def test_deploy_prod_shows_the_diff_then_wants_the_name(infra, fake, terminal):
    fake.settings = ReleaseSettings(IMAGE.format("1.0.0"), 3, 2)
    result = infra("deploy", "prod", "--image", IMAGE.format("2.0.0"), input="staging\n")
    assert result.exit_code == 2
    out = result.stdout
    assert out.index("image: registry.example.com/platform/app:1.0.0 → registry.example.com/platform/app:2.0.0") \
        < out.index("Type the environment name to continue")
    assert fake.mutations() == [] and fake.settings.image == IMAGE.format("1.0.0")


def test_a_failed_deploy_is_recorded_as_failed_and_points_to_rollback(infra, fake):
    before = ReleaseSettings(IMAGE.format("1.0.0"), 2, 2)
    fake.settings = before
    fake.fail["up"] = OperationFailed("up on staging failed: Deployment app: ImagePullBackOff")
    result = infra("deploy", "staging", "--image", IMAGE.format("9.9.9"), "--yes")
    assert result.exit_code == 1
    assert one_error_line(result) == ("error: up on staging failed: Deployment app: ImagePullBackOff (the update is "
                                      "recorded as a failed release and Pulumi.staging.yaml keeps the previous "
                                      "settings; `infra rollback staging` returns to the last good one)")
    assert _recorded(fake).result == "failed"
    assert fake.settings == before  # the next `infra up` (CI on merge) must not retry the failed release


@pytest.mark.parametrize(("error", "code"), [
    (Blocked("up on staging refused by policy infra-guardrails/workload-fits-quota: over quota"), 4),
    (KeyboardInterrupt(), 130),  # Ctrl-C while the update runs
])
def test_a_refused_or_interrupted_deploy_leaves_the_stack_file_as_it_was(infra, fake, error, code):
    before = ReleaseSettings(IMAGE.format("1.0.0"), 3, 2)
    fake.settings = before
    fake.fail["up"] = error
    result = infra("deploy", "prod", "--image", IMAGE.format("1.1.0"), "--worker-replicas", "4", "--yes")
    assert result.exit_code == code
    assert fake.settings == before
    assert fake.mutations()[-1] == "set_release_settings"


def test_a_failed_rollback_leaves_the_stack_file_as_it_was(infra, fake):
    fake.history_records = [release_record(2, "1.1.0"), release_record(1, "1.0.0")]
    fake.settings = ReleaseSettings(IMAGE.format("1.1.0"), 2, 2)
    fake.fail["up"] = OperationFailed("up on staging failed: timeout")
    result = infra("rollback", "staging", "--yes")
    assert result.exit_code == 1
    assert fake.settings == ReleaseSettings(IMAGE.format("1.1.0"), 2, 2)


def test_a_locked_stack_restores_the_file_and_is_exit_4(infra, fake):
    before = ReleaseSettings(IMAGE.format("1.0.0"), 2, 2)
    fake.settings = before
    fake.fail["up"] = StackLocked("staging is locked by another update")
    result = infra("deploy", "staging", "--image", IMAGE.format("1.1.0"), "--yes")
    assert result.exit_code == 4
    assert fake.settings == before
    assert [c[1]["settings"].image for c in fake.calls if c[0] == "set_release_settings"] == [
        IMAGE.format("1.1.0"), IMAGE.format("1.0.0")]


# --- releases --------------------------------------------------------------------------------------------


def test_releases_lists_only_releases_newest_first(infra, fake):
    fake.history_records = [release_record(6, "1.2.0", "failed"), plain_record(5, kind="refresh"),
                            release_record(4, "1.1.0"), plain_record(3), release_record(2, "1.0.0")]
    result = infra("releases", "prod", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(r["release"], r["result"]) for r in doc] == [(6, "failed"), (4, "succeeded"), (2, "succeeded")]
    assert doc[1]["image"] == IMAGE.format("1.1.0") and doc[1]["commit"].startswith("c0ffee04")
    table = infra("releases", "prod").stdout
    rows = {line.split()[1]: line for line in table.splitlines() if line.startswith("│")}
    assert "live" in rows["4"] and "live" not in rows["6"] + rows["2"]  # the newest good release is live
    assert fake.opened[-1] == ("prod", False) and fake.mutations() == []


# --- rollback target ---------------------------------------------------------------------------------------


def _found(*records):
    return releases.releases(records)


def test_target_is_the_previous_good_release():
    found = _found(release_record(3, "1.2.0"), release_record(2, "1.1.0"), release_record(1, "1.0.0"))
    assert releases.rollback_target("prod", found).id == 2


def test_a_failed_update_is_never_a_target():
    found = _found(release_record(4, "1.3.0"), release_record(3, "1.2.0", "failed"),
                   release_record(2, "1.1.0", "in-progress"), release_record(1, "1.0.0"))
    assert releases.rollback_target("prod", found).id == 1


def test_after_a_failed_release_the_last_good_one_is_the_target():
    found = _found(release_record(3, "1.2.0", "failed"), release_record(2, "1.1.0"), release_record(1, "1.0.0"))
    assert releases.rollback_target("prod", found).id == 2


def test_releases_with_the_live_settings_are_skipped():
    found = _found(release_record(3, "1.1.0"), release_record(2, "1.1.0"), release_record(1, "1.0.0"))
    assert releases.rollback_target("prod", found).id == 1


def test_rolling_back_twice_walks_further_back_instead_of_returning_to_the_bad_release():
    found = _found(release_record(4, "1.1.0", rollback_from=3, rollback_to=2), release_record(3, "1.2.0"),
                   release_record(2, "1.1.0"), release_record(1, "1.0.0"))
    assert releases.rollback_target("prod", found).id == 1


@pytest.mark.parametrize(("to", "message"), [
    (9, "prod has no release 9"),
    (2, "release 2 of prod failed; a failed release is never a rollback target"),
])
def test_explicit_target_must_exist_and_have_succeeded(to, message):
    found = _found(release_record(3, "1.2.0"), release_record(2, "1.1.0", "failed"), release_record(1, "1.0.0"))
    with pytest.raises(InvalidInput, match=message):
        releases.rollback_target("prod", found, to)
    assert releases.rollback_target("prod", found, 1).id == 1


def test_no_release_or_no_earlier_good_one():
    with pytest.raises(InvalidInput, match="prod has no releases yet"):
        releases.rollback_target("prod", [])
    with pytest.raises(InvalidInput, match="no earlier successful release"):
        releases.rollback_target("prod", _found(release_record(2, "1.1.0"), release_record(1, "1.0.0", "failed")))


def test_foreign_messages_are_not_releases():
    assert releases.parse(plain_record(1, message="infra release: someone typed this")) is None
    assert releases.parse(plain_record(2, kind="refresh", message=release_record(2, "1.0.0").message)) is None
    assert releases.parse_release_id("r12") == releases.parse_release_id("#12") == 12


# --- rollback command ---------------------------------------------------------------------------------------


def test_rollback_shows_the_diff_then_reapplies_and_records_itself(infra, fake, terminal):
    fake.history_records = [release_record(3, "1.2.0", "failed", replicas=(3, 2)), release_record(2, "1.1.0"),
                            release_record(1, "1.0.0")]
    fake.settings = ReleaseSettings(IMAGE.format("1.2.0"), 3, 2)
    result = infra("rollback", "staging", input="y\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "rolling staging back from release 3 to release 2" in out
    assert out.index("image: registry.example.com/platform/app:1.2.0 → registry.example.com/platform/app:1.1.0") \
        < out.index("appReplicas: 3 → 2") < out.index("[y/N]")
    assert fake.mutations() == ["set_release_settings", "up"]
    assert fake.settings == ReleaseSettings(IMAGE.format("1.1.0"), 2, 2)
    new = _recorded(fake)
    assert (new.id, new.result, new.rollback_from, new.rollback_to) == (4, "succeeded", 3, 2)
    assert new.settings == fake.settings and new.commit == COMMIT
    assert "release 4 of staging: back to release 2" in out


def test_rollback_to_a_release_above_todays_autoscaling_ceiling_is_refused(infra, fake):
    # release 1 ran 4 app replicas; staging's app may now scale only to 3
    fake.history_records = [release_record(2, "1.1.0"), release_record(1, "1.0.0", replicas=(4, 2))]
    result = infra("rollback", "staging", "--to", "1", "--yes")
    assert result.exit_code == 2
    assert "4 app replicas is above infra:autoscaling.appMaxReplicas (3)" in one_error_line(result)
    assert fake.mutations() == []


def test_rollback_to_an_explicit_release(infra, fake):
    fake.history_records = [release_record(3, "1.2.0"), release_record(2, "1.1.0"), release_record(1, "1.0.0")]
    result = infra("rollback", "prod", "--to", "1", "--yes")
    assert result.exit_code == 0, result.output
    assert fake.settings.image == IMAGE.format("1.0.0") and _recorded(fake).rollback_to == 1


@pytest.mark.parametrize(("to", "message"), [
    ("7", "error: prod has no release 7 (releases: 3, 2, 1)"),
    ("2", "error: release 2 of prod failed; a failed release is never a rollback target (see `infra releases prod`)"),
    ("latest", "error: 'latest' is not a release number (see `infra releases ENV`)"),
])
def test_rollback_to_a_missing_or_failed_release_is_exit_2_nothing_changed(infra, fake, to, message):
    fake.history_records = [release_record(3, "1.2.0"), release_record(2, "1.1.0", "failed"),
                            release_record(1, "1.0.0")]
    result = infra("rollback", "prod", "--to", to, "--yes")
    assert result.exit_code == 2
    assert one_error_line(result) == message
    assert fake.mutations() == []


def test_rollback_declined_changes_nothing(infra, fake, terminal):
    fake.history_records = [release_record(2, "1.1.0"), release_record(1, "1.0.0")]
    result = infra("rollback", "prod", input="nope\n")
    assert result.exit_code == 2 and fake.mutations() == []

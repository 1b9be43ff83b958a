"""`infra drift ENV`: through the fake stack for the command, the real Automation API signature and engine
events for the adapter, and moto's server for the alert."""

from __future__ import annotations

import inspect
import json

from pulumi import automation as auto
from pulumi.automation.events import EngineEvent

from stacks import workspace
from stacks.errors import MissingPrerequisite, OperationFailed
from stacks.workspace import ResourceStep
from tests.ops.conftest import one_error_line

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_URN = f"urn:pulumi:staging::infra::{SG}::infra-staging-postgres-sg"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_URN = f"urn:pulumi:staging::infra::{BUCKET}::infra-staging-edge-logs"
DB = "aws:rds/instance:Instance"
DB_URN = f"urn:pulumi:staging::infra::{DB}::infra-staging-postgres-instance"


def step(op, urn, type_, diffs=(), phase="start"):
    return ResourceStep(op, urn, type_, phase, planning=True, diffs=tuple(diffs))


DRIFT = [
    step("refresh", SG_URN, SG), step("refresh", BUCKET_URN, BUCKET),  # reading live state: not drift
    step("same", "urn:pulumi:staging::infra::pulumi:pulumi:Stack::infra-staging", "pulumi:pulumi:Stack"),
    step("update", SG_URN, SG, ["ingress (update)", "tags.owner (delete)"]),
    step("update", SG_URN, SG, phase="done"),
    step("create", BUCKET_URN, BUCKET),
    step("create-replacement", DB_URN, DB, ["instanceClass (update-replace)"]),
    step("replace", DB_URN, DB, ["instanceClass (update-replace)"]),
    step("delete-replaced", DB_URN, DB),
]


def test_no_drift_exit_0_and_nothing_changed(infra, fake):
    result = infra("drift", "staging")
    assert result.exit_code == 0, result.output
    assert "staging: no drift: the live environment matches the program" in result.stdout
    assert fake.opened == [("staging", True)] and fake.names() == ["drift_preview"] and fake.mutations() == []


def test_drift_is_listed_resource_by_resource_exit_5(infra, fake):
    fake.drift_events = DRIFT
    result = infra("drift", "staging")
    assert result.exit_code == 5, result.output
    assert result.stdout.splitlines()[-7:] == [
        "staging: 3 resources drifted from the program (`infra up staging` would put them back)",
        "  aws:ec2/securityGroup:SecurityGroup infra-staging-postgres-sg: differs",
        "      ingress (update)",
        "      tags.owner (delete)",
        "  aws:rds/instance:Instance infra-staging-postgres-instance: differs; up would replace it",
        "      instanceClass (update-replace)",
        "  aws:s3/bucket:Bucket infra-staging-edge-logs: missing (deleted outside the program); up would create it",
    ]
    assert result.stderr == "" and fake.mutations() == []


def test_drift_json_is_a_versioned_document(infra, fake):
    fake.drift_events = DRIFT
    result = infra("drift", "staging", "--json")
    assert result.exit_code == 5
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["environment"] == "staging" and doc["drift"] is True
    assert [(r["name"], r["op"]) for r in doc["resources"]] == [
        ("infra-staging-postgres-sg", "update"), ("infra-staging-postgres-instance", "create-replacement"),
        ("infra-staging-edge-logs", "create")]
    assert doc["resources"][0]["properties"] == ["ingress (update)", "tags.owner (delete)"]
    fake.drift_events = []
    clean = infra("drift", "staging", "--json")
    assert clean.exit_code == 0 and json.loads(clean.stdout) == {
        "version": 1, "environment": "staging", "drift": False, "resources": []}


def test_bad_input_and_missing_prerequisites_keep_their_codes(infra, fake, monkeypatch):
    assert infra("drift", "qa").exit_code == 2 and fake.calls == []

    def no_cli(env, *, cloud, create=False):
        raise MissingPrerequisite("the pulumi CLI is not on PATH")

    monkeypatch.setattr(workspace, "open_stack", no_cli)
    result = infra("drift", "prod")
    assert result.exit_code == 3 and one_error_line(result) == "error: the pulumi CLI is not on PATH"


def test_a_failed_preview_is_exit_1_not_drift(infra, fake):
    fake.fail["drift_preview"] = OperationFailed("drift preview on staging failed: AccessDenied")
    result = infra("drift", "staging")
    assert result.exit_code == 1
    assert one_error_line(result) == "error: drift preview on staging failed: AccessDenied"


def test_notify_sends_the_drift_report_to_the_alert_topic(infra, fake, aws):
    import boto3

    from tests.policies.test_spend import _subscribed_queue

    queue = _subscribed_queue("infra-staging-alerts")
    fake.drift_events = DRIFT
    result = infra("drift", "staging", "--notify")
    assert result.exit_code == 5
    assert "sent the drift report to arn:aws:sns:us-east-1:" in result.stderr
    [message] = boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=queue)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "[infra] staging: 3 resources drifted from the program"
    assert "infra-staging-postgres-sg: differs\n      ingress (update)" in envelope["Message"]
    fake.drift_events = []
    assert infra("drift", "staging", "--notify").exit_code == 0  # nothing to say: nothing sent
    assert "Messages" not in boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=queue)


# --- the adapter: the Automation API call and its engine events ------------------------------------------


class _PreviewStub:
    def __init__(self, events):
        self.events, self.kwargs = events, None

    def preview(self, **kwargs):
        # the very keywords the SDK's Stack.preview accepts (a renamed or removed one fails here)
        inspect.signature(auto.Stack.preview).bind(None, **kwargs)
        self.kwargs = kwargs
        for e in self.events:
            kwargs["on_event"](e)
        return type("R", (), {"change_summary": {"update": 1, "same": 90}})()


def test_the_adapter_runs_a_refresh_preview_with_property_diffs():
    update = EngineEvent.from_json({"sequence": 3, "timestamp": 1, "resourcePreEvent": {"planning": True, "metadata": {
        "op": "update", "urn": SG_URN, "type": SG, "provider": "", "diffs": ["ingress", "tags"],
        "detailedDiff": {"ingress[0].cidrBlocks[0]": {"diffKind": "update", "inputDiff": False},
                         "tags.owner": {"diffKind": "delete", "inputDiff": False}}}}})
    plain = EngineEvent.from_json({"sequence": 4, "timestamp": 1, "resourcePreEvent": {"planning": True, "metadata": {
        "op": "update", "urn": BUCKET_URN, "type": BUCKET, "provider": "", "diffs": ["versioning"]}}})
    stub = _PreviewStub([update, plain])
    adapter = object.__new__(workspace.PulumiStack)
    adapter.environment, adapter._stack = "staging", stub
    seen = []
    result = adapter.drift_preview(on_event=seen.append)
    assert stub.kwargs["refresh"] is True and stub.kwargs["diff"] is True
    assert "policy_packs" not in stub.kwargs and "expect_no_changes" not in stub.kwargs
    assert result.changes == {"update": 1, "same": 90}
    assert seen == [step("update", SG_URN, SG, ["ingress[0].cidrBlocks[0] (update)", "tags.owner (delete)"]),
                    step("update", BUCKET_URN, BUCKET, ["versioning"])]


def test_the_adapter_translates_a_failed_preview():
    import pytest

    class Failing(_PreviewStub):
        def preview(self, **kwargs):
            raise auto.CommandError(auto.CommandResult(stdout="", stderr="error: AccessDenied: s3:GetBucketPolicy\n",
                                                       code=255))

    adapter = object.__new__(workspace.PulumiStack)
    adapter.environment, adapter._stack = "prod", Failing([])
    with pytest.raises(OperationFailed, match="^drift preview on prod failed: AccessDenied: s3:GetBucketPolicy$"):
        adapter.drift_preview(on_event=lambda e: None)


def test_help_documents_the_drift_exit_code(infra):
    for args in (["--help"], ["drift", "--help"]):
        result = infra(*args)
        assert result.exit_code == 0 and "5 drift found" in result.stdout

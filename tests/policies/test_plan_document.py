"""A saved plan document is validated strictly before any rule runs: exit 2 naming the JSON path."""

from __future__ import annotations

import copy
import json
import os

import pytest
from typer.testing import CliRunner

from cli.main import app
from policies import plan_document
from policies.check import read_document
from stacks.errors import InvalidInput

RDS = "aws:rds/instance:Instance"


@pytest.fixture(scope="module")
def plan_doc(prod_plan):
    from cli.plan_view import document

    return document(prod_plan)


def _index(doc, type_):
    return next(i for i, r in enumerate(doc["resources"]) if r["type"] == type_)


def _write(tmp_path, doc, text=None):
    path = tmp_path / "plan.json"
    path.write_text(text if text is not None else json.dumps(doc))
    return path


def test_the_real_plan_validates(tmp_path, plan_doc):
    env, resources = read_document(_write(tmp_path, plan_doc))
    assert env == "prod" and len(resources) == sum(r["custom"] for r in plan_doc["resources"])


def _set(type_, field, value):
    def change(doc):
        doc["resources"][_index(doc, type_)][field] = value
    return change


def _input(type_, key, value):
    def change(doc):
        doc["resources"][_index(doc, type_)]["inputs"][key] = value
    return change


def _rename(type_, key, new_key):
    def change(doc):
        inputs = doc["resources"][_index(doc, type_)]["inputs"]
        inputs[new_key] = inputs.pop(key, True)
    return change


def _namespace(name):
    def change(doc):
        doc["resources"][_index(doc, "kubernetes:core/v1:Namespace")]["inputs"]["metadata"]["name"] = name
    return change


def _retype(type_, new_type):
    """A renamed type, the URN renamed to match: only the list of real types tells."""
    def change(doc):
        r = doc["resources"][_index(doc, type_)]
        r["type"], r["urn"] = new_type, r["urn"].replace(f"${type_}::", f"${new_type}::")
    return change


def _hide_rds(doc):  # a database marked as a component, so no rule would look at it
    doc["resources"][_index(doc, RDS)]["custom"] = False


def _relabel(doc):
    doc["environment"] = "staging"


def _nest(doc):
    deep: dict = {}
    node = deep
    for _ in range(60):
        node["x"] = {}
        node = node["x"]
    doc["resources"][_index(doc, RDS)]["inputs"]["tags"] = deep


# (change, JSON path in the error, words in the error)
CASES = [
    (_set(RDS, "custom", "true"), "$.resources[{rds}].custom", "'true' is not of type 'boolean'"),
    (_input(RDS, "publiclyAccessible", "true"), "$.resources[{rds}].inputs.publiclyAccessible",
     "is not of type 'boolean'"),
    (_input(RDS, "backupRetentionPeriod", "7"), "$.resources[{rds}].inputs.backupRetentionPeriod",
     "is not of type 'integer'"),
    (_rename(RDS, "publiclyAccessible", "PubliclyAccessible"), "$.resources[{rds}].inputs.PubliclyAccessible",
     "the engine's name is 'publiclyAccessible'"),
    (_input(RDS, "PubliclyAccessible", True), "$.resources[{rds}].inputs.PubliclyAccessible",
     "the same key as 'publiclyAccessible', spelled differently"),
    (_input("aws:eks/cluster:Cluster", "Tags", {}), "$.resources[{eks}].inputs.Tags",
     "the same key as 'tags', spelled differently"),
    (_set(RDS, "Custom", True), "$.resources[{rds}]", "'Custom' was unexpected"),
    (_set(RDS, "type", RDS + " "), "$.resources[{rds}].type", "does not match"),
    (_set(RDS, "type", "aws:RDS/instance:Instance"), "$.resources[{rds}].urn", "does not name this resource"),
    (_retype(RDS, "aws:rds/Instance:Instance"), "$.resources[{rds}].type",
     "'aws:rds/Instance:Instance' is not a resource type of the program's providers"),
    (_retype(RDS, "infra:aws:Database"), "$.resources[{rds}].type", "is not a resource type"),
    (_hide_rds, "$.resources[{rds}].type", "does not match"),
    (_namespace(" app"), "$.resources[{ns}].inputs.metadata.name", "does not match"),
    (_relabel, "$.resources[0].urn", "is not one of project 'infra' stack 'staging' (it names project 'infra', "
                                     "stack 'prod')"),
    (lambda doc: doc["resources"][5].update(urn=doc["resources"][5]["urn"].replace("::infra::", "::billing::")),
     "$.resources[5].urn", "not one of project 'infra' stack 'prod' (it names project 'billing'"),
    (_set(RDS, "inputs", "storageEncrypted"), "$.resources[{rds}].inputs", "is not of type 'object'"),
    (_input("aws:ec2/securityGroup:SecurityGroup", "ingress", "0.0.0.0/0"), "$.resources[{sg}].inputs.ingress",
     "is not of type 'array'"),
    (_input("aws:eks/cluster:Cluster", "vpcConfig", {"publicAccessCidrs": "0.0.0.0/0"}),
     "$.resources[{eks}].inputs.vpcConfig.publicAccessCidrs", "is not of type 'array'"),
    (_set(RDS, "parent", "urn:pulumi:prod::infra::infra:aws:Elsewhere::x"), "$.resources[{rds}].parent",
     "not the URN of a resource in the document"),
    (lambda doc: doc.update(resources="all of them"), "$.resources", "is not of type 'array'"),
    (lambda doc: doc.update(environment="qa"), "$.environment", "'qa' is not one of"),
    (lambda doc: doc.update(Environment="staging"), "$", "'Environment' was unexpected"),
    (lambda doc: doc["resources"].append(42), "$.resources[{last}]", "42 is not of type 'object'"),
    (_nest, "$.resources[{rds}].inputs.tags" + ".x" * 29, "nested deeper than a plan document's 32 levels"),
]


@pytest.mark.parametrize(("change", "where", "words"), CASES, ids=[c[1] + " " + c[2] for c in CASES])
def test_a_doctored_document_is_refused_with_the_path(tmp_path, plan_doc, change, where, words):
    doc = copy.deepcopy(plan_doc)
    change(doc)
    with pytest.raises(InvalidInput) as refused:
        read_document(_write(tmp_path, doc))
    where = where.format(rds=_index(plan_doc, RDS), eks=_index(plan_doc, "aws:eks/cluster:Cluster"),
                         sg=_index(plan_doc, "aws:ec2/securityGroup:SecurityGroup"), last=len(doc["resources"]) - 1,
                         ns=_index(plan_doc, "kubernetes:core/v1:Namespace"))
    assert f"plan.json: {where}: " in refused.value.message and words in refused.value.message, refused.value.message


@pytest.mark.parametrize(("text", "words"), [
    ('{"version": 1, "version": 1, "environment": "prod", "resources": []}', "key 'version' appears twice"),
    ('{"version": 1, "environment": "prod", "resources": [], "x": NaN}', "NaN is not a JSON number"),
    ("[" * 100_000 + "]" * 100_000, "nested deeper"),
    ('{"version": true, "environment": "prod", "resources": []}', "version True is not supported"),
    ('{"version": "1", "environment": "prod", "resources": []}', "version '1' is not supported"),
    ("\xff\xfe", "not UTF-8"),
])
def test_what_json_itself_lets_through_is_refused(tmp_path, text, words):
    path = tmp_path / "plan.json"
    path.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    with pytest.raises(InvalidInput, match=words):
        read_document(path)


def test_a_huge_document_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_document, "MAX_BYTES", 1000)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"version": 1, "environment": "prod", "resources": [], "pad": "x" * 2000}))
    with pytest.raises(InvalidInput, match="2,0[0-9]{2} bytes is more than a plan document's 1,000"):
        read_document(path)


def test_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_document(fifo)


def test_the_cli_exits_2_without_a_traceback_and_4_on_a_well_formed_insecure_plan(tmp_path, plan_doc):
    doc = copy.deepcopy(plan_doc)
    doc["resources"][_index(doc, RDS)]["inputs"]["publiclyAccessible"] = "true"
    path = _write(tmp_path, doc)
    result = CliRunner().invoke(app, ["policy", "check", str(path)], catch_exceptions=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert f"$.resources[{_index(doc, RDS)}].inputs.publiclyAccessible: 'true' is not of type 'boolean'" in line
    doc["resources"][_index(doc, RDS)]["inputs"]["publiclyAccessible"] = True
    result = CliRunner().invoke(app, ["policy", "check", str(_write(tmp_path, doc))], catch_exceptions=False)
    assert result.exit_code == 4 and "rds-not-public" in result.stdout


def test_the_schema_file_alone_says_the_same(plan_doc):
    """Other tools can validate with the file as it is (the reader only splits it by type for speed)."""
    from jsonschema import Draft202012Validator

    schema = json.loads(plan_document.SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert validator.is_valid(plan_doc)
    schema_cases = [c for c in CASES if any(w in c[2] for w in ("not of type", "does not match", "unexpected",
                                                                   "' is not one of"))]
    assert len(schema_cases) >= 10
    for change, where, _ in schema_cases:
        doc = copy.deepcopy(plan_doc)
        change(doc)
        assert not validator.is_valid(doc), where

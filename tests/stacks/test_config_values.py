"""Values AWS or Kubernetes would refuse (or that make no sense) are refused before anything is planned,
with one line naming the file and the key; numbers are finite and bounded."""

from __future__ import annotations

import pytest

from stacks import config
from stacks.errors import ConfigError, ExitCode
from tests.conftest import ROOT
from tests.stacks.test_config import _set

INF, NAN = float("inf"), float("nan")


def _add(key, value):
    def mutate(cfg):
        cfg[key] = value
    return mutate


BAD = [
    # (env, mutation, words the one-line error must contain)
    ("staging", _set("owner", None), ["infra:owner: no value (null)"]),
    ("staging", _set("owner", "sre\x07team"), ["infra:owner", "'\\x07'", "AWS tag values do not accept"]),
    ("staging", _set("owner", "sre; rm -rf /"), ["infra:owner", "';'", "letters, digits, spaces and _ . : / = + - @"]),
    ("staging", _set("owner", "x" * 257), ["infra:owner", "at most 256 characters"]),
    ("staging", _set("owner", ""), ["infra:owner", "at least 1 character"]),
    ("staging", _set("costCenter", " cc"), ["infra:costCenter", "starts or ends with a space"]),
    ("staging", _set("budget.monthlyUsd", INF), ["infra:budget.monthlyUsd", "finite number"]),
    ("staging", _set("budget.monthlyUsd", NAN), ["infra:budget.monthlyUsd", "finite number"]),
    ("staging", _set("budget.monthlyUsd", 1e308), ["infra:budget.monthlyUsd", "less than or equal to 1000000"]),
    ("staging", _set("budget.monthlyUsd", 0), ["infra:budget.monthlyUsd", "greater than 0"]),
    ("staging", _set("budget.alertEmails", ["sre\x07@example.org"]), ["infra:budget.alertEmails", "not an email"]),
    ("staging", _set("postgres.allocatedStorageGb", 65537), ["infra:postgres.allocatedStorageGb", "65536"]),
    ("staging", _set("postgres.maxAllocatedStorageGb", 10**12), ["infra:postgres.maxAllocatedStorageGb", "65536"]),
    ("staging", _set("postgres.allocatedStorageGb", 19), ["infra:postgres.allocatedStorageGb", "20"]),
    ("staging", _set("postgres.instanceClass", "db.t3.micro$(id)"), ["infra:postgres.instanceClass", "pattern"]),
    ("staging", _set("redis.nodeType", "cache.t3.micro`id`"), ["infra:redis.nodeType", "pattern"]),
    ("staging", _set("redis.replicas", 6), ["infra:redis.replicas", "less than or equal to 5"]),
    ("staging", _set("eks.nodeGroups.0.maxSize", 10_000), ["infra:eks.nodeGroups[0].maxSize", "450"]),
    ("staging", _set("eks.nodeGroups.0.desiredSize", 451), ["infra:eks.nodeGroups[0].desiredSize", "450"]),
    ("staging", _set("eks.nodeGroups.0.diskSizeGb", 20_000), ["infra:eks.nodeGroups[0].diskSizeGb", "16384"]),
    ("staging", _set("eks.nodeGroups.0.instanceTypes", ["t3.large;reboot"]),
     ["infra:eks.nodeGroups[0].instanceTypes[0]", "pattern"]),
    ("staging", _set("eks.access.0.namespaces", ["../etc"]), ["infra:eks.access[0].namespaces[0]", "pattern"]),
    ("staging", _set("network.availabilityZones", ["us-east-1a", "us-east-1b && id"]),
     ["infra:network.availabilityZones[1]", "pattern"]),
    ("staging", _set("network.flowLogRetentionDays", 100),
     ["infra:network.flowLogRetentionDays", "CloudWatch Logs does not keep logs for 100 days; use 90 or 120"]),
    ("staging", _set("eks.logRetentionDays", 0), ["infra:eks.logRetentionDays", "use 1 ("]),
    ("staging", _set("eks.logRetentionDays", 5000), ["infra:eks.logRetentionDays", "use 3653 ("]),
    ("staging", _set("edge.wafLogRetentionDays", 2), ["infra:edge.wafLogRetentionDays", "use 1 or 3"]),
    ("staging", _set("edge.accessLogRetentionDays", 10**9), ["infra:edge.accessLogRetentionDays", "3653"]),
    ("staging", _set("alarms.apiP95LatencyMs", INF), ["infra:alarms.apiP95LatencyMs", "finite number"]),
    ("staging", _set("alarms.databaseConnections", 10**9), ["infra:alarms.databaseConnections", "262143"]),
    ("staging", _set("kubernetes.quotas.app.cpuCores", NAN), ["infra:kubernetes.quotas.app.cpuCores", "finite"]),
    ("staging", _set("kubernetes.quotas.app.cpuCores", 1e-300),
     ["infra:kubernetes.quotas.app.cpuCores", "rounds to nothing in Kubernetes units; give at least 0.001 (1m)"]),
    ("staging", _set("owner", "null"), ["infra:owner", "'null' reads as a missing value"]),
    ("staging", _set("kubernetes.appNamespace", "a" * 64), ["infra:kubernetes.appNamespace", "at most 63"]),
    ("staging", _set("release.appReplicas", 10**6), ["infra:release.appReplicas", "1000"]),
    ("staging", _add("infra:runbooks", {"temporal": {"health": "ftp://127.0.0.1:21"}}),
     ["infra:runbooks.temporal.health", "unknown scheme 'ftp'", "use tcp://"]),
    ("staging", _add("infra:runbooks", {"temporal": {"health": "tcp://127.0.0.1"}}),
     ["infra:runbooks.temporal.health", "has no port"]),
    ("staging", _add("infra:runbooks", {"temporal": {"target": "docker://../../etc"}}),
     ["infra:runbooks.temporal.target", "does not name a container"]),
    ("staging", _add("infra:runbooks", {"temporal": {"target": "k8s://../deployment/temporal"}}),
     ["infra:runbooks.temporal.target", "is not NAMESPACE/KIND/NAME"]),
    ("staging", _add("infra:runbooks", {"temporal": {"target": "ssh://host"}}),
     ["infra:runbooks.temporal.target", "unknown form"]),
    ("staging", _add("infra:runbooks", {"temporal": {"timeoutSeconds": INF}}),
     ["infra:runbooks.temporal.timeoutSeconds", "finite number"]),
    ("staging", _add("infra:runbooks", {"temporal": {"timeoutSeconds": 1e308}}),
     ["infra:runbooks.temporal.timeoutSeconds", "less than or equal to 86400"]),
    ("staging", _add("infra:runbooks", {"temporal": {"timeoutSeconds": 0}}),
     ["infra:runbooks.temporal.timeoutSeconds", "greater than 0"]),
    ("staging", _add("infra:runbooks", {"temporal": {"graceSeconds": NAN}}),
     ["infra:runbooks.temporal.graceSeconds", "finite number"]),
    ("staging", _add("infra:runbooks", {"temporal": {"graceSeconds": -1}}),
     ["infra:runbooks.temporal.graceSeconds", "greater than or equal to 0"]),
    ("staging", _set("redis.replicas", True), ["infra:redis.replicas", "a number is needed, not true"]),
    ("staging", _set("budget.monthlyUsd", False), ["infra:budget.monthlyUsd", "a number is needed, not false"]),
    ("staging", _add("aws:profile", "sre\x1b[2J"), ["aws:profile", "pattern"]),
    ("staging", _set("network.availabilityZones", ["eu-west-1a", "us-east-1b"]),
     ["infra:network.availabilityZones: eu-west-1a not in the stack's region us-east-1 (aws:region)"]),
    ("staging", _add("owner", "someone-else"), ["infra:owner: given twice (as 'owner' and 'infra:owner')"]),
    ("staging", _add("aws:regionn", "us-east-1"), ["aws:regionn: unknown key; did you mean 'aws:region'?"]),
    ("staging", _add("kubernetes:kubeconfg", "x"),
     ["kubernetes:kubeconfg: unknown key; did you mean 'kubernetes:kubeconfig'?"]),
    ("staging", _add("infar:owner", "x"), ["infar:owner: unknown namespace 'infar'; did you mean 'infra:owner'?"]),
    ("staging", _add("acme:thing", "x"), ["acme:thing: unknown namespace 'acme'; the namespaces read are infra, aws"]),
]


@pytest.mark.parametrize(("env", "mutate", "expected"), BAD, ids=[b[2][0][:50] for b in BAD])
def test_bad_value_names_file_and_key(write_config, env, mutate, expected):
    path = write_config(env, mutate)
    with pytest.raises(ConfigError) as caught:
        config.load(env, path)
    message = str(caught.value)
    assert message.startswith(f"Pulumi.{env}.yaml: ") and "\n" not in message
    for words in expected:
        assert words in message
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


def test_a_huge_owner_from_the_engine_gives_a_short_error():
    """Pulumi hands the program a flat map (no file size limit on that path): the error stays one short line."""
    flat = config.read_stack_file(ROOT / "Pulumi.staging.yaml")
    flat["infra:owner"] = "x" * 2_000_000
    with pytest.raises(ConfigError) as caught:
        config.from_flat("staging", flat, source="Pulumi.staging.yaml")
    assert "infra:owner" in str(caught.value) and "at most 256 characters" in str(caught.value)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("mutate", [
    _set("owner", "Équipe Données: SRE/plateforme @ paris"),
    _set("network.flowLogRetentionDays", 3653),
    _set("budget.monthlyUsd", 1_000_000),
    _set("redis.replicas", 5),
    _set("eks.nodeGroups.0.instanceTypes", ["u-6tb1.metal", "c5n.18xlarge"]),
    _add("aws:defaultTags", {"tags": {"team": "sre"}}),
    _add("pulumi:disable-default-providers", ["kubernetes"]),
    _add("kubernetes:context", "staging"),
    _add("infra:runbooks", {"temporal": {"target": "k8s://temporal/deployment/temporal-frontend",
                                         "health": "grpc://temporal-frontend.temporal:7233",
                                         "timeoutSeconds": 86400, "graceSeconds": 0}}),
])
def test_values_within_the_bounds_are_accepted(write_config, mutate):
    assert config.load("staging", write_config("staging", mutate)).environment == "staging"


def test_provider_namespaces_match_the_installed_sdks():
    """The provider keys accepted are the providers' own: the pulumi-aws SDK's config variables and the
    pulumi-kubernetes provider's arguments (so an SDK upgrade adding a key fails here, not in a user's file)."""
    import inspect
    import re

    import pulumi_aws.config
    import pulumi_kubernetes.provider as k8s_provider
    from pydantic.alias_generators import to_camel

    aws = set(re.findall(r"__config__\.get\w*\('(\w+)'\)", inspect.getsource(pulumi_aws.config.vars)))
    assert aws == set(config.FOREIGN_KEYS["aws"])
    k8s = {to_camel(p) for p in inspect.signature(k8s_provider.Provider._internal_init).parameters} - {
        "self", "resourceName", "opts", "__props__", "__self__"}
    assert k8s <= set(config.FOREIGN_KEYS["kubernetes"])

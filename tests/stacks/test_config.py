"""The environment model rejects mistakes before anything runs, naming the file and the key."""

from __future__ import annotations

import pytest

from stacks import config
from stacks.errors import ConfigError, ExitCode


def _set(path: str, value):
    """A mutation setting ``infra:section.key`` (dots; [i] for list items) in a stack file's config."""

    def mutate(cfg):
        head, *rest = path.split(".")
        if not rest:
            cfg[f"infra:{head}"] = value
            return
        node = cfg[f"infra:{head}"]
        for part in rest[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = rest[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _two_zones(cfg):
    """Prod with two zones and a consistent layout for two, so only the three-AZ rule can object."""
    network = cfg["infra:network"]
    for key in ("availabilityZones", "publicSubnets", "privateSubnets", "databaseSubnets"):
        network[key] = network[key][:2]


def test_both_environments_load(staging_cfg, prod_cfg):
    assert staging_cfg.environment == "staging" and prod_cfg.environment == "prod"
    assert staging_cfg.network.nat_gateways == "single"
    assert prod_cfg.network.nat_gateways == "onePerAz"
    assert len(prod_cfg.network.availability_zones) == 3
    assert prod_cfg.postgres.deletion_protection and prod_cfg.postgres.multi_az


BAD = [
    # (env, mutation, words the one-line error must contain)
    ("staging", _set("network.cidr", "10.20.0.0/33"), ["infra:network.cidr", "not a valid IPv4 CIDR"]),
    ("staging", _set("network.publicSubnets.1", "10.20.0.128/25"),
     ["infra:network.publicSubnets: 10.20.0.128/25 overlaps publicSubnets 10.20.0.0/22"]),
    ("staging", _set("network.databaseSubnets.0", "10.99.0.0/24"),
     ["infra:network.databaseSubnets: 10.99.0.0/24 is outside the VPC"]),
    ("staging", _set("network.availabilityZones", ["us-east-1a"]),
     ["infra:network.availabilityZones", "at least 2 availability zones"]),
    ("prod", _set("network.availabilityZones", ["us-east-1a", "us-east-1b"]),
     ["infra:network.publicSubnets: 3 subnets for 2 availability zones"]),
    ("prod", _two_zones, ["infra:network.availabilityZones: prod needs at least 3 availability zones"]),
    ("staging", _set("eks.nodeGroups.0.minSize", 5),
     ["infra:eks.nodeGroups[0]", "minSize <= desiredSize <= maxSize", "5 <= 2 <= 4"]),
    ("staging", _set("eks.nodeGroups.0.minSize", "two"), ["infra:eks.nodeGroups[0].minSize", "'two'"]),
    ("staging", _set("eks.publicAccessCidrs", ["0.0.0.0/0"]), ["infra:eks.publicAccessCidrs", "internet"]),
    # judged as an address set: halves of the internet, a non-canonical spelling, a /2 of it
    ("staging", _set("eks.publicAccessCidrs", ["0.0.0.0/1", "128.0.0.0/1"]),
     ["infra:eks.publicAccessCidrs: 0.0.0.0/1, 128.0.0.0/1 together open the Kubernetes API to the internet"]),
    ("staging", _set("eks.publicAccessCidrs", ["64.0.0.0/2"]), ["infra:eks.publicAccessCidrs", "internet"]),
    ("staging", _set("eks.publicAccessCidrs", ["0.0.0.0/0 "]), ["infra:eks.publicAccessCidrs", "not a valid IPv4"]),
    ("staging", _set("eks.publicAccessCidrs", ["::/0"]), ["infra:eks.publicAccessCidrs", "not a valid IPv4"]),
    ("prod", _set("postgres.multiAz", False), ["infra:postgres.multiAz", "prod must be Multi-AZ"]),
    ("prod", _set("postgres.deletionProtection", False), ["infra:postgres.deletionProtection"]),
    ("prod", _set("postgres.backupRetentionDays", 3), ["infra:postgres.backupRetentionDays", "at least 7"]),
    ("prod", _set("network.natGateways", "single"), ["infra:network.natGateways", "onePerAz"]),
    ("prod", _set("eks.nodeGroups.0.capacityType", "SPOT"), ["infra:eks.nodeGroups: prod needs an ON_DEMAND"]),
    ("prod", _set("budget.alertEmails", []), ["infra:budget.alertEmails: prod needs someone to receive"]),
    ("staging", _set("postgres.multiAZ", True), ["infra:postgres.multiAZ", "did you mean 'multiAz'"]),
    ("prod", _set("autoscaling.appMaxReplicas", 2),
     ["infra:autoscaling.appMaxReplicas: 2 is below release.appReplicas (3)", "raise it to 3"]),
    ("staging", _set("autoscaling.targetCpuPercent", 0), ["infra:autoscaling.targetCpuPercent"]),
    ("staging", _set("alarms.apiP99LatencyMs", 300),
     ["infra:alarms.apiP95LatencyMs: latency targets must rise with the percentile", "p99 300"]),
    ("staging", _set("alarms.availabilitySloPercent", 100), ["infra:alarms.availabilitySloPercent"]),
    ("staging", _set("alarms.slack", {"workspaceId": "T0123ABCDE", "channelId": "#alerts"}),
     ["infra:alarms.slack.channelId"]),
    ("staging", _set("alarms.slack", {"workspaceId": "T0123ABCDE"}), ["infra:alarms.slack.channelId",
                                                                      "required key is missing"]),
    ("staging", _set("alarms.healthCheckDomain", "https://api.example.com/readyz"), ["infra:alarms.healthCheckDomain"]),
    ("staging", _set("budget.reportSender", "finops"), ["infra:budget.reportSender"]),
    ("staging", _set("postgress", {"a": 1}), ["infra:postgress", "did you mean 'postgres'"]),
    ("staging", _set("redis.replicas", 0), ["infra:redis.replicas", "greater than or equal to 1"]),
    ("staging", _set("kubernetes.quotas.worker", {"cpuCores": 1, "memoryGb": 1, "pods": 1}),
     ["infra:kubernetes.quotas.worker", "did you mean 'workers'"]),
    ("staging", _set("kubernetes.quotas.app", {"cpuCores": 4, "memoryGB": 8, "pods": 20}),
     ["infra:kubernetes.quotas.app.memoryGB: unknown key; did you mean 'memoryGb'"]),
    ("staging", _set("kubernetes.quotas.app.cpuCores", 0), ["infra:kubernetes.quotas.app.cpuCores", "greater than 0"]),
    ("staging", lambda c: c.pop("infra:owner"), ["infra:owner", "missing"]),
    ("staging", _set("edge.nodePort", 8080), ["infra:edge.nodePort", "greater than or equal to 30000"]),
    ("prod", _set("edge.certificateArn", "arn:aws:iam::111122223333:server-certificate/api"),
     ["infra:edge.certificateArn", "pattern"]),
    ("staging", lambda c: c.pop("infra:edge"), ["infra:edge", "missing"]),
    ("staging", _set("eks.access.0.principalArn", "sre-oncall"), ["infra:eks.access[0].principalArn", "pattern"]),
    ("staging", _set("eks.access.0.access", "owner"), ["infra:eks.access[0].access", "'view', 'edit'"]),
    ("prod", _set("eks.access.3.namespaces", ["temporal"]),
     ["infra:eks.access[3]", "cluster-admin is cluster-wide", "use admin or edit with namespaces"]),
    ("staging", _set("eks.access.1.principalArn", "arn:aws:iam::111122223333:role/sre-oncall"),
     ["infra:eks.access", "each principalArn may appear once"]),
]


@pytest.mark.parametrize(("env", "mutate", "expected"), BAD, ids=[b[2][0] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_config_names_file_and_key(write_config, env, mutate, expected):
    path = write_config(env, mutate)
    with pytest.raises(ConfigError) as caught:
        config.load(env, path)
    message = str(caught.value)
    assert message.startswith(f"Pulumi.{env}.yaml: ")
    assert "\n" not in message
    for words in expected:
        assert words in message
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


@pytest.mark.parametrize("name", ["qa", "../prod", "", "Prod"])
def test_unknown_environment(name):
    with pytest.raises(ConfigError, match="(unknown environment|environment name is empty).*use one of: staging, prod"):
        config.check_environment(name)


@pytest.mark.parametrize(("content", "expected"), [
    ("", "file is empty"),
    ("config: [unclosed", "not valid YAML at line 1"),
    ("just a string", "no 'config:' mapping"),
    ("config:\n  infra:owner:\n    secure: AAAA\n", "encrypted values are not used"),
])
def test_unreadable_files(tmp_path, content, expected):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        config.load("staging", path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load("staging", tmp_path / "nope.yaml")


def test_pulumi_engine_config_reads_the_same(staging_cfg):
    """The program reads the same flat map the engine passes in PULUMI_CONFIG."""
    from tests.conftest import ROOT

    flat = config.read_stack_file(ROOT / "Pulumi.staging.yaml")
    assert config.from_flat("staging", flat, source="x") == staging_cfg
    # Values arrive from the engine as strings; structured ones JSON-encoded.
    assert all(isinstance(v, str) for v in flat.values())


def test_tags_carry_ownership(staging_cfg):
    tags = staging_cfg.tags(Name="x")
    assert tags["environment"] == "staging"
    assert tags["project"] == "infra"
    assert tags["owner"] == "platform-sre"
    assert tags["cost-center"] == "ai-cost-platform"


@pytest.mark.parametrize("image", [
    "ghcr.io/generic-corp/api:1.4.2",
    "registry.example:5000/team/api:2026-11-23.1",
    "api@sha256:" + "a" * 64,
    "generic-corp/api:latest@sha256:" + "b" * 64,
])
def test_pinned_image_references_are_accepted(image):
    assert config.check_image(image) == image


@pytest.mark.parametrize(("image", "why"), [
    ("ghcr.io/generic-corp/api", "no tag or digest"),
    ("ghcr.io/generic-corp/api:latest", "moving tag 'latest'"),
    ("Generic/API:1", "not a valid image reference"),
    ("api:1 ; rm -rf /", "not a valid image reference"),
])
def test_unpinned_or_malformed_images_are_refused(image, why):
    with pytest.raises(ValueError, match=why):
        config.check_image(image)


def test_budget_must_be_positive(write_config):
    path = write_config("staging", lambda c: c["infra:budget"].update(monthlyUsd=0))
    with pytest.raises(ConfigError, match=r"infra:budget.monthlyUsd: Input should be greater than 0"):
        config.load("staging", path)


def test_every_setting_is_documented_in_the_readme():
    """The README's key table is how operators learn the settings: a new field must appear there."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {m.group(1): line for line in readme.splitlines() if (m := re.match(r"\| `infra:(\w+)`", line))}
    missing = []
    for name, field in config.EnvironmentConfig.model_fields.items():
        key = field.alias or name
        if key not in config.KNOWN_KEYS or key in {"owner", "costCenter"}:  # those two share a row
            continue
        if key not in rows:
            missing.append(f"infra:{key}")
        elif isinstance(field.annotation, type) and issubclass(field.annotation, config.BaseModel):
            # a section: each of its settings is named in its row (`name`, `name[]` or `name.sub`)
            missing += [f"infra:{key}.{sub}" for sub in (f.alias or n for n, f in field.annotation.model_fields.items())
                        if not re.search(rf"`{sub}[`\[.]", rows[key])]
    assert "| `infra:owner`, `infra:costCenter` |" in readme
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_example_values_are_named_and_real_ones_pass(staging_cfg):
    assert config.example_values(staging_cfg) == [
        "eks.publicAccessCidrs 203.0.113.0/24 (documentation ranges)",
        "eks.access principals in account 111122223333 (AWS's documentation examples)",
        "edge.certificateArn in account 111122223333 (an example)",
        "budget.alertEmails sre@generic-corp.example, ceo@generic-corp.example (reserved example domains)",
    ]
    own = staging_cfg.model_copy(update={
        "eks": staging_cfg.eks.model_copy(update={
            "public_access_cidrs": ["198.18.7.0/24"],
            "access": [config.AccessEntryConfig(principal_arn="arn:aws:iam::409876543210:role/sre", access="view")]}),
        "budget": staging_cfg.budget.model_copy(update={"alert_emails": ["sre@example-corp.io"]}),
        "edge": staging_cfg.edge.model_copy(update={"certificate_arn": staging_cfg.edge.certificate_arn.replace(
            "111122223333", "409876543210")}),
    })
    assert config.example_values(own) == []

"""How a captured plan is shown: a tree grouped by component, or a stable versioned JSON document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from stacks.offline import STACK_TYPE, Plan, PlannedResource

DOCUMENT_VERSION = 1
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"

# The settings an SRE reviews first, per resource type (engine property names).
KEY_SETTINGS: dict[str, list[str]] = {
    "aws:ec2/vpc:Vpc": ["cidrBlock"],
    "aws:ec2/subnet:Subnet": ["cidrBlock", "availabilityZone"],
    "aws:ec2/natGateway:NatGateway": [],
    "aws:ec2/flowLog:FlowLog": ["trafficType", "logDestinationType"],
    "aws:cloudwatch/logGroup:LogGroup": ["name", "retentionInDays"],
    "aws:kms/key:Key": ["enableKeyRotation", "deletionWindowInDays"],
    "aws:kms/alias:Alias": ["name"],
    "aws:eks/cluster:Cluster": ["name", "version", "enabledClusterLogTypes", "vpcConfig.endpointPublicAccess",
                                "vpcConfig.publicAccessCidrs"],
    "aws:eks/nodeGroup:NodeGroup": ["instanceTypes", "scalingConfig", "capacityType"],
    "aws:eks/addon:Addon": ["addonName", "configurationValues"],
    "aws:eks/accessEntry:AccessEntry": ["principalArn"],
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ["principalArn", "accessScope"],  # policy: in the name
    "aws:rds/instance:Instance": ["instanceClass", "engineVersion", "multiAz", "storageEncrypted",
                                  "manageMasterUserPassword", "backupRetentionPeriod", "deletionProtection",
                                  "publiclyAccessible"],
    "aws:rds/parameterGroup:ParameterGroup": ["family"],
    "aws:s3/bucket:Bucket": ["bucket", "bucketPrefix"],
    "aws:elasticache/replicationGroup:ReplicationGroup": [
        "nodeType", "numCacheClusters", "automaticFailoverEnabled", "multiAzEnabled",
        "atRestEncryptionEnabled", "transitEncryptionEnabled", "snapshotRetentionLimit"],
    "aws:secretsmanager/secret:Secret": ["name"],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["ipProtocol", "fromPort", "toPort"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["policyArn"],
    "aws:lb/loadBalancer:LoadBalancer": ["internal", "dropInvalidHeaderFields", "enableDeletionProtection"],
    "aws:lb/listener:Listener": ["port", "protocol", "sslPolicy"],
    "aws:lb/targetGroup:TargetGroup": ["port", "targetType", "healthCheck.path"],
    "aws:wafv2/webAcl:WebAcl": ["scope"],  # and its rules, in words (IN_WORDS)
    "kubernetes:core/v1:Namespace": ["metadata.name"],
    NETWORK_POLICY: ["metadata.namespace"],  # and its flows, in words (IN_WORDS)
    "kubernetes:core/v1:ResourceQuota": ["metadata.namespace", "spec.hard"],
    "kubernetes:core/v1:LimitRange": ["metadata.namespace"],
    DEPLOYMENT: ["metadata.namespace", "spec.replicas"],  # and its containers, in words (IN_WORDS)
    JOB: ["metadata.namespace", "spec.backoffLimit"],
    "kubernetes:core/v1:Service": ["metadata.namespace", "spec.type"],
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": ["metadata.namespace", "spec.minReplicas",
                                                          "spec.maxReplicas"],
    "aws:route53/healthCheck:HealthCheck": ["type", "fqdn", "resourcePath"],
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": ["alarmRule"],
    "aws:cloudwatch/dashboard:Dashboard": ["dashboardName"],
    "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration": ["slackTeamId", "slackChannelId"],
}


def document(plan: Plan) -> dict[str, Any]:
    """The ``--json`` document. Version 1 fields never change meaning; new fields may be added."""
    stack_urns = {r.urn for r in plan.resources if r.type == STACK_TYPE}
    resources = sorted((r for r in plan.resources if r.type != STACK_TYPE), key=lambda r: r.urn)
    return {
        "version": DOCUMENT_VERSION,
        "environment": plan.environment,
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "urn": r.urn,
                "parent": None if r.parent in stack_urns else r.parent,
                "custom": r.custom,
                "id": r.id,
                "protect": r.protect,
                "inputs": r.inputs,
            }
            for r in resources
        ],
    }


def show(plan: Plan, region: str, as_json: bool):
    """Print a plan: the versioned document on stdout (kept pure for `infra policy check`), or the
    tables. Returns the console for what follows (verdicts): stderr with --json."""
    import json

    import typer

    from cli.output import console, err_console

    if as_json:
        typer.echo(json.dumps(document(plan), indent=2, sort_keys=True))
        return err_console
    out = console()
    for renderable in render(plan, region):
        out.print(renderable)
    out.print()
    return out


def _lookup(inputs: dict[str, Any], dotted: str) -> Any:
    value: Any = inputs
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _flows(inputs: dict[str, Any]) -> list[str]:
    """A NetworkPolicy's allowed flows in words (or what it denies): what a reviewer checks first."""
    spec = inputs.get("spec") or {}
    lines = []
    for direction, peers_key, word in (("egress", "to", "to"), ("ingress", "from", "from")):
        for rule in spec.get(direction) or []:
            peers = ", ".join(_peer(p) for p in rule.get(peers_key) or []) or "anywhere"
            ports = ",".join(f"{p.get('port', 'any')}/{p.get('protocol', 'TCP')}" for p in rule.get("ports") or [])
            lines.append(f"{direction} {word} {peers} on {ports or 'any port'}")
    return lines or [f"denies all {' and '.join(t.lower() for t in spec.get('policyTypes') or [])}"]


def _peer(peer: dict[str, Any]) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        excepted = block.get("except") or []
        return block.get("cidr", "?") + (f" except {len(excepted)} private ranges" if excepted else "")
    parts = []
    if "namespaceSelector" in peer:
        labels = (peer["namespaceSelector"] or {}).get("matchLabels") or {}
        parts.append(f"namespace {labels.get('kubernetes.io/metadata.name', 'any')}")
    if "podSelector" in peer:
        labels = (peer["podSelector"] or {}).get("matchLabels") or {}
        parts.append("pods " + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) if labels else
                     "all pods" if parts else "pods of this namespace")
    return " ".join(parts) or "anywhere"


def _waf_rule(rule: dict[str, Any]) -> str:
    statement = rule.get("statement") or {}
    if "rateBasedStatement" in statement:
        rate = statement["rateBasedStatement"]
        return f"{rule.get('name')}: block over {rate.get('limit')} requests per {rate.get('aggregateKeyType')} " \
               f"per {rate.get('evaluationWindowSec', 300)} s"
    managed = statement.get("managedRuleGroupStatement") or {}
    return f"{rule.get('name')}: {managed.get('vendorName', '')} managed rules" if managed else str(rule.get("name"))


def _containers(inputs: dict[str, Any]) -> list[str]:
    """Each container of a workload's pods: image and limits (init containers marked)."""
    pod = ((inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
    lines = []
    for kind, containers in (("init ", pod.get("initContainers")), ("", pod.get("containers"))):
        for c in containers or []:
            limits = ((c.get("resources") or {}).get("limits")) or {}
            shown = ", ".join(f"{k}={v}" for k, v in sorted(limits.items()))
            lines.append(f"{kind}{c.get('name')}: {c.get('image')}" + (f" (limits {shown})" if shown else ""))
    return lines


def _settings(resource: PlannedResource) -> str:
    shown = ["protected (no delete or replace)"] if resource.protect else []
    describe = IN_WORDS.get(resource.type)
    if describe is not None:
        shown += describe(resource.inputs)
    for key in KEY_SETTINGS.get(resource.type, []):
        value = _lookup(resource.inputs, key)
        if value is None:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        shown.append(f"{key.split('.')[-1]}={value}")
    return escape("\n".join(shown))


# Types whose meaning is in nested structures: said in words before their key settings.
IN_WORDS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    NETWORK_POLICY: _flows,
    WEB_ACL: lambda inputs: [_waf_rule(rule) for rule in inputs.get("rules") or []],
    DEPLOYMENT: _containers,
    JOB: _containers,
}


def short_type(token: str) -> str:
    """``aws:ec2/subnet:Subnet`` -> ``ec2.Subnet``; ``kubernetes:core/v1:Namespace`` -> ``Namespace``."""
    package, module, cls = (token.split(":") + ["", ""])[:3]
    if package == "pulumi" and module == "providers":
        return f"provider.{cls}"
    if package == "aws":
        return f"{module.split('/')[0]}.{cls}"
    return cls or token


def _components(plan: Plan) -> list[PlannedResource]:
    return sorted((r for r in plan.resources if not r.custom and r.type != STACK_TYPE),
                  key=lambda r: r.name)


def summary(plan: Plan, region: str) -> str:
    return (f"{plan.environment} ({region}): {len(plan.custom_resources())} resources "
            f"in {len(_components(plan))} components")


def render(plan: Plan, region: str) -> list[Any]:
    """One table per component: what it creates and the settings worth reviewing."""
    out: list[Any] = [Text(summary(plan, region), style="bold")]
    for component in _components(plan):
        children = sorted(_descendants(plan, component.urn), key=lambda r: (r.type, r.name))
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
        table.add_column("resource", style="cyan", no_wrap=True)
        table.add_column("name", overflow="fold")
        table.add_column("key settings", style="dim", overflow="fold")
        for child in children:
            name = child.name.removeprefix(f"{component.name}-")
            table.add_row(short_type(child.type), escape(name), _settings(child))
        out.append(Text(""))
        out.append(Text.assemble((component.type, "bold magenta"), " ", (component.name, "bold"),
                                 f"  ({len(children)} resources)"))
        out.append(table)
    return out


def _descendants(plan: Plan, urn: str) -> list[PlannedResource]:
    found = []
    for child in plan.children_of(urn):
        if child.custom:
            found.append(child)
        found.extend(_descendants(plan, child.urn))
    return found

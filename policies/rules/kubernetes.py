"""EKS clusters, node groups and the cluster's network policies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from policies.addresses import blocks_reach_internet, parse_all, reaches_internet
from policies.framework import Context, Enforcement, Resource, Rule
from policies.rules.encryption import aws_managed_key

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"
VPC = "aws:ec2/vpc:Vpc"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
REQUIRED_LOG_TYPES = {"api", "audit", "authenticator"}
SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


def _secrets_encrypted(r: Resource, ctx: Context) -> Iterator[str]:
    config = r.props.get("encryptionConfig") or {}
    key = (config.get("provider") or {}).get("keyArn")
    if "secrets" not in (config.get("resources") or []) or aws_managed_key(key):
        yield "Kubernetes secrets are not envelope-encrypted with a customer-managed KMS key"


def _control_plane_logs(r: Resource, ctx: Context) -> Iterator[str]:
    missing = REQUIRED_LOG_TYPES - set(r.props.get("enabledClusterLogTypes") or [])
    if missing:
        yield f"control-plane logs off for: {', '.join(sorted(missing))}"


def _endpoint_restricted(r: Resource, ctx: Context) -> Iterator[str]:
    vpc = r.props.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess") is False:
        return
    cidrs = vpc.get("publicAccessCidrs") or []
    networks, unreadable = parse_all(cidrs)
    if not cidrs:
        yield "the public API endpoint is open to 0.0.0.0/0 (no publicAccessCidrs given)"
    elif unreadable:
        yield f"the public API endpoint admits {', '.join(unreadable)}, which is not a CIDR"
    elif reaches_internet(networks):
        yield f"the public API endpoint is open to the internet ({', '.join(map(str, networks))})"


def _nodes_private(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    subnets = {s.id: s for s in ctx.of_type(SUBNET) if s.id}
    for group in ctx.of_type(NODE_GROUP):
        for subnet_id in group.props.get("subnetIds") or []:
            subnet = subnets.get(subnet_id)
            if subnet is None:
                if ctx.complete:
                    yield group, f"runs in subnet {subnet_id}, which is not in this plan: cannot tell it is private"
                continue  # CrossGuard: not known yet (preview)
            tags = subnet.props.get("tags") or {}
            if subnet.props.get("mapPublicIpOnLaunch") is True or tags.get("tier") == "public":
                yield group, f"runs in public subnet {subnet.name}"


def _nodes_hardened(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    templates = {t.id: t for t in ctx.of_type(LAUNCH_TEMPLATE) if t.id}
    for group in ctx.of_type(NODE_GROUP):
        template_id = (group.props.get("launchTemplate") or {}).get("id")
        if not template_id:
            yield group, "has no launch template: root volume encryption and IMDS are left to account defaults"
            continue
        template = templates.get(template_id)
        if template is None:
            if ctx.complete:
                yield group, f"uses launch template {template_id}, which is not in this plan: cannot judge it"
            continue  # CrossGuard: not known yet (preview)
        metadata = template.props.get("metadataOptions") or {}
        if metadata.get("httpEndpoint") != "disabled":
            if metadata.get("httpTokens") != "required":
                yield group, f"launch template {template.name} allows IMDSv1 (httpTokens is not 'required')"
            hops = metadata.get("httpPutResponseHopLimit")
            if hops is None or int(hops) > 1:
                yield group, (f"launch template {template.name} lets pods reach the node's metadata and role "
                              f"(hop limit {hops or 'default'}, not 1)")
        volumes = [m.get("ebs") or {} for m in template.props.get("blockDeviceMappings") or []]
        if not volumes or any(str(v.get("encrypted")).lower() != "true" for v in volumes):
            yield group, f"launch template {template.name} does not encrypt every EBS volume"


def _default_deny(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    denied: set[str] = set()
    for policy in ctx.of_type(NETWORK_POLICY):
        meta, spec = policy.props.get("metadata") or {}, policy.props.get("spec") or {}
        if (spec.get("podSelector") or {}) == {} and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or []) \
                and not spec.get("ingress") and not spec.get("egress"):
            denied.add(meta.get("namespace") or "default")
    for ns in ctx.of_type(NAMESPACE):
        name = namespace_name(ns)
        if name is None:
            yield ns, unnamed(ns)
        elif name not in SYSTEM_NAMESPACES and name not in denied:
            yield ns, f"namespace {name} has no default-deny NetworkPolicy for ingress and egress"


def namespace_name(ns: Resource) -> str | None:
    """The name Kubernetes will know the namespace by; None when Pulumi picks it (no metadata.name: it
    becomes ``<resource name>-<random suffix>``, which no policy or quota written here can name)."""
    name = str((ns.props.get("metadata") or {}).get("name") or "").strip()
    return name or None


def unnamed(ns: Resource) -> str:
    return (f"namespace {ns.name} has no metadata.name: Pulumi will name it {ns.name}-<random>, so no policy or "
            "quota here applies to it; set metadata.name")


def _access_scoped(r: Resource, ctx: Context) -> Iterator[str]:
    policy = str(r.props.get("policyArn") or "").rsplit("/", 1)[-1]
    scope = r.props.get("accessScope") or {}
    if policy in ("AmazonEKSEditPolicy", "AmazonEKSAdminPolicy") and scope.get("type") != "namespace":
        yield f"{r.props.get('principalArn')} gets {policy} in every namespace, kube-system included"


METADATA = ipaddress.ip_network("169.254.169.254/32")


def _egress_scoped(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    vpcs = [ipaddress.ip_network(v.props["cidrBlock"]) for v in ctx.of_type(VPC) if v.props.get("cidrBlock")]
    for policy in ctx.of_type(NETWORK_POLICY):
        meta, spec = policy.props.get("metadata") or {}, policy.props.get("spec") or {}
        where = f"{meta.get('namespace') or 'default'}/{meta.get('name') or policy.name}"
        for rule in spec.get("egress") or []:
            peers = rule.get("to") or []
            if not peers:
                yield policy, f"{where} allows egress to anywhere, the VPC and the metadata service included"
                continue
            opened: list[tuple[Network, list[Network]]] = []
            for block in (p["ipBlock"] for p in peers if p.get("ipBlock")):
                cidrs, bad_cidr = parse_all([block.get("cidr")])
                excepted, bad_except = parse_all(block.get("except") or [])
                if bad_cidr or bad_except:
                    yield policy, f"{where} has an unreadable ipBlock: {', '.join(bad_cidr + bad_except)} is not a CIDR"
                    continue
                opened.append((cidrs[0], excepted))
                yield from ((policy, f"{where} {problem}") for problem in _open_block(cidrs[0], excepted, vpcs))
            if not rule.get("ports") and blocks_reach_internet(opened):
                yield policy, (f"{where} allows egress to {', '.join(str(c) for c, _ in opened)} on every port: "
                               "name the ports (443 for HTTPS)")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _open_block(cidr: Network, excepted: list[Network], vpcs: list[Network]) -> Iterator[str]:
    def reaches(network: Network) -> bool:
        return (cidr.version == network.version and network.subnet_of(cidr)
                and not any(e.version == network.version and network.subnet_of(e) for e in excepted))

    if reaches(METADATA):
        yield "lets pods reach the instance metadata service (169.254.169.254): except 169.254.0.0/16"
    for vpc in vpcs:
        if cidr.prefixlen < vpc.prefixlen and reaches(vpc):
            yield f"opens {cidr} without excepting the VPC ({vpc}): it bypasses the datastore allows"


RULES = [
    Rule("eks-secrets-encryption", "EKS envelope-encrypts Kubernetes secrets with a customer-managed KMS key",
         Enforcement.MANDATORY,
         "set encryption_config with resources=['secrets'] and a customer-managed key", "CKV_AWS_58",
         (CLUSTER,), _secrets_encrypted),
    Rule("eks-control-plane-logs", "EKS control-plane logs (api, audit, authenticator at least) are on",
         Enforcement.MANDATORY, "set enabled_cluster_log_types to all five log types", "CKV_AWS_37", (CLUSTER,),
         _control_plane_logs),
    Rule("eks-public-endpoint-restricted", "The EKS public endpoint is off or limited to known CIDRs",
         Enforcement.MANDATORY, "list office/VPN ranges in infra:eks.publicAccessCidrs, or leave it empty",
         "CKV_AWS_38", (CLUSTER,), _endpoint_restricted),
    Rule("eks-nodes-in-private-subnets", "EKS node groups run in private subnets", Enforcement.MANDATORY,
         "pass the network's private_subnet_ids to the node group", None, stack_check=_nodes_private),
    Rule("eks-nodes-hardened", "EKS nodes run from a launch template with encrypted volumes and IMDSv2 only, hop "
         "limit 1", Enforcement.MANDATORY, "give the node group a launch template: encrypted=true on its EBS "
         "volumes, metadata_options http_tokens='required', http_put_response_hop_limit=1",
         "CKV_AWS_79, CKV_AWS_341", stack_check=_nodes_hardened),
    Rule("eks-access-scoped", "Write access to the cluster is limited to the namespaces it is for",
         Enforcement.ADVISORY, "give the infra:eks.access entry its namespaces; cluster-admin is for a "
         "break-glass role", None, (ACCESS_POLICY,), _access_scoped),
    Rule("k8s-egress-scoped", "Pod egress to the internet names its ports and never reaches the VPC or the "
         "instance metadata service", Enforcement.MANDATORY,
         "give the egress rule ports and an ipBlock whose except lists the private ranges and 169.254.0.0/16",
         None, stack_check=_egress_scoped),
    Rule("k8s-namespace-default-deny", "Every application namespace has a default-deny NetworkPolicy",
         Enforcement.MANDATORY, "add a NetworkPolicy with podSelector {} and policyTypes [Ingress, Egress]",
         None, stack_check=_default_deny),
]

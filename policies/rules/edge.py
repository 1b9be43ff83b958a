"""The public way in: TLS only, hardened load balancers, and a WAF rate limit in front of every one."""

from __future__ import annotations

from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule

LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
MODERN_TLS = "ELBSecurityPolicy-TLS13-"  # TLS 1.3 (+1.2) policies; the older ones allow TLS 1.0/1.1


def _tls_only(r: Resource, ctx: Context) -> Iterator[str]:
    protocol = str(r.props.get("protocol") or "").upper()
    if protocol in ("HTTPS", "TLS"):
        policy = str(r.props.get("sslPolicy") or "the default policy")
        if not policy.startswith(MODERN_TLS):
            yield f"port {r.props.get('port')} uses {policy}, which still accepts TLS older than 1.2"
        if protocol == "HTTPS" and "max-age" not in str(
                r.props.get("routingHttpResponseStrictTransportSecurityHeaderValue") or ""):
            yield f"port {r.props.get('port')} sends no Strict-Transport-Security: browsers may fall back to HTTP"
        return
    actions = r.props.get("defaultActions") or []
    redirects = all(a.get("type") == "redirect" and str((a.get("redirect") or {}).get("protocol")).upper() == "HTTPS"
                    for a in actions)
    if not actions or not redirects:
        yield f"port {r.props.get('port')} serves {protocol or 'plain traffic'} instead of redirecting to HTTPS"


def _hardened(r: Resource, ctx: Context) -> Iterator[str]:
    if r.props.get("loadBalancerType", "application") != "application":
        return
    if r.props.get("dropInvalidHeaderFields") is not True:
        yield "passes requests with invalid HTTP headers to the app (dropInvalidHeaderFields is off)"
    if (r.props.get("accessLogs") or {}).get("enabled") is not True:
        yield "keeps no access logs: an incident could not be traced back to its requests"
    if ctx.is_prod and r.props.get("enableDeletionProtection") is not True:
        yield "can be deleted by one mistaken change (enableDeletionProtection is off in prod)"


def _rate_limited(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    for acl in ctx.of_type(WEB_ACL):
        if not any(_blocks_over_a_rate(rule) for rule in acl.props.get("rules") or []):
            yield acl, "has no rate-based rule that blocks: one client can run up the bill"
    associations = ctx.of_type(WAF_ASSOCIATION)
    protected = {a.props.get("resourceArn") for a in associations}
    pending = sum(1 for a in associations if not a.props.get("resourceArn"))  # a preview: ARNs not known yet
    for lb in ctx.of_type(LOAD_BALANCER):
        if lb.props.get("internal") is True or lb.props.get("loadBalancerType", "application") != "application":
            continue
        known = {lb.id, lb.props.get("arn")} - {None, ""}  # an ALB's id is its ARN
        if known & protected:
            continue
        if not known and pending:
            pending -= 1
            continue
        yield lb, "is internet-facing with no WAF web ACL: nothing rate-limits its clients"


def _blocks_over_a_rate(rule: dict) -> bool:
    return "rateBasedStatement" in (rule.get("statement") or {}) and "block" in (rule.get("action") or {})


RULES = [
    Rule("alb-tls-only", "Load balancer listeners speak TLS 1.2+ only, with HSTS; plain HTTP only redirects to HTTPS",
         Enforcement.MANDATORY, f"listen with HTTPS, an {MODERN_TLS}* ssl_policy and a Strict-Transport-Security "
         "header value; make port 80 a redirect",
         "CKV_AWS_2, CKV_AWS_103", (LISTENER,), _tls_only),
    Rule("alb-hardened", "Load balancers drop invalid headers and keep access logs; prod's cannot be deleted by "
         "accident", Enforcement.MANDATORY, "set drop_invalid_header_fields=True, access_logs enabled and, in "
         "prod, enable_deletion_protection=True", "CKV_AWS_131, CKV_AWS_91, CKV_AWS_150", (LOAD_BALANCER,),
         _hardened),
    Rule("alb-rate-limited", "Every internet-facing load balancer sits behind a WAF web ACL that rate-limits "
         "each client", Enforcement.MANDATORY, "associate a wafv2 WebAcl with a blocking rate_based_statement",
         "CKV2_AWS_28", stack_check=_rate_limited),
]

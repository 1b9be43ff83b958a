"""The public way in: TLS only, hardened load balancers, and a WAF rate limit in front of every one."""

from __future__ import annotations

from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule

LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
MODERN_TLS = "ELBSecurityPolicy-TLS13-"  # TLS 1.3 (+1.2) policies; the older ones allow TLS 1.0/1.1


def _tls_only(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    for listener in ctx.of_type(LISTENER):
        yield from ((listener, m) for m in _listener_problems(listener))
    listeners = {key: r for r in ctx.of_type(LISTENER) for key in (r.id, r.props.get("arn")) if key}
    for rule in ctx.of_type(LISTENER_RULE):
        arn = rule.props.get("listenerArn")
        listener = listeners.get(arn) if arn else None
        if listener is None:
            if arn and ctx.complete:
                yield rule, f"is a rule of listener {arn}, which is not in this plan: cannot tell what it serves"
            continue
        if not _speaks_tls(listener) and not all(_harmless_on_plain_http(a) for a in rule.props.get("actions") or []):
            yield rule, (f"forwards plain {_protocol(listener) or 'HTTP'} on port {listener.props.get('port')} "
                         "instead of redirecting to HTTPS")


def _protocol(r: Resource) -> str:
    return str(r.props.get("protocol") or "").strip().upper()


def _speaks_tls(listener: Resource) -> bool:
    return _protocol(listener) in ("HTTPS", "TLS")


def _redirects_to_https(action: dict) -> bool:
    return str((action or {}).get("type")).strip().lower() == "redirect" and \
        str(((action or {}).get("redirect") or {}).get("protocol")).strip().upper() == "HTTPS"


def _harmless_on_plain_http(action: dict) -> bool:
    """A redirect to HTTPS, or a fixed answer: nothing of the app's is served over plain HTTP."""
    return _redirects_to_https(action) or str((action or {}).get("type")).strip().lower() == "fixed-response"


def _listener_problems(r: Resource) -> Iterator[str]:
    protocol = _protocol(r)
    if _speaks_tls(r):
        policy = str(r.props.get("sslPolicy") or "the default policy")
        if not policy.startswith(MODERN_TLS):
            yield f"port {r.props.get('port')} uses {policy}, which still accepts TLS older than 1.2"
        if protocol == "HTTPS" and "max-age" not in str(
                r.props.get("routingHttpResponseStrictTransportSecurityHeaderValue") or ""):
            yield f"port {r.props.get('port')} sends no Strict-Transport-Security: browsers may fall back to HTTP"
        return
    actions = r.props.get("defaultActions") or []
    if not actions or not all(_redirects_to_https(a) for a in actions):
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
    Rule("alb-tls-only", "Load balancer listeners speak TLS 1.2+ only, with HSTS; plain HTTP, listener rules "
         "included, only redirects to HTTPS",
         Enforcement.MANDATORY, f"listen with HTTPS, an {MODERN_TLS}* ssl_policy and a Strict-Transport-Security "
         "header value; make port 80 a redirect",
         "CKV_AWS_2, CKV_AWS_103", stack_check=_tls_only),
    Rule("alb-hardened", "Load balancers drop invalid headers and keep access logs; prod's cannot be deleted by "
         "accident", Enforcement.MANDATORY, "set drop_invalid_header_fields=True, access_logs enabled and, in "
         "prod, enable_deletion_protection=True", "CKV_AWS_131, CKV_AWS_91, CKV_AWS_150", (LOAD_BALANCER,),
         _hardened),
    Rule("alb-rate-limited", "Every internet-facing load balancer sits behind a WAF web ACL that rate-limits "
         "each client", Enforcement.MANDATORY, "associate a wafv2 WebAcl with a blocking rate_based_statement",
         "CKV2_AWS_28", stack_check=_rate_limited),
]

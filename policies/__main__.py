"""The CrossGuard policy pack: `pulumi preview --policy-pack policies` (infra preview/up pass it)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=build_policies())

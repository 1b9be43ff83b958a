from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from stacks.offline import Plan, mock_engine


@pytest.fixture
def build() -> Callable[..., Plan]:
    """Construct one component under the capturing mock engine.

    ``factory`` builds the component and returns an Output (or list of them); ``@pulumi.runtime.test``
    awaits it and every outstanding registration, so assertions run on a complete capture, outside
    any ``apply`` where a failure could pass silently.
    """

    def run(cfg, factory: Callable[[], Any]) -> Plan:
        with mock_engine(cfg.environment, cfg.region) as plan:
            @pulumi.runtime.test
            def create():
                return pulumi.Output.all(*_as_list(factory()))

            create()
        return plan

    return run


@pytest.fixture
def build_k8s(build) -> Callable[..., Plan]:
    """Construct one Kubernetes component: ``make(provider)`` builds it on a provider with an empty
    kubeconfig and returns the outputs to wait for (besides the provider)."""
    import pulumi_kubernetes as k8s

    def run(cfg, make: Callable[[Any], Any]) -> Plan:
        def factory():
            provider = k8s.Provider("k8s", kubeconfig="{}")
            return [provider.urn, *_as_list(make(provider) or [])]

        return build(cfg, factory)

    return run


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def only(plan: Plan, type_: str):
    found = plan.by_type(type_)
    assert len(found) == 1, f"expected one {type_}, found {len(found)}"
    return found[0].inputs

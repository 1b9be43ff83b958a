"""Targets by reference. Containers: ``docker://CONTAINER`` (Docker Engine API, also podman's) and
``k8s://NAMESPACE/deployment|statefulset/NAME`` (Kubernetes API). Other runbooks register their own
engines in ``ENGINES`` (e.g. ``rds://IDENTIFIER``). Clients load lazily, when a target is connected."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from runbooks.targets.base import CheckRun, ContainerTarget, EngineCheck, Target, TargetState
from stacks.errors import InvalidInput

__all__ = ["TargetRef", "Target", "ContainerTarget", "TargetState", "EngineCheck", "CheckRun", "parse_target",
           "connect", "ENGINES"]

TARGET_FORMS = "docker://CONTAINER or k8s://NAMESPACE/deployment|statefulset/NAME"
_CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
K8S_KINDS = ("deployment", "statefulset")


@dataclass(frozen=True)
class TargetRef:
    engine: str  # "docker" | "k8s"
    name: str
    namespace: str | None = None
    kind: str | None = None

    def __str__(self) -> str:
        if self.engine == "k8s":
            return f"k8s://{self.namespace}/{self.kind}/{self.name}"
        return f"{self.engine}://{self.name}"


def parse_target(ref: str) -> TargetRef:
    scheme, sep, rest = ref.partition("://")
    if not sep or scheme not in ("docker", "k8s"):
        raise InvalidInput(f"target {ref!r} has an unknown form", hint=f"use {TARGET_FORMS}")
    if scheme == "docker":
        if not _CONTAINER_NAME.match(rest):
            raise InvalidInput(f"target {ref!r} does not name a container", hint="use docker://CONTAINER")
        return TargetRef("docker", rest)
    parts = rest.split("/")
    if len(parts) != 3 or parts[1].lower() not in K8S_KINDS or not all(map(_K8S_NAME.match, parts[::2])):
        raise InvalidInput(f"target {ref!r} is not NAMESPACE/KIND/NAME", hint=f"use {TARGET_FORMS}")
    return TargetRef("k8s", parts[2], namespace=parts[0], kind=parts[1].lower())


def _docker(ref: TargetRef) -> Target:
    from runbooks.targets.docker import DockerTarget

    return DockerTarget(ref.name)


def _kubernetes(ref: TargetRef) -> Target:
    from runbooks.targets.kubernetes import KubernetesTarget

    return KubernetesTarget(ref.namespace or "", ref.kind or "", ref.name)


# engine -> factory, or "module:function" imported only when such a target is connected
ENGINES: dict[str, Callable[[TargetRef], Target] | str] = {"docker": _docker, "k8s": _kubernetes}


def connect(ref: TargetRef) -> Target:
    """Open the engine's client for ``ref`` and check the target exists, changing nothing."""
    factory = ENGINES[ref.engine]
    if isinstance(factory, str):
        module, _, function = factory.partition(":")
        factory = getattr(importlib.import_module(module), function)
    target = factory(ref)
    target.ensure_exists()
    return target

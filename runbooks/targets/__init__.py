"""Targets: ``docker://CONTAINER`` (Docker Engine API, also podman's) and
``k8s://NAMESPACE/deployment|statefulset/NAME`` (Kubernetes API). Engine clients load lazily."""

from __future__ import annotations

import re
from dataclasses import dataclass

from runbooks.targets.base import Target, TargetState
from stacks.errors import InvalidInput

__all__ = ["TargetRef", "Target", "TargetState", "parse_target", "connect"]

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
        if self.engine == "docker":
            return f"docker://{self.name}"
        return f"k8s://{self.namespace}/{self.kind}/{self.name}"


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


def connect(ref: TargetRef) -> Target:
    """Open the engine's client for ``ref`` and check the target exists, changing nothing."""
    if ref.engine == "docker":
        from runbooks.targets.docker import DockerTarget

        target: Target = DockerTarget(ref.name)
    else:
        from runbooks.targets.kubernetes import KubernetesTarget

        target = KubernetesTarget(ref.namespace or "", ref.kind or "", ref.name)
    target.ensure_exists()
    return target

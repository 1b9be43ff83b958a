"""One run per Kubernetes target across machines: a ``coordination.k8s.io/v1`` Lease next to the workload.

The file lock (runbooks/lock.py) stops a second run on the same machine; two on-call engineers on two
laptops would otherwise both restart Temporal. The Lease is the cluster's own lock object (what
controllers use for leader election): created to take it, refused with its holder's name while it is
held, taken over once it has expired (its holder died without releasing it), renewed before every step
so a run whose lease was taken over stops before changing anything more, and deleted at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from stacks.audit import actor
from stacks.errors import Blocked


class LeaseUnavailable(Exception):
    """The lease could not be taken or read at all (forbidden, API unreachable): not a refusal."""


MARGIN_SECONDS = 120  # beyond the run's own time bound: confirmation prompts, slow API calls


def lease_name(target: str) -> str:
    """A valid object name (DNS-1123, <= 63 chars) that is the same for the same target on every machine."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:10]
    readable = re.sub(r"[^a-z0-9-]+", "-", target.split("://", 1)[-1].lower()).strip("-")[:36].strip("-")
    return f"infra-runbook-{readable}-{digest}"


def holder_identity(runbook: str) -> str:
    return f"{actor()} ({runbook}, pid {os.getpid()})"  # actor() is user@host


class ClusterLease:
    def __init__(self, api_client, namespace: str, target: str, *, runbook: str, duration_seconds: float,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        from kubernetes import client

        self._api = client.CoordinationV1Api(api_client)
        self.namespace, self.target = namespace, target
        self.name = lease_name(target)
        self.holder = holder_identity(runbook)
        self.duration = int(duration_seconds + MARGIN_SECONDS)
        self._now = now
        self._version: str | None = None
        self._acquired: datetime | None = None

    def __str__(self) -> str:
        return f"lease {self.namespace}/{self.name}"

    def acquire(self) -> None:
        """Take the lease, or raise Blocked naming who holds it and since when (LeaseUnavailable: the API
        would not let us try)."""
        from kubernetes.client.exceptions import ApiException

        self._acquired = self._now()
        try:
            try:
                self._version = self._call("create", self._api.create_namespaced_lease, self.namespace,
                                           self._body()).metadata.resource_version
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise
            current = self._call("read", self._api.read_namespaced_lease, self.name, self.namespace)
        except ApiException as exc:
            raise LeaseUnavailable(self._why(exc)) from None
        spec = current.spec
        if not self._expired(spec):
            since = spec.acquire_time.isoformat(timespec="seconds") if spec.acquire_time else "an unknown time"
            expires = (spec.renew_time + timedelta(seconds=spec.lease_duration_seconds)).isoformat(timespec="seconds")
            raise Blocked(f"{self.target} is locked by {spec.holder_identity or 'another run'} since {since} "
                          f"({self})", hint=f"another run is working on it; wait for it to finish. If that run is "
                          f"gone, the lease expires at {expires}, or `kubectl -n {self.namespace} delete lease "
                          f"{self.name}` frees it now")
        self._replace("take over the expired lease", current.metadata.resource_version,
                      lost="it was taken over by another run first; nothing was changed")

    def renew(self) -> None:
        """Extend the lease; raise Blocked if another run has taken it over meanwhile. Any other failure
        is left for the next renewal: the lease stays ours until it expires."""
        from kubernetes.client.exceptions import ApiException

        with contextlib.suppress(ApiException):
            self._replace("renew the lease", self._version,
                          lost="another run took it over; this run stopped before its next step")

    def release(self) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=self._version))
        # Gone or taken over: either way it is no longer ours, and it expires on its own.
        with contextlib.suppress(ApiException):
            self._call("delete", self._api.delete_namespaced_lease, self.name, self.namespace, body=options)

    # plumbing

    def _why(self, exc) -> str:
        try:
            reason = json.loads(exc.body or "{}").get("reason")
        except ValueError:
            reason = None
        why = f"{self}: {exc.status or ''} {reason or exc.reason or ''}".replace(":  ", ": ").strip()
        if exc.status == 403:
            why += f"; grant create, get, update and delete on leases in namespace {self.namespace}"
        return why

    def _expired(self, spec) -> bool:
        if spec.renew_time is None or spec.lease_duration_seconds is None:
            return True
        return spec.renew_time + timedelta(seconds=spec.lease_duration_seconds) < self._now()

    def _replace(self, what: str, version: str | None, *, lost: str) -> None:
        from kubernetes.client.exceptions import ApiException

        body = self._body()
        body.metadata.resource_version = version
        try:
            self._version = self._call(what, self._api.replace_namespaced_lease, self.name, self.namespace,
                                       body).metadata.resource_version
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise
            raise Blocked(f"{self.target}: could not {what} ({self}): {lost}",
                          hint=f"see `kubectl -n {self.namespace} get lease {self.name} -o yaml`") from None

    def _body(self):
        from kubernetes import client

        return client.V1Lease(
            api_version="coordination.k8s.io/v1", kind="Lease",
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace, labels={
                "app.kubernetes.io/managed-by": "infra-runbooks"}, annotations={"infra/target": self.target}),
            spec=client.V1LeaseSpec(holder_identity=self.holder, lease_duration_seconds=self.duration,
                                    acquire_time=self._acquired, renew_time=self._now()),
        )

    def _call(self, what: str, fn, *args, **kwargs):
        """One bounded API call; an unreachable API server is an ApiException too (status 0)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        from runbooks.targets.kubernetes import API_TIMEOUT

        try:
            return fn(*args, _request_timeout=API_TIMEOUT, **kwargs)
        except HTTPError as exc:
            raise ApiException(status=0, reason=f"cannot {what} the {self}: {exc}") from None

"""A Deployment or StatefulSet behind the Kubernetes API.

Restart is ``kubectl rollout restart``: a new ``kubectl.kubernetes.io/restartedAt`` annotation on the
pod template makes the controller replace the pods; completion is judged like ``kubectl rollout
status`` from the workload's status.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from runbooks.lease import ClusterLease
from runbooks.targets.base import ContainerTarget, TargetState
from runbooks.waiting import Backoff, Deadline
from stacks.errors import InvalidInput, MissingPrerequisite, OperationFailed

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
API_TIMEOUT = 10  # seconds for one API call
ROLLOUT_POLL = Backoff(first=0.5, factor=1.5, cap=2.0)  # gentle on the API server


@dataclass(frozen=True)
class Rollout:
    """The numbers ``kubectl rollout status`` looks at."""

    generation: int
    observed_generation: int
    replicas: int  # desired (spec)
    current: int  # pods that exist, old and new (status.replicas)
    updated: int
    available: int
    current_revision: str | None = None  # StatefulSets only
    update_revision: str | None = None


def rollout_progress(r: Rollout, *, restart_generation: int = 0) -> tuple[bool, str]:
    """Whether the rollout is complete, and what it is waiting for. Pure; table-tested."""
    wanted = max(r.generation, restart_generation)
    if r.observed_generation < wanted:
        return False, f"controller has not seen generation {wanted} yet (observed {r.observed_generation})"
    if r.updated < r.replicas:
        return False, f"{r.updated}/{r.replicas} replicas updated"
    if r.current > r.updated:
        return False, f"{r.current - r.updated} old replica(s) still terminating"
    if r.available < r.replicas:
        return False, f"{r.available}/{r.replicas} updated replicas available"
    if r.update_revision and r.current_revision != r.update_revision:
        return False, f"revision {r.update_revision} not yet current"
    return True, f"rollout complete: {r.available}/{r.replicas} replicas available"


def _rollout(workload) -> Rollout:
    status = workload.status
    available = status.available_replicas
    if available is None:  # older StatefulSet status has no availableReplicas
        available = status.ready_replicas
    return Rollout(
        generation=workload.metadata.generation or 0,
        observed_generation=status.observed_generation or 0,
        replicas=workload.spec.replicas if workload.spec.replicas is not None else 1,
        current=status.replicas or 0,
        updated=status.updated_replicas or 0,
        available=available or 0,
        current_revision=getattr(status, "current_revision", None),
        update_revision=getattr(status, "update_revision", None),
    )


def default_api_client():
    from kubernetes import client, config

    try:
        # KUBECONFIG read now: the client's own default is read once, when it is first imported.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    except (config.ConfigException, OSError):
        try:
            config.load_incluster_config()
        except config.ConfigException:
            raise MissingPrerequisite(
                "no Kubernetes credentials: no kubeconfig and not running in a cluster",
                hint="run `aws eks update-kubeconfig --name <cluster>` or set KUBECONFIG",
            ) from None
    return client.ApiClient()


def api_call(subject: str, what: str, fn, *args, not_found_hint: str, **kwargs):
    """One Kubernetes API call, bounded in time, its failures turned into the toolkit's errors."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args, _request_timeout=API_TIMEOUT, **kwargs)
    except ApiException as exc:
        if exc.status == 404:
            raise InvalidInput(f"{subject} not found", hint=not_found_hint) from None
        if exc.status in (401, 403):
            raise MissingPrerequisite(
                f"not allowed to {what} {subject} ({exc.status})",
                hint="use credentials with get/patch on the workload and get on pods and logs",
            ) from None
        raise OperationFailed(f"Kubernetes API error during {what}: {exc.status} {exc.reason}") from None
    except HTTPError as exc:
        raise MissingPrerequisite(f"cannot reach the Kubernetes API: {exc}",
                                  hint="check KUBECONFIG and network access") from None


class KubernetesTarget(ContainerTarget):
    def __init__(self, namespace: str, kind: str, name: str, api_client=None,
                 poll: Backoff = ROLLOUT_POLL) -> None:
        from kubernetes import client

        self.namespace, self.kind, self.name = namespace, kind, name
        self.ref = f"k8s://{namespace}/{kind}/{name}"
        self._api_client = api_client = api_client or default_api_client()
        self._apps = client.AppsV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._poll = poll
        self._restart_generation = 0

    def _call(self, what: str, fn, *args, **kwargs):
        return api_call(f"{self.kind} {self.namespace}/{self.name}", what, fn, *args,
                        not_found_hint=f"check `kubectl -n {self.namespace} get {self.kind}` or pass --target",
                        **kwargs)

    def _read(self):
        read = (self._apps.read_namespaced_deployment if self.kind == "deployment"
                else self._apps.read_namespaced_stateful_set)
        return self._call("read", read, self.name, self.namespace)

    def ensure_exists(self) -> None:
        uid = self._read().metadata.uid
        self.resolved = f"k8s-uid://{uid}" if uid else None

    def cluster_lease(self, *, runbook: str, duration_seconds: float) -> ClusterLease:
        return ClusterLease(self._api_client, self.namespace, self.ref, runbook=runbook,
                            duration_seconds=duration_seconds)

    def observe(self, log_lines: int = 5) -> TargetState:
        workload = self._read()
        rollout = _rollout(workload)
        done, _ = rollout_progress(rollout)
        in_progress = (rollout.observed_generation < rollout.generation
                       or rollout.updated < rollout.replicas or rollout.current > rollout.updated)
        selector = ",".join(f"{k}={v}" for k, v in (workload.spec.selector.match_labels or {}).items())
        pods = self._call("list pods of", self._core.list_namespaced_pod, self.namespace,
                          label_selector=selector).items
        restarts = sum(cs.restart_count or 0 for p in pods for cs in (p.status.container_statuses or []))
        newest = max(pods, key=lambda p: p.metadata.creation_timestamp, default=None)
        return TargetState(
            status="available" if done else ("progressing" if in_progress else "unavailable"),
            running=done,
            in_progress=in_progress,
            restart_count=restarts,
            started_at=newest.status.start_time.isoformat() if newest and newest.status.start_time else None,
            engine_health=f"{rollout.available}/{rollout.replicas} replicas available",
            log_tail=self._log_tail(newest, log_lines) if newest and log_lines else (),
        )

    def _log_tail(self, pod, lines: int) -> tuple[str, ...]:
        from kubernetes.client.exceptions import ApiException

        try:  # a pod that has not started yet has no logs; that is an observation, not an error
            text = self._core.read_namespaced_pod_log(
                pod.metadata.name, self.namespace, tail_lines=lines, _request_timeout=API_TIMEOUT)
        except ApiException as exc:
            return (f"(no logs from pod {pod.metadata.name}: {exc.status} {exc.reason})",)
        return tuple(line for line in (text or "").splitlines() if line.strip())

    def restart(self, deadline: Deadline) -> str:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        patch = (self._apps.patch_namespaced_deployment if self.kind == "deployment"
                 else self._apps.patch_namespaced_stateful_set)
        patched = self._call("patch", patch, self.name, self.namespace, body)
        self._restart_generation = patched.metadata.generation or 0
        return (f"rollout restart of {self.kind}/{self.name} in namespace {self.namespace} "
                f"({RESTARTED_AT}={stamp}, generation {self._restart_generation})")

    def wait_ready(self, deadline: Deadline) -> tuple[bool, str]:
        intervals = self._poll.intervals()
        while True:
            done, detail = rollout_progress(_rollout(self._read()),
                                            restart_generation=self._restart_generation)
            if done or deadline.expired():
                return done, detail
            deadline.sleep(next(intervals))

    @property
    def next_action(self) -> str:
        return (
            f"raise readinessProbe.initialDelaySeconds (or add a startupProbe) on {self.kind}/{self.name} "
            f"in namespace {self.namespace}, so it is not checked before it has initialised"
        )

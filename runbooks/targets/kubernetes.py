"""A Deployment or StatefulSet behind the Kubernetes API.

Restart is ``kubectl rollout restart``: a new ``kubectl.kubernetes.io/restartedAt`` annotation on the
pod template makes the controller replace the pods; completion is judged like ``kubectl rollout
status`` from the workload's status.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from runbooks import check_evidence
from runbooks.lease import ClusterLease
from runbooks.targets.base import CheckRun, ContainerTarget, EngineCheck, TargetState
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

    def _pods(self, workload) -> list:
        selector = ",".join(f"{k}={v}" for k, v in (workload.spec.selector.match_labels or {}).items())
        return self._call("list pods of", self._core.list_namespaced_pod, self.namespace,
                          label_selector=selector).items

    def observe(self, log_lines: int = 5) -> TargetState:
        workload = self._read()
        rollout = _rollout(workload)
        done, _ = rollout_progress(rollout)
        in_progress = (rollout.observed_generation < rollout.generation
                       or rollout.updated < rollout.replicas or rollout.current > rollout.updated)
        pods = self._pods(workload)
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

    def engine_check(self) -> EngineCheck | None:
        """The kubelet's probe of the newest pod: its spec, the pod's Ready condition and the probe-failure
        events. Not re-run inside the pod (that needs exec), so that evidence is named as missing."""
        workload = self._read()
        pods = self._pods(workload)
        newest = max(pods, key=lambda p: p.metadata.creation_timestamp, default=None)
        described = _probe_spec(workload.spec.template.spec.containers or [], newest)
        if described is None:
            return EngineCheck("k8s", "", None, 0.0, "none", 0, None, missing=(
                f"{self.kind}/{self.name} has no readiness, liveness or startup probe",))
        command, dials, start_period = described
        missing = ["the probe was not re-run inside the pod nor its listening sockets read (that needs "
                   "`kubectl exec`): judging by the kubelet's record of it"]
        if newest is None:
            return EngineCheck("k8s", command, dials, start_period, "unknown", 0, None,
                               missing=(*missing, "no pod to read the probe's results from"))
        ready = next((c for c in newest.status.conditions or [] if c.type == "Ready"), None)
        started = _latest_start(newest)
        uptime = (datetime.now(UTC) - started).total_seconds() if started else None
        history, failures = self._probe_failures(newest, started, missing)
        status = {"True": "healthy", "False": "unhealthy"}.get(ready.status if ready else "", "unknown")
        if status == "unhealthy" and uptime is not None and uptime < start_period:
            status = "starting"
        if status == "healthy" and ready.last_transition_time and started:
            history = (*history, CheckRun(True, "Ready: the kubelet's probe passes",
                                          (ready.last_transition_time - started).total_seconds()))
        return EngineCheck("k8s", command, dials, start_period, status, 0 if status == "healthy" else failures,
                           uptime, history, missing=tuple(missing))

    def _probe_failures(self, pod, started: datetime | None,
                        missing: list[str]) -> tuple[tuple[CheckRun, ...], int]:
        """The kubelet's "Unhealthy" events for ``pod``, oldest first (each at its last occurrence, in seconds
        after the container's latest start), and how many failures they count."""
        from kubernetes.client.exceptions import ApiException

        try:
            events = self._core.list_namespaced_event(
                self.namespace, field_selector=f"involvedObject.name={pod.metadata.name}",
                _request_timeout=API_TIMEOUT).items
        except ApiException as exc:
            missing.append(f"the pod's events are not readable ({exc.status} {exc.reason})")
            return (), 0
        failures = sorted((e for e in events if e.reason == "Unhealthy"),
                          key=lambda e: e.last_timestamp or e.event_time or datetime.min.replace(tzinfo=UTC))
        if not failures:
            missing.append("no probe-failure events for the pod (expired, or none yet)")

        def at(event) -> float | None:
            when = event.last_timestamp or event.event_time
            return (when - started).total_seconds() if when and started else None

        history = tuple(CheckRun(False, check_evidence.first_line(e.message or ""), at(e), e.count or 1)
                        for e in failures)
        return history, sum(e.count or 1 for e in failures)

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

    def start_period_advice(self, first_success: float | None) -> str:
        value = "" if first_success is None else (
            f" allowing at least {check_evidence.start_period_for(first_success)} s (measured: first success "
            f"{first_success:.1f} s after the restart)")
        return (
            f"raise readinessProbe.initialDelaySeconds (or add a startupProbe{value}) on {self.kind}/{self.name} "
            f"in namespace {self.namespace}, so it is not checked before it has initialised"
        )


def _latest_start(pod) -> datetime | None:
    """When the pod's (first) container last started: probe results before that belong to an earlier start."""
    for status in pod.status.container_statuses or []:
        running = status.state.running if status.state else None
        if running and running.started_at:
            return running.started_at
    return pod.status.start_time


def _probe_spec(containers, pod) -> tuple[str, str | None, float] | None:
    """(what the probe runs, the HOST:PORT it dials, seconds before failures count) of the first probe found."""
    for container in containers:
        for kind in ("readiness_probe", "liveness_probe", "startup_probe"):
            probe = getattr(container, kind)
            if probe is None:
                continue
            name = {"readiness_probe": "readinessProbe", "liveness_probe": "livenessProbe",
                    "startup_probe": "startupProbe"}[kind]
            startup = container.startup_probe
            start_period = float(probe.initial_delay_seconds or 0)
            if startup is not None:
                start_period += (startup.initial_delay_seconds or 0) + (
                    (startup.failure_threshold or 3) * (startup.period_seconds or 10))
            pod_ip = (pod.status.pod_ip if pod else None) or "<pod IP>"
            ports = {p.name: p.container_port for p in container.ports or [] if p.name}
            if probe._exec is not None:
                command = " ".join(probe._exec.command or [])
                return f"{name} exec: {command}", check_evidence.check_address(command), start_period
            for way in ("tcp_socket", "grpc", "http_get"):
                action = getattr(probe, way)
                if action is None:
                    continue
                port = ports.get(action.port, action.port) if isinstance(action.port, str) else action.port
                host = getattr(action, "host", None) or pod_ip
                path = getattr(action, "path", None) or ""
                service = getattr(action, "service", None)
                what = {"tcp_socket": "tcpSocket", "grpc": "grpc", "http_get": "httpGet"}[way]
                detail = f" service {service}" if service else path
                return f"{name} {what} {host}:{port}{detail}", f"{host}:{port}", start_period
    return None

"""`cost-circuit-breaker`: at 200% of the month's budget, stop the spend by scaling the worker
Deployments to zero, and leave a record of exactly how to undo it.

The workers are where usage (and so cost) grows with customers; the API and data stores stay up, so
customers see queued work rather than an outage. Each Deployment keeps its previous replica count in an
annotation, so the undo survives this process and is visible to anyone with kubectl.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from runbooks.engine import Run, Runbook, RunInputs, Step, StepResult, StepStatus
from runbooks.lease import ClusterLease
from runbooks.targets import ENGINES, TargetRef
from runbooks.targets.base import Target
from runbooks.targets.kubernetes import api_call, default_api_client
from runbooks.waiting import Backoff, Deadline
from stacks.errors import InvalidInput

REPLICAS_BEFORE = "infra.generic-corp.example/replicas-before-circuit-breaker"
POLL = Backoff(first=0.5, factor=1.5, cap=3.0)
DEFAULT_TIMEOUT_S = 180.0


class WorkerDeployments(Target):
    """Every Deployment of one namespace: listed, scaled to zero, watched until their pods are gone."""

    def __init__(self, namespace: str, api_client=None, poll: Backoff | None = None) -> None:
        from kubernetes import client

        self.namespace = namespace
        self.ref = f"k8s-namespace://{namespace}"
        self._api_client = api_client = api_client or default_api_client()
        self._apps, self._core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        self._poll = poll or POLL

    def _call(self, what: str, fn, *args, **kwargs):
        return api_call(f"namespace {self.namespace}", what, fn, *args,
                        not_found_hint="check infra:kubernetes.workersNamespace or pass --target", **kwargs)

    def ensure_exists(self) -> None:
        self._call("read", self._core.read_namespace, self.namespace)

    def cluster_lease(self, *, runbook: str, duration_seconds: float) -> ClusterLease:
        return ClusterLease(self._api_client, self.namespace, self.ref, runbook=runbook,
                            duration_seconds=duration_seconds)

    def replicas(self) -> dict[str, tuple[int, int]]:
        """name -> (desired replicas, pods still running)."""
        found = self._call("list deployments in", self._apps.list_namespaced_deployment, self.namespace).items
        return {d.metadata.name: (d.spec.replicas if d.spec.replicas is not None else 1, d.status.replicas or 0)
                for d in found}

    def scale_to_zero(self, name: str, replicas: int) -> None:
        body = {"metadata": {"annotations": {REPLICAS_BEFORE: str(replicas)}}, "spec": {"replicas": 0}}
        self._call("scale", self._apps.patch_namespaced_deployment, name, self.namespace, body)

    def wait_stopped(self, deadline: Deadline) -> tuple[bool, dict[str, int]]:
        intervals = self._poll.intervals()
        while True:
            running = {name: pods for name, (_, pods) in self.replicas().items() if pods}
            if not running or deadline.expired():
                return not running, running
            deadline.sleep(next(intervals))

    @property
    def next_action(self) -> str:
        return (f"check `kubectl -n {self.namespace} get deployments,pods`: a controller or autoscaler may be "
                "scaling the workers back up (pause it), then run the breaker again")


ENGINES["k8s-namespace"] = lambda ref: WorkerDeployments(ref.name)


class Decision(Enum):
    NOTHING = "nothing to do"
    STOP_WORKERS = "scale the workers to zero"


@dataclass(frozen=True)
class Diagnosis:
    decision: Decision
    reason: str


def decide(breaker: str, spent: float, budget: float, replicas: dict[str, tuple[int, int]]) -> Diagnosis:
    """Pure: act only at the 200% stop, and only if some worker still runs."""
    share = f"${spent:,.2f} of ${budget:,.2f} ({spent / budget:.0%})"
    if breaker != "stop":
        return Diagnosis(Decision.NOTHING, f"spend is {share}: below the 200% stop, workers left running")
    if not replicas:
        return Diagnosis(Decision.NOTHING, f"spend is {share} but there are no worker Deployments")
    if all(desired == 0 for desired, _ in replicas.values()):
        return Diagnosis(Decision.NOTHING, f"spend is {share}; every worker is already scaled to zero")
    return Diagnosis(Decision.STOP_WORKERS, f"spend is {share}: the 200% circuit breaker is tripped")


class ObserveSpend(Step):
    name = "observe-spend"
    does = "read this month's spend for the environment's tag from Cost Explorer; the breaker state"
    needs = "AWS credentials with ce:GetCostAndUsage"

    def run(self, run: Run) -> StepResult:
        from policies import spend
        from stacks import config
        from stacks.project import stack_file

        cfg = config.load(run.inputs.environment or "", stack_file(run.inputs.environment or ""))
        state, spent = spend.current_state(cfg)
        run.observation = {"breaker": str(state), "spent": spent, "budget": cfg.budget.monthly_usd}
        run.note(f"month to date ${spent:,.2f} of the ${cfg.budget.monthly_usd:,.2f} budget: circuit breaker "
                 f"{str(state).upper()}", observation=True)
        return StepResult.cont()


class ObserveWorkers(Step):
    name = "observe-workers"
    does = "list the worker Deployments and their replicas"
    needs = "Kubernetes read access to the workers namespace"

    def run(self, run: Run) -> StepResult:
        replicas = run.target.replicas()  # type: ignore[attr-defined]
        run.observation["replicas"] = replicas  # type: ignore[index]
        shown = ", ".join(f"{name}={desired}" for name, (desired, _) in sorted(replicas.items())) or "none"
        run.note(f"worker Deployments in {run.target.namespace}: {shown}", observation=True)  # type: ignore[attr-defined]
        return StepResult.cont()


class Diagnose(Step):
    name = "diagnose"
    does = "decide: below 200% or already stopped (nothing to do), or stop the workers"
    needs = "the observations"

    def run(self, run: Run) -> StepResult:
        obs = run.observation
        diagnosis = decide(obs["breaker"], obs["spent"], obs["budget"], obs["replicas"])  # type: ignore[index]
        run.diagnosis = diagnosis
        run.note(f"decision: {diagnosis.decision.value} ({diagnosis.reason})")
        if diagnosis.decision is Decision.NOTHING:
            return StepResult(StepStatus.DONE, f"{diagnosis.reason}; nothing changed")
        return StepResult.cont()


class ScaleToZero(Step):
    name = "scale-to-zero"
    does = f"scale every worker Deployment to 0 replicas, keeping its count in the {REPLICAS_BEFORE} annotation"
    needs = "Kubernetes patch access to the Deployments; confirmation (--yes, or retype the environment in prod)"
    mutating = True

    def run(self, run: Run) -> StepResult:
        run.deadline = Deadline(run.inputs.timeout)
        namespace = run.target.namespace  # type: ignore[attr-defined]
        for name, (desired, _) in sorted(run.observation["replicas"].items()):  # type: ignore[index]
            if desired == 0:
                continue
            run.target.scale_to_zero(name, desired)  # type: ignore[attr-defined]
            run.note(f"scaled deployment/{name} in {namespace} from {desired} to 0", action=True)
            run.record.follow_ups.append(
                f"undo: `kubectl -n {namespace} scale deployment/{name} --replicas={desired}`")
        env = run.inputs.environment
        run.record.follow_ups.append(
            f"or, once the budget allows, `infra up {env}` restores the workers from Pulumi.{env}.yaml "
            "(it needs --override-budget while spend is over 100%)")
        return StepResult.cont()


class VerifyStopped(Step):
    name = "verify"
    does = "wait, with a timeout and backoff, until no worker pod is left"
    needs = "the timeout"

    def run(self, run: Run) -> StepResult:
        deadline = run.deadline or Deadline(run.inputs.timeout)
        stopped, running = run.target.wait_stopped(deadline)  # type: ignore[attr-defined]
        if not stopped:
            left = ", ".join(f"{name} ({pods} pods)" for name, pods in sorted(running.items()))
            return StepResult(StepStatus.FAILED, f"workers still running after {run.inputs.timeout:g} s: {left}")
        run.note("no worker pod left: the spend they drive has stopped", observation=True)
        return StepResult.cont()


RUNBOOK = Runbook(
    name="cost-circuit-breaker",
    title="Cost circuit breaker: stop the workers at 200% of budget",
    summary=("The memo's last circuit breaker. At 200% of the month's budget, scale the worker Deployments to "
             "zero (the API and data stores stay up), and record how to bring each one back."),
    steps=(ObserveSpend(), ObserveWorkers(), Diagnose(), ScaleToZero(), VerifyStopped()),
    when_it_fails="find what keeps scaling the workers up (an autoscaler, a deploy), pause it, and run it again",
    target_forms="k8s-namespace://NAMESPACE",
    options="[--timeout S]",
)


def resolve(env: str, *, target: str | None, health: str | None, timeout: float | None,
            grace: float | None) -> RunInputs:
    from stacks import config
    from stacks.project import stack_file

    cfg = config.load(env, stack_file(env))
    if health is not None:
        raise InvalidInput("cost-circuit-breaker takes no --health: it checks that worker pods are gone")
    namespace = cfg.kubernetes.workers_namespace
    if target is not None:
        scheme, sep, rest = target.partition("://")
        if scheme != "k8s-namespace" or not sep or not rest or "/" in rest:
            raise InvalidInput(f"target {target!r} is not a namespace", hint="use k8s-namespace://NAMESPACE")
        namespace = rest
    return RunInputs(target=TargetRef("k8s-namespace", namespace), probe=None,
                     timeout=timeout if timeout is not None else DEFAULT_TIMEOUT_S, environment=env)

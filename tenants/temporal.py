"""A tenant's place in Temporal: a task queue of its own in one shared namespace.

Why not a namespace each: Temporal's multi-tenancy guide recommends one namespace with a task queue per
tenant for many small tenants (the $9 plan), since namespaces are costly to multiply and their limits
(retention, the namespace RPS in dynamic config) are operator-level settings, not per customer. What
Temporal enforces per tenant here is the activity dispatch rate of the tenant's task queue
(UpdateTaskQueueConfig, the tier's ``activityRps``): suspending sets it to 0, so no new activity of the
tenant runs while its workflows and history are kept. The tier's ``queuePriority`` is the priority key
the application starts the tenant's work with. The workers must run with eager activity execution off,
or activities skip the queue and its limit. Namespace-wide limits (retention here; the namespace RPS,
whose per-tier sum the Temporal component's dynamic config must allow) are documented in docs/tenants.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from stacks.errors import MissingPrerequisite, OperationFailed

CONNECT_TIMEOUT_S = 10
CALL_TIMEOUT_S = 30
NAMESPACE_READY_S = 30  # a new namespace reaches the frontend's cache within seconds
T = TypeVar("T")


class TemporalPlace:
    """Sync face over the async SDK: every call opens a client, does its work, and closes."""

    def __init__(self, address: str, namespace: str, retention_days: int) -> None:
        self.address = address
        self.namespace = namespace
        self.retention_days = retention_days

    def _run(self, action: str, work: Callable[[Any], Awaitable[T]]) -> T:
        # The service client, not temporalio.client: these are plain RPCs, and it imports in half the time.
        from temporalio.service import ConnectConfig, RPCError, ServiceClient

        async def main() -> T:
            try:
                client = await asyncio.wait_for(ServiceClient.connect(ConnectConfig(target_host=self.address)),
                                                CONNECT_TIMEOUT_S)
            except (RuntimeError, TimeoutError, RPCError) as exc:
                why = (str(exc).splitlines() or ["no answer in time"])[0][:160]
                raise MissingPrerequisite(f"cannot reach Temporal at {self.address} ({why})",
                                          hint="start the port-forward (docs/tenants.md) or set "
                                               "INFRA_TEMPORAL_ADDRESS") from None
            try:
                return await asyncio.wait_for(work(client), CALL_TIMEOUT_S + NAMESPACE_READY_S)
            except RPCError as exc:
                raise OperationFailed(f"Temporal refused to {action}: {exc.message}") from None
            except TimeoutError:
                raise OperationFailed(f"Temporal did not answer in time to {action}") from None

        # A loop of its own, not asyncio.run: that leaves the thread without a current loop afterwards, which
        # code sharing the process (Pulumi's engine runtime, as in `infra plan`) still asks for.
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # --- the shared namespace ---------------------------------------------------------------------

    async def _ensure_namespace(self, client: Any) -> None:
        from google.protobuf.duration_pb2 import Duration
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
        from temporalio.service import RPCError, RPCStatusCode

        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=self.namespace))
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        try:
            await client.workflow_service.register_namespace(RegisterNamespaceRequest(
                namespace=self.namespace, description="tenants: one task queue per tenant (infra tenant)",
                workflow_execution_retention_period=Duration(seconds=self.retention_days * 86400)))
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise

    # --- the tenant's task queue ------------------------------------------------------------------

    def set_rate(self, queue: str, rps: float | None, reason: str) -> None:
        """Set (None: unset) the activity dispatch rate of the tenant's queue; 0 stops new activities."""

        async def work(client: Any) -> None:
            await self._ensure_namespace(client)
            await _until_namespace_known(lambda: client.workflow_service.update_task_queue_config(
                _rate_request(self.namespace, queue, rps, reason)))

        self._run(f"set the rate of task queue {queue}", work)

    def rate(self, queue: str) -> float | None:
        """The queue's configured activity rate (None: the system default, i.e. no tenant limit)."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        async def work(client: Any) -> float | None:
            answer = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=self.namespace, task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, report_config=True))
            limit = answer.config.queue_rate_limit
            return limit.rate_limit.requests_per_second if limit.HasField("rate_limit") else None

        return self._run(f"describe task queue {queue}", work)

    def terminate_open(self, queue: str, reason: str) -> int:
        """Terminate the tenant's running workflows (offboarding); how many were terminated."""

        from temporalio.api.workflowservice.v1 import (
            ListWorkflowExecutionsRequest,
            TerminateWorkflowExecutionRequest,
        )

        async def work(client: Any) -> int:
            query = f'TaskQueue="{queue}" AND ExecutionStatus="Running"'  # queue is a validated slug
            running, token = [], b""
            while True:
                page = await client.workflow_service.list_workflow_executions(ListWorkflowExecutionsRequest(
                    namespace=self.namespace, query=query, page_size=1000, next_page_token=token))
                running += [e.execution for e in page.executions]
                token = page.next_page_token
                if not token:
                    break
            for execution in running:
                await client.workflow_service.terminate_workflow_execution(TerminateWorkflowExecutionRequest(
                    namespace=self.namespace, workflow_execution=execution, reason=reason, identity="infra tenant"))
            return len(running)

        return self._run(f"terminate the workflows of task queue {queue}", work)

    def check(self) -> str:
        async def work(client: Any) -> str:
            from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

            info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return f"Temporal {info.server_version or 'server'} at {self.address}"

        return self._run("answer", work)


def _rate_request(namespace: str, queue: str, rps: float | None, reason: str) -> Any:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import RateLimit
    from temporalio.api.workflowservice.v1 import UpdateTaskQueueConfigRequest

    update = UpdateTaskQueueConfigRequest.RateLimitUpdate(reason=reason)
    if rps is not None:
        update.rate_limit.CopyFrom(RateLimit(requests_per_second=rps))
    return UpdateTaskQueueConfigRequest(namespace=namespace, identity="infra tenant", task_queue=queue,
                                        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                                        update_queue_rate_limit=update)


async def _until_namespace_known(call: Callable[[], Awaitable[T]]) -> T:
    """Right after registration the frontend may not know the namespace yet: retry NOT_FOUND briefly."""
    from temporalio.service import RPCError, RPCStatusCode

    loop = asyncio.get_running_loop()
    deadline = loop.time() + NAMESPACE_READY_S
    delay = 0.1
    while True:
        try:
            return await call()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or loop.time() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)

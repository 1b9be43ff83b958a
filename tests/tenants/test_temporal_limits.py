"""What Temporal enforces per tenant, shown with a real worker on the dev server: a suspended tenant's
activities are not dispatched (its workflows wait, nothing is lost) and run once it is resumed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

ran: list[str] = []


@activity.defn
async def call_llm(prompt: str) -> str:
    ran.append(prompt)
    return f"answer to {prompt}"


@workflow.defn(sandboxed=False)
class AgentRun:
    @workflow.run
    async def run(self, prompt: str) -> str:
        return await workflow.execute_activity(call_llm, prompt, start_to_close_timeout=timedelta(seconds=60))


def test_a_suspended_tenant_runs_no_activity_until_resumed(tenancy, temporal_server):
    tenancy.create("acme", "starter")
    tenancy.suspend("acme")

    async def scenario() -> tuple[list[str], str]:
        client = await Client.connect(temporal_server.address, namespace="tenants")
        # Eager activity execution would hand the activity straight back to this worker, past the task
        # queue and its limit: the platform's workers run with it off (docs/tenants.md).
        async with Worker(client, task_queue="tenant-acme", workflows=[AgentRun], activities=[call_llm],
                          disable_eager_activity_execution=True):
            handle = await client.start_workflow(AgentRun.run, "q1", id="acme-q1", task_queue="tenant-acme")
            await asyncio.sleep(3)
            while_suspended = list(ran)
            await asyncio.to_thread(tenancy.resume, "acme")
            return while_suspended, await asyncio.wait_for(handle.result(), 30)

    while_suspended, result = asyncio.run(scenario())
    assert while_suspended == []
    assert result == "answer to q1" and ran == ["q1"]

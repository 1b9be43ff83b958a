"""A stand-in for the Kubernetes API server under the real kubernetes client's HTTP layer, answering
with recorded API responses (tests/runbooks/k8s_recorded/)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import urllib3

RECORDED = Path(__file__).parent / "k8s_recorded"


class RecordedApiServer:
    """Stands in for the API server under urllib3: answers each (method, path) with its recorded
    responses in order (the last one repeats) and keeps every request it was sent."""

    def __init__(self, routes: dict[tuple[str, str], list[tuple[int, str]]]) -> None:
        self.routes = routes
        self.requests: list[dict] = []

    def request(self, method, url, body=None, headers=None, **_):
        path, _, query = url.removeprefix("https://eks.test").partition("?")
        self.requests.append({"method": method, "path": path, "query": query,
                              "body": json.loads(body) if body else None, "headers": headers or {}})
        answers = self.routes[(method, path)]
        status, name = answers.pop(0) if len(answers) > 1 else answers[0]
        data = (RECORDED / name).read_bytes()
        kind = "text/plain" if name.endswith(".txt") else "application/json"
        return urllib3.HTTPResponse(body=io.BytesIO(data), status=status, headers={"Content-Type": kind},
                                    preload_content=False)

    def sent(self, method: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method]


def api_client(server: RecordedApiServer):
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = "https://eks.test"
    api = client.ApiClient(configuration)
    api.rest_client.pool_manager.request = server.request  # the HTTP layer, nothing above it
    return api



"""A stand-in for the Kubernetes API server under the real kubernetes client's HTTP layer, answering
with recorded API responses (tests/runbooks/k8s_recorded/)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import urllib3

RECORDED = Path(__file__).parent / "k8s_recorded"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/"


class RecordedApiServer:
    """Stands in for the API server under urllib3: answers each (method, path) with its recorded
    responses in order (the last one repeats) and keeps every request it was sent."""

    def __init__(self, routes: dict[tuple[str, str], list[tuple[int, str]]]) -> None:
        self.routes = routes
        self.requests: list[dict] = []
        self.leases = LeaseStore()

    def request(self, method, url, body=None, headers=None, **_):
        path, _, query = url.removeprefix("https://eks.test").partition("?")
        self.requests.append({"method": method, "path": path, "query": query,
                              "body": json.loads(body) if body else None, "headers": headers or {}})
        if (method, path) not in self.routes and path.startswith(LEASES):
            return _json(*self.leases.handle(method, path, json.loads(body) if body else None))
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




def _json(status: int, doc: dict) -> urllib3.HTTPResponse:
    return urllib3.HTTPResponse(body=io.BytesIO(json.dumps(doc).encode()), status=status,
                                headers={"Content-Type": "application/json"}, preload_content=False)


def _status(code: int, reason: str, message: str) -> tuple[int, dict]:
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}


class LeaseStore:
    """The API server's Lease semantics, kept in memory: create fails with 409 when the name exists,
    replace and delete with a stale resourceVersion fail with 409, and every Lease sent must validate
    strictly against the real coordination.k8s.io/v1 schema."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict] = {}
        self.history: list[tuple[str, dict | None]] = []  # (verb, lease as stored after it)
        self._version = 100

    def put(self, namespace: str, lease: dict) -> dict:
        """Store ``lease`` as if another client had written it."""
        self._version += 1
        stored = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", **lease}
        stored["metadata"] = {**lease["metadata"], "namespace": namespace,
                              "resourceVersion": str(self._version)}
        self.objects[(namespace, stored["metadata"]["name"])] = stored
        return stored

    def handle(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        import kubernetes_validate

        namespace, _, rest = path.removeprefix(LEASES).partition("/leases")
        name = rest.strip("/")
        if body is not None and method in ("POST", "PUT"):
            kubernetes_validate.validate(body, "1.33.0", strict=True)
        key = (namespace, name or (body or {}).get("metadata", {}).get("name", ""))
        current = self.objects.get(key)
        if method == "POST":
            if current is not None:
                return _status(409, "AlreadyExists", f'leases.coordination.k8s.io "{key[1]}" already exists')
            return self._stored("create", 201, namespace, body)
        if current is None:
            return _status(404, "NotFound", f'leases.coordination.k8s.io "{key[1]}" not found')
        if method == "GET":
            return 200, current
        wanted = ((body or {}).get("metadata", {}).get("resourceVersion")
                  or ((body or {}).get("preconditions") or {}).get("resourceVersion"))
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            return _status(409, "Conflict", "the object has been modified; please apply your changes to the "
                                            "latest version and try again")
        if method == "PUT":
            return self._stored("replace", 200, namespace, body)
        del self.objects[key]
        self.history.append(("delete", None))
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}

    def _stored(self, verb: str, code: int, namespace: str, body: dict) -> tuple[int, dict]:
        stored = self.put(namespace, body)
        self.history.append((verb, stored))
        return code, stored

"""`infra status staging` against endpoints that accept connections and never answer.

AWS (AWS_ENDPOINT_URL) and the Kubernetes API (KUBECONFIG) both point at a loopback listener that accepts
and stays silent: the worst case, where only the command's own deadline ends the wait. Target: the
answer (every part unknown, exit 3) within 5 s. `infra status --help` is timed alongside, so a busy
machine shows as startup cost. Usage: python bench/status_unreachable.py [RUNS]
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _timing import PYTHON, ROOT

TARGET_S = 5.0


def silent_listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(256)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])  # keep it open, never answer
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env, text=True)
    return time.perf_counter() - start, done.returncode, done.stderr


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    server, port = silent_listener()
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', "
            "insecure-skip-tls-verify: true}}]\n"
            "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
            "users: [{name: u, user: {token: bench}}]\n")
        env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1", "KUBECONFIG": str(kubeconfig)}
        env.pop("AWS_PROFILE", None)
        infra = [PYTHON, "-c", "from cli.main import main; main()"]
        status, startup = [], []
        for _ in range(runs):
            seconds, code, errors = timed([*infra, "status", "staging"], env)
            if code != 3:
                raise SystemExit(f"infra status exited {code}, expected 3 (every part unknown):\n{errors}")
            status.append(seconds)
            startup.append(timed([*infra, "status", "--help"], env)[0])
    server.close()
    median = statistics.median(status)
    print(f"infra status staging, endpoints silent: median {median * 1000:8.1f} ms, max {max(status) * 1000:8.1f} ms "
          f"({runs} runs)")
    print(f"infra status --help (startup):          median {statistics.median(startup) * 1000:8.1f} ms")
    print(f"median {'within' if median <= TARGET_S else 'ABOVE'} the {TARGET_S:g} s target")


if __name__ == "__main__":
    main()

"""Reading an engine's health check the way an expert does: which address it dials (from its command,
or from what it printed), and where the service really listens (a container's /proc/net/tcp{,6}).
Pure functions of text; table-tested in tests/runbooks/test_check_evidence.py."""

from __future__ import annotations

import ipaddress
import math
import re

from runbooks.probes import is_loopback

# `temporal operator cluster health` and `tctl cluster health` dial this when given no --address.
TEMPORAL_CLI_DEFAULT = "127.0.0.1:7233"
_TEMPORAL_CLI = re.compile(r"\btemporal\s+operator\s+cluster\s+health\b|\btctl\b.*\bcluster\s+health\b")
_HOST = r"(?:\d{1,3}(?:\.\d{1,3}){3}|localhost|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)"
_ADDRESS_FLAG = re.compile(rf"--address[= ]\s*(?P<host>{_HOST}):(?P<port>\d{{1,5}})\b")
_HOST_PORT = re.compile(r"(?<![\w/.-])(?P<host>\d{1,3}(?:\.\d{1,3}){3}|localhost|\[[0-9a-fA-F:.]+\]):"
                        r"(?P<port>\d{1,5})\b")
_NC = re.compile(rf"\bnc\b(?:\s+-\w+)*\s+(?P<host>{_HOST})\s+(?P<port>\d{{1,5}})\b")
_DEV_TCP = re.compile(rf"/dev/tcp/(?P<host>{_HOST})/(?P<port>\d{{1,5}})\b")
# What a failed check prints: Go's dialer ("dial tcp 127.0.0.1:7233: connect: connection refused"), the
# temporal CLI ("failed connecting to Temporal server at 127.0.0.1:7233"), the kubelet ("dial tcp ...").
_OUTPUT_ADDRESS = re.compile(rf"(?:dial tcp|server at|checks for)\s+(?P<host>{_HOST}):(?P<port>\d{{1,5}})\b")


def check_address(command: str, outputs: list[str] | tuple[str, ...] = ()) -> str | None:
    """HOST:PORT the health check connects to: from its command, else from what it printed (newest first)."""
    for pattern in (_ADDRESS_FLAG, _NC, _DEV_TCP, _HOST_PORT):
        if match := pattern.search(command):
            return f"{match['host']}:{match['port']}"
    for output in reversed(outputs):
        if match := _OUTPUT_ADDRESS.search(output):
            return f"{match['host']}:{match['port']}"
    if _TEMPORAL_CLI.search(command):
        return TEMPORAL_CLI_DEFAULT
    return None


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def listening(proc_net_tcp: str) -> tuple[str, ...]:
    """HOST:PORT of every listening socket in the text of /proc/net/tcp and /proc/net/tcp6."""
    found: list[str] = []
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A" or ":" not in fields[1]:  # 0A: TCP_LISTEN
            continue
        hex_ip, _, hex_port = fields[1].partition(":")
        try:
            raw = bytes.fromhex(hex_ip)
            # the kernel prints each 32-bit word in host (little-endian) order
            packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(packed)
            port = int(hex_port, 16)
        except ValueError:
            continue
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        address = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
        if address not in found:
            found.append(address)
    return tuple(found)


def reachable_from_loopback(listen: tuple[str, ...], port: int) -> bool | None:
    """Whether a dial to 127.0.0.1:``port`` inside would find a listener (None: nothing listens on the port)."""
    hosts = [split_address(a)[0] for a in listen if split_address(a)[1] == port]
    if not hosts:
        return None
    return any(is_wildcard(h) or is_loopback(h) for h in hosts)


def first_line(output: str, limit: int = 200) -> str:
    """The line of a check's output that says why, trimmed for a record."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    text = lines[0] if lines else "(no output)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def replace_address(command: str, old: str, new: str) -> str | None:
    """The check's command pointed at ``new`` instead of ``old`` (None: the command does not name ``old``)."""
    if old in command:
        return command.replace(old, new)
    if _TEMPORAL_CLI.search(command) and old == TEMPORAL_CLI_DEFAULT and "--address" not in command:
        return f"{command} --address {new}"
    return None


def start_period_for(first_success: float) -> int:
    """The start period to recommend from a measured time to first success: half as much again, whole seconds."""
    return max(1, math.ceil(first_success * 1.5))

"""Reading a health check like an expert: the address it dials and where the service listens (pure)."""

from __future__ import annotations

import pytest

from runbooks.check_evidence import check_address, listening, reachable_from_loopback, replace_address

REFUSED = ("Error: failed connecting to Temporal server at 127.0.0.1:7233: connection refused\n"
           "  Connection checks for 127.0.0.1:7233")


@pytest.mark.parametrize(
    ("command", "outputs", "address"),
    [
        ("temporal operator cluster health --address 127.0.0.1:7233", (), "127.0.0.1:7233"),
        ("temporal operator cluster health --address=temporal:7233", (), "temporal:7233"),
        ("temporal operator cluster health", (), "127.0.0.1:7233"),  # the CLI's default address
        ("tctl --address localhost:7233 cluster health", (), "localhost:7233"),
        ("nc -z 127.0.0.1 7233", (), "127.0.0.1:7233"),
        ("bash -c '</dev/tcp/localhost/7233'", (), "localhost:7233"),
        ("grpc_health_probe -addr=[::1]:7233", (), "[::1]:7233"),
        # the command names no address, its output does: the memo's line
        ("/healthcheck.sh", ("dial tcp 127.0.0.1:7233: connect: connection refused",), "127.0.0.1:7233"),
        ("/healthcheck.sh", (REFUSED,), "127.0.0.1:7233"),
        ("/healthcheck.sh", ("ok",), None),
    ],
)
def test_check_address(command, outputs, address):
    assert check_address(command, outputs) == address


# /proc/net/tcp and tcp6 as a container bound to its own IP (10.88.0.5) and to everything show them
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0500580A:1C41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 29732 1
   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 29733 1
   2: 0500580A:A3E8 0500580A:1C41 01 00000000:00000000 02:000AFA63 00000000     0        0 19320 2
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1C42 00000000000000000000000000000000:0000 0A 0 0 0
   1: 0000000000000000FFFF00000500580A:1C43 00000000000000000000000000000000:0000 0A 0 0 0
   2: 00000000000000000000000001000000:1C44 00000000000000000000000000000000:0000 0A 0 0 0
"""


def test_listening_reads_ipv4_ipv6_and_mapped_addresses_and_skips_connections():
    assert listening(PROC_NET_TCP) == ("10.88.0.5:7233", "127.0.0.1:3306", "[::]:7234", "10.88.0.5:7235",
                                       "[::1]:7236")


@pytest.mark.parametrize(
    ("listen", "port", "reachable"),
    [
        (("10.88.0.5:7233",), 7233, False),  # the incident: bound to the container's IP only
        (("10.88.0.5:7233", "127.0.0.1:7233"), 7233, True),
        (("0.0.0.0:7233",), 7233, True),
        (("[::]:7233",), 7233, True),
        (("10.88.0.5:7234",), 7233, None),  # nothing on the port at all
    ],
)
def test_reachable_from_loopback(listen, port, reachable):
    assert reachable_from_loopback(listen, port) is reachable


@pytest.mark.parametrize(
    ("command", "old", "new", "pointed"),
    [
        ("temporal operator cluster health --address 127.0.0.1:7233", "127.0.0.1:7233", "10.88.0.5:7233",
         "temporal operator cluster health --address 10.88.0.5:7233"),
        ("temporal operator cluster health", "127.0.0.1:7233", "10.88.0.5:7233",
         "temporal operator cluster health --address 10.88.0.5:7233"),
        ("/healthcheck.sh", "127.0.0.1:7233", "10.88.0.5:7233", None),
    ],
)
def test_replace_address(command, old, new, pointed):
    assert replace_address(command, old, new) == pointed

"""CIDR sets are judged by the addresses they cover, whatever the spelling."""

from __future__ import annotations

import pytest

from policies.addresses import blocks_reach_internet, parse, reaches_internet


def reach(*cidrs: str) -> bool:
    return reaches_internet([parse(c) for c in cidrs])


@pytest.mark.parametrize("cidrs", [
    ["0.0.0.0/0"], [" 0.0.0.0/0 "], ["0.0.0.0/0\n"], ["0.0.0.1/0"], ["0.0.0.0/0.0.0.0"], ["0.0.0.0/00"],
    ["::/0"], ["::0/0"], ["0:0:0:0:0:0:0:0/0"], ["2000::/3"], ["::ffff:0:0/96"],
    ["0.0.0.0/1", "128.0.0.0/1"], ["::/1", "8000::/1"], ["64.0.0.0/2"], ["8.0.0.0/8"],
    [f"{a}.0.0.0/8" for a in range(1, 224) if a not in (10, 127)],  # every public /8, listed one by one
])
def test_sets_that_reach_the_internet(cidrs):
    assert reach(*cidrs)


@pytest.mark.parametrize("cidrs", [
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"], ["203.0.113.0/24"], ["198.51.100.7"], ["8.0.0.0/9"],
    ["2001:db8::/32"], ["2600:1f18::/32"], ["169.254.0.0/16", "100.64.0.0/10"], ["224.0.0.0/3"], [],
])
def test_sets_that_do_not(cidrs):
    assert not reach(*cidrs)


def test_exceptions_carve_out_of_their_own_block_only():
    half, other_half = parse("0.0.0.0/1"), parse("128.0.0.0/1")
    everything = parse("0.0.0.0/0")
    assert not blocks_reach_internet([(everything, [half, other_half])])
    assert blocks_reach_internet([(everything, [half]), (half, [])])
    assert not reaches_internet([everything], [half, other_half])


@pytest.mark.parametrize("value", ["", "0/0", "0.0.0.0/ 0", "0.0.0.0/33", "internet", None, 0, ["0.0.0.0/0"]])
def test_what_is_not_a_cidr_is_refused(value):
    with pytest.raises(ValueError, match="is not a CIDR"):
        parse(value)


def _public_ipv4() -> int:
    """The public IPv4 space, counted independently of the module (ipaddress's own arithmetic)."""
    import ipaddress

    from policies.addresses import _NOT_PUBLIC

    special = ipaddress.collapse_addresses(ipaddress.ip_network(c) for c in _NOT_PUBLIC[4])
    return 2**32 - sum(n.num_addresses for n in special)


@pytest.mark.parametrize(("blocks", "addresses"), [
    ([("8.0.0.0/8", [])], 2**24),
    ([("8.0.0.0/9", []), ("8.128.0.0/9", [])], 2**24),  # adjacent halves merge
    ([("8.0.0.0/8", ["8.0.0.0/9"])], 2**23),
    ([("8.0.0.0/8", ["8.0.0.0/32", "8.255.255.255/32", "8.1.0.0/16"])], 2**24 - 2 - 2**16),  # holes at both ends
    ([("8.0.0.0/8", []), ("8.0.0.0/16", [])], 2**24),  # overlaps count once
    ([("10.0.0.0/7", [])], 2**24),  # only the public half of 10.0.0.0/7 (11/8) counts
    ([("8.0.0.0/31", ["8.0.0.0/32"])], 1),  # one address left
])
def test_the_share_is_counted_address_by_address(blocks, addresses):
    from policies.addresses import public_share

    parsed = [(parse(c), [parse(e) for e in excepted]) for c, excepted in blocks]
    assert public_share(parsed) == addresses / _public_ipv4()

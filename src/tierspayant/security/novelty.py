"""What is new about a session (issue 13, point 2; docs/THREATS.md, "A new device or network"):
the passkey it was opened with and the network it came from, against the ones the account has
signed in from before, and a session used from another network than the one it was opened on.
Networks are a source's /24 (IPv4) or /48 (IPv6): a practice's connection, not a person's
address; only keyed fingerprints of them are stored (security/pseudonyms.py)."""

from __future__ import annotations

import ipaddress

#: Bits of ``Session.novelty``.
NEW_DEVICE, NEW_NETWORK = 1, 2


def network_of(source: str | None) -> str | None:
    """The source's network as ``a.b.c.0/24`` or ``x:y:z::/48``; None when it is no address."""
    if not source:
        return None
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def novelty(known: set[tuple[str, str]], device: str | None, network: str | None) -> int:
    """NEW_DEVICE / NEW_NETWORK for a sign-in of an account that has signed in from ``known``
    (kind, fingerprint) pairs; nothing is new for an account with no history yet."""
    if not known:
        return 0
    bits = 0
    if device is not None and ("device", device) not in known:
        bits |= NEW_DEVICE
    if network is not None and ("network", network) not in known:
        bits |= NEW_NETWORK
    return bits


def reasons(bits: int, moved: bool) -> tuple[str, ...]:
    """The signals a session carries (detection/signals.py weighs them)."""
    return tuple(name for name, on in (("new_device", bits & NEW_DEVICE), ("new_network", bits & NEW_NETWORK),
                                       ("session_moved", moved)) if on)

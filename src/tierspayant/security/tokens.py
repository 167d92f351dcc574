"""Session tokens and public reference numbers.

Session tokens carry 256 bits from the OS CSPRNG (>= 128 required, docs/THREATS.md sessions) and are
stored only as their SHA-256 (a database reader cannot replay them). Engagement, PEC and quote
numbers are random too: a sequential number would let one professional guess another's.
"""

from __future__ import annotations

import base64

from tierspayant.security._hazmat.primitives import (
    constant_time_equal,
    random_base32,
    random_bytes,
    random_token,
    sha256_hex,
)


def new_session_token() -> str:
    return random_token(32)


def same_token(given: str, expected: str) -> bool:
    """Whether two tokens are equal, in a time that does not tell where they differ."""
    return constant_time_equal(given, expected)


def hash_token(token: str) -> str:
    return sha256_hex(token.encode())


def new_reference(prefix: str) -> str:
    """e.g. ``E-7KQ2M9X4HT3W8ZPA``: a prefix and 16 characters (80 bits)."""
    return f"{prefix}-{random_base32(16)}"


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(random_bytes(32)).decode()

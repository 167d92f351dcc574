"""Primitives used by the recipes in ``tierspayant.security``. Nothing else imports these."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def random_token(nbytes: int) -> str:
    """URL-safe text of ``nbytes`` bytes from the OS CSPRNG."""
    return secrets.token_urlsafe(nbytes)


def random_digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols, no I, O, 0, 1: read aloud safely


def random_base32(count: int) -> str:
    """``count`` symbols of 5 bits each, from one CSPRNG read (one call, not one per symbol)."""
    value = int.from_bytes(secrets.token_bytes((count * 5 + 7) // 8), "big")
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in range(count))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())

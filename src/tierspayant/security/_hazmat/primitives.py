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


def random_base32(count: int) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read aloud safely
    return "".join(secrets.choice(alphabet) for _ in range(count))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())

"""Content digests (not secrets): request fingerprints for idempotency, duplicate keys."""

from __future__ import annotations

from tierspayant.security._hazmat.primitives import sha256_hex


def content_digest(data: bytes) -> str:
    """SHA-256 hex digest of ``data``. Not for personal data that must stay unguessable: a NIR
    has too few possibilities for a plain hash (docs/THREATS.md: keyed blind indexes instead)."""
    return sha256_hex(data)

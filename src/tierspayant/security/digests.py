"""Content digests (not secrets): request fingerprints for idempotency, duplicate keys."""

from __future__ import annotations

from pathlib import Path

from tierspayant.security._hazmat.primitives import sha256 as _sha256
from tierspayant.security._hazmat.primitives import sha256_chunks_hex, sha256_hex


def content_digest(data: bytes) -> str:
    """SHA-256 hex digest of ``data``. Not for personal data that must stay unguessable: a NIR
    has too few possibilities for a plain hash (docs/THREATS.md: keyed blind indexes instead)."""
    return sha256_hex(data)


def sha256(data: bytes) -> bytes:
    """The SHA-256 of ``data`` (32 bytes): for protocols that name it (RFC 9162 Merkle hashes,
    PKCE S256, C2SP key ids), never to hide personal data (see ``content_digest``)."""
    return _sha256(data)


def file_digest(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks (a membership file's identity: an
    interrupted import of the same file resumes; services/members.py)."""
    with path.open("rb") as handle:
        return sha256_chunks_hex(iter(lambda: handle.read(1 << 20), b""))

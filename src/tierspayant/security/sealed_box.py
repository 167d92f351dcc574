"""Files only their recipient can open (the controller's breach export, docs/THREATS.md,
"Breach response"): ECIES over X25519 -- an ephemeral key pair per file, HKDF-SHA256 over the
shared secret (salted with both public keys), AES-256-GCM with the recipient's key id as
associated data. Text form: ``tpx1.<ephemeral public>.<nonce + ciphertext>`` (URL-safe base64)."""

from __future__ import annotations

import base64

from tierspayant.security._hazmat.primitives import (
    aesgcm_decrypt,
    aesgcm_encrypt,
    hkdf_sha256,
    random_bytes,
    x25519_generate,
    x25519_public,
    x25519_shared,
)

PREFIX = "tpx1"
INFO = b"tierspayant breach export v1"


class SealedBoxError(ValueError):
    """Not a sealed box, not for this key, or altered."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_keypair() -> tuple[str, str]:
    """(private, public) as base64: the controller keeps the private one, the platform stores
    the public one (insurers.export_public_key)."""
    private, public = x25519_generate()
    return _b64(private), _b64(public)


def parse_public_key(text: str) -> bytes:
    try:
        raw = _unb64(text.strip())
    except (ValueError, TypeError):
        raise SealedBoxError("not base64") from None
    if len(raw) != 32:
        raise SealedBoxError("an X25519 public key is 32 bytes")
    return raw


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return hkdf_sha256(shared, ephemeral + recipient, INFO)


def seal(recipient_public: str, plaintext: bytes) -> str:
    recipient = parse_public_key(recipient_public)
    ephemeral_private, ephemeral_public = x25519_generate()
    try:
        shared = x25519_shared(ephemeral_private, recipient)
    except ValueError:
        raise SealedBoxError("unusable public key") from None
    nonce = random_bytes(12)
    body = aesgcm_encrypt(_key(shared, ephemeral_public, recipient), nonce, plaintext, recipient)
    return f"{PREFIX}.{_b64(ephemeral_public)}.{_b64(nonce + body)}"


def open_sealed(recipient_private: str, sealed: str) -> bytes:
    try:
        prefix, ephemeral_text, body_text = sealed.strip().split(".")
        if prefix != PREFIX:
            raise ValueError
        private = _unb64(recipient_private.strip())
        ephemeral, body = _unb64(ephemeral_text), _unb64(body_text)
        recipient = x25519_public(private)
        shared = x25519_shared(private, ephemeral)
        return aesgcm_decrypt(_key(shared, ephemeral, recipient), body[:12], body[12:], recipient)
    except Exception:  # any failure is the same answer: not for this key, or altered
        raise SealedBoxError("cannot open: not a sealed box for this key, or altered") from None

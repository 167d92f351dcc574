"""Primitives used by the recipes in ``tierspayant.security``. Nothing else imports these."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any


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


def sha256_chunks_hex(chunks: Any) -> str:
    """SHA-256 hex of the concatenated ``chunks`` (an iterable of bytes), in constant memory."""
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def random_bytes(count: int) -> bytes:
    return secrets.token_bytes(count)


def ed25519_generate() -> tuple[bytes, bytes]:
    """(private key seed, public key), raw 32 bytes each."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return seed, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_public(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class AuthenticationFailed(Exception):
    """An AES-GCM tag did not verify (wrong key, nonce, AAD, or a modified ciphertext)."""


_AEADS: dict[bytes, Any] = {}


def _aead(key: bytes) -> Any:
    """One AESGCM object per key (building one costs more than sealing a short field)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = _AEADS.get(key)
    if aead is None:
        if len(_AEADS) > 10_000:
            _AEADS.clear()
        aead = _AEADS[key] = AESGCM(key)
    return aead


def aesgcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-GCM (NIST SP 800-38D): ciphertext || 16-byte tag."""
    return bytes(_aead(key).encrypt(nonce, plaintext, aad))


def aesgcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        return bytes(_aead(key).decrypt(nonce, data, aad))
    except InvalidTag:
        raise AuthenticationFailed() from None


def x25519_generate() -> tuple[bytes, bytes]:
    """(private, public) raw 32-byte X25519 keys."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    key = X25519PrivateKey.generate()
    return (key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
            key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def x25519_shared(private: bytes, peer_public: bytes) -> bytes:
    """The X25519 shared secret; ValueError for an invalid (low-order) peer key."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

    return X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(peer_public))


def hkdf_sha256(secret: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def x25519_public(private: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

"""Field-level envelope encryption (docs/THREATS.md T5): AES-256-GCM with a random 96-bit nonce, the
associated data binding the value to (insurer, table, column, row id) and the key version, so
that a ciphertext copied to another row, column or insurer does not decrypt; per-insurer data
keys, each version wrapped by a key-encryption key held outside the database; blind indexes
(HMAC-SHA-256, one key per purpose) to find a NIR or a member number without storing it.

Callers never choose an algorithm, a nonce or a mode: ``cipher.encrypt(value, FieldRef(...))``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tierspayant.security._hazmat.primitives import (
    AuthenticationFailed,
    aesgcm_decrypt,
    aesgcm_encrypt,
    hmac_sha256,
    random_bytes,
)
from tierspayant.security.encoding import b64url_decode, b64url_encode

ENVELOPE = "e1"


class InvalidCiphertext(Exception):
    """Does not decrypt: wrong place, wrong key, shredded key, or modified. Nothing more is said."""


@dataclass(frozen=True, slots=True)
class FieldRef:
    """Where a value lives: its ciphertext is valid there and nowhere else."""

    insurer_id: int
    table: str
    column: str
    row_id: int

    def aad(self, version: int) -> bytes:
        return f"tierspayant|{self.insurer_id}|{self.table}|{self.column}|{self.row_id}|v{version}".encode()


class KeyCustodyUnavailable(Exception):
    """The key-encryption key cannot be reached (a hardware security module that stopped
    answering). Never an :class:`InvalidCiphertext`: data whose key cannot be unwrapped *now*
    must fail closed as an error, not read as "not found" like shredded data (principle 5 is
    about what a ciphertext says, not about an outage)."""


class KeyEncryptionKey(Protocol):
    """The port that wraps data keys (docs/THREATS.md T5, "Key custody"). The KEK itself never
    enters the database: a key file beside it (:class:`FileKek`, the embedded default) or a key
    inside a hardware security module that never leaves it (``security/pkcs11_kek.py``).

    Both calls bind the wrapped key to its slot with the associated data
    ``dek|<insurer id>|<version>``: a wrapped key copied to another insurer or version does not
    unwrap. ``wrap`` returns text to store; ``unwrap`` returns the 32-byte data key, or raises
    :class:`InvalidCiphertext` for anything that does not unwrap (another KEK, another slot, a
    modified or malformed value) and :class:`KeyCustodyUnavailable` when the KEK cannot be
    reached at all. Callers (the :class:`KeyRing`) cache what ``unwrap`` returns, in memory only."""

    def wrap(self, data_key: bytes, insurer_id: int, version: int) -> str: ...

    def unwrap(self, wrapped: str, insurer_id: int, version: int) -> bytes: ...


#: How a data key wrapped inside a PKCS#11 token starts (``security/pkcs11_kek.py``); a key file's
#: wrapped keys are bare base64url, which never holds a ".".
TOKEN_WRAPPED_PREFIX = "p11."  # noqa: S105 -- a format marker, not a secret


def data_key_aad(insurer_id: int, version: int) -> bytes:
    """The associated data binding a wrapped data key to its slot (every KEK adapter uses it)."""
    return f"dek|{insurer_id}|{version}".encode()


class FileKek:
    """The embedded KEK adapter (``TIERS_KEK=file``): a 256-bit key held in this process's
    memory, loaded by the composition root from ``var/keys/kek.key`` (0600), AES-256-GCM with a
    random nonce. A stolen server image holds it beside the database: production puts the KEK in
    an HSM instead (``security/pkcs11_kek.py``). Its wrapped keys are bare base64url (no ``.``),
    so they are never mistaken for a token's (:data:`TOKEN_WRAPPED_PREFIX`)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a key-encryption key is 256 bits")
        self._key = key

    @classmethod
    def generate(cls) -> FileKek:
        """A random KEK (for throwaway rings; the platform's is loaded from its key file)."""
        return cls(random_bytes(32))

    def wrap(self, data_key: bytes, insurer_id: int, version: int) -> str:
        nonce = random_bytes(12)
        return b64url_encode(nonce + aesgcm_encrypt(self._key, nonce, data_key, data_key_aad(insurer_id, version)))

    def unwrap(self, wrapped: str, insurer_id: int, version: int) -> bytes:
        try:
            if "." in wrapped:  # another adapter's envelope (an HSM's): not this key's to open
                raise ValueError("not a key file's wrapped key")
            raw = b64url_decode(wrapped)
            return aesgcm_decrypt(self._key, raw[:12], raw[12:], data_key_aad(insurer_id, version))
        except (AuthenticationFailed, ValueError):
            raise InvalidCiphertext() from None


@dataclass(frozen=True, slots=True)
class WrappedKey:
    insurer_id: int
    version: int
    wrapped: str


class KeyRing:
    """Per-insurer data keys by version. Holds wrapped keys; unwraps on first use and keeps the
    plain key in memory only (never written). The newest version of an insurer takes writes;
    older versions still decrypt until retired; a shredded insurer decrypts nothing."""

    def __init__(self, kek: KeyEncryptionKey, wrapped: list[WrappedKey] | None = None) -> None:
        self.kek = kek
        self._wrapped: dict[tuple[int, int], str] = {}
        self._plain: dict[tuple[int, int], bytes] = {}
        for key in wrapped or []:
            self._wrapped[(key.insurer_id, key.version)] = key.wrapped

    def add(self, key: WrappedKey) -> None:
        """A stored wrapped key (loaded by the store)."""
        self._wrapped[(key.insurer_id, key.version)] = key.wrapped

    def versions(self, insurer_id: int) -> list[int]:
        return sorted(v for (i, v) in self._wrapped if i == insurer_id)

    def new_version(self, insurer_id: int) -> WrappedKey:
        """A fresh data key for the insurer (to store); it takes writes at once."""
        version = max(self.versions(insurer_id), default=0) + 1
        wrapped = WrappedKey(insurer_id, version, self.kek.wrap(random_bytes(32), insurer_id, version))
        self._wrapped[(insurer_id, version)] = wrapped.wrapped
        return wrapped

    def retire(self, insurer_id: int, version: int) -> None:
        self._wrapped.pop((insurer_id, version), None)
        self._plain.pop((insurer_id, version), None)

    def shred(self, insurer_id: int) -> None:
        """Forget every key of the insurer (the caller destroys the stored wrapped keys too)."""
        for version in self.versions(insurer_id):
            self.retire(insurer_id, version)

    def current(self, insurer_id: int) -> int:
        versions = self.versions(insurer_id)
        if not versions:
            raise InvalidCiphertext()
        return versions[-1]

    def key(self, insurer_id: int, version: int) -> bytes:
        plain = self._plain.get((insurer_id, version))
        if plain is None:
            wrapped = self._wrapped.get((insurer_id, version))
            if wrapped is None:
                raise InvalidCiphertext()
            plain = self._plain[(insurer_id, version)] = self.kek.unwrap(wrapped, insurer_id, version)
        return plain


class FieldCipher:
    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def encrypt(self, value: str, ref: FieldRef) -> str:
        version = self.keys.current(ref.insurer_id)
        nonce = random_bytes(12)
        sealed = aesgcm_encrypt(self.keys.key(ref.insurer_id, version), nonce, value.encode(), ref.aad(version))
        return f"{ENVELOPE}.{version}.{b64url_encode(nonce + sealed)}"

    def decrypt(self, envelope: str, ref: FieldRef) -> str:
        try:
            prefix, version_text, body = envelope.split(".", 2)
            version = int(version_text)
            if prefix != ENVELOPE:
                raise ValueError(prefix)
            raw = b64url_decode(body)
            return aesgcm_decrypt(self.keys.key(ref.insurer_id, version), raw[:12], raw[12:],
                                  ref.aad(version)).decode()
        except (ValueError, AuthenticationFailed, UnicodeDecodeError):
            raise InvalidCiphertext() from None

    @staticmethod
    def version_of(envelope: str) -> int:
        """The key version an envelope was sealed with (for rotation), without decrypting."""
        try:
            return int(envelope.split(".", 2)[1])
        except (IndexError, ValueError):
            raise InvalidCiphertext() from None


class UnsafePlainCipher(FieldCipher):
    """Benchmarks only (TIERS_UNSAFE_PLAINTEXT_FIELDS=1): the same envelopes' shape with the
    value base64-encoded in clear, to measure what encryption costs on the same code path
    (bench/http_bench.py --compare-encryption). Never in production: it breaks docs/THREATS.md T5."""

    def encrypt(self, value: str, ref: FieldRef) -> str:
        return f"p1.{self.keys.current(ref.insurer_id)}.{b64url_encode(value.encode())}"

    def decrypt(self, envelope: str, ref: FieldRef) -> str:
        try:
            prefix, _, body = envelope.split(".", 2)
            if prefix != "p1":
                raise ValueError(prefix)
            return b64url_decode(body).decode()
        except (ValueError, UnicodeDecodeError):
            raise InvalidCiphertext() from None


class BlindIndex:
    """Keyed lookups: HMAC-SHA-256 with one key per purpose (a NIR index key cannot be used to
    test member numbers). A plain hash of a NIR would be reversed by enumerating ~10^13 values."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if any(len(k) < 32 for k in keys.values()):
            raise ValueError("blind-index keys are at least 256 bits")
        self._keys = dict(keys)

    def of(self, purpose: str, insurer_id: int, value: str) -> str:
        key = self._keys.get(purpose)
        if key is None:
            raise KeyError(f"no blind-index key for {purpose}")
        return hmac_sha256(key, f"{insurer_id}|{value}".encode()).hex()[:32]

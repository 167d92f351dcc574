"""Signed notes (C2SP signed-note) with Ed25519, for the transparency log's checkpoints (C2SP
tlog-checkpoint) and witnesses' cosignatures.

A note is text ending in a newline, a blank line, then signature lines
``— <name> <base64(key hash (4 bytes) || signature)>``; the key hash is the first four bytes of
SHA-256(name || "\\n" || 0x01 || public key), 0x01 standing for Ed25519."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from tierspayant.security._hazmat.primitives import ed25519_public, ed25519_sign, ed25519_verify, sha256

_ED25519 = b"\x01"
_DASH = "\u2014"


def key_hash(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + _ED25519 + public_key)[:4]


@dataclass(frozen=True)
class Verifier:
    name: str
    public_key: bytes

    @property
    def encoded(self) -> str:
        """``name+hash+base64(0x01 || key)``, the vkey text form."""
        return f"{self.name}+{key_hash(self.name, self.public_key).hex()}+" \
               f"{base64.b64encode(_ED25519 + self.public_key).decode()}"

    @classmethod
    def decode(cls, vkey: str) -> Verifier:
        name, _hash, key = vkey.split("+", 2)
        raw = base64.b64decode(key)
        if raw[:1] != _ED25519 or len(raw) != 33:
            raise ValueError("not an Ed25519 verifier key")
        return cls(name, raw[1:])


class NoteSigner:
    def __init__(self, name: str, seed: bytes) -> None:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise ValueError("a signer name has no spaces and no '+'")
        self.name = name
        self._seed = seed
        self.verifier = Verifier(name, ed25519_public(seed))

    def signature_line(self, text: str) -> str:
        signature = ed25519_sign(self._seed, text.encode())
        blob = base64.b64encode(key_hash(self.name, self.verifier.public_key) + signature).decode()
        return f"{_DASH} {self.name} {blob}\n"

    def sign(self, text: str) -> str:
        if not text.endswith("\n"):
            raise ValueError("note text ends with a newline")
        return text + "\n" + self.signature_line(text)


def split_note(note: str) -> tuple[str, list[str]]:
    """(text, signature lines). Raises ValueError for a malformed note."""
    text, sep, signatures = note.partition("\n\n")
    if not sep:
        raise ValueError("no signature block")
    lines = [line for line in signatures.split("\n") if line]
    return text + "\n", lines


def verify_note(note: str, verifier: Verifier) -> bool:
    """True when ``note`` carries a valid signature by ``verifier``."""
    try:
        text, lines = split_note(note)
    except ValueError:
        return False
    want = key_hash(verifier.name, verifier.public_key)
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or parts[1] != verifier.name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if base64.b64encode(blob).decode() != parts[2]:
            continue  # non-canonical base64 (unused bits set): a second spelling of one signature
        if blob[:4] == want and ed25519_verify(verifier.public_key, text.encode(), blob[4:]):
            return True
    return False

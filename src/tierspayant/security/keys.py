"""New key material, as recipes: where it is kept is the store's business (store/key_files.py;
a KMS or an HSM would sit behind the same calls)."""

from __future__ import annotations

from tierspayant.security._hazmat.primitives import ed25519_generate, random_bytes


def new_secret(size: int = 32) -> bytes:
    """``size`` random bytes from the operating system's CSPRNG (a key-encryption, blind-index
    or pseudonym key)."""
    return random_bytes(size)


def new_signing_seed() -> bytes:
    """A new Ed25519 private key seed (the log's, the presence proofs', a witness's)."""
    return ed25519_generate()[0]

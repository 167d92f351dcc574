"""Keyed pseudonyms for the access record: stable per beneficiary, meaningless without the key
(HMAC-SHA-256; a plain hash of a NIR or an id could be reversed by enumeration)."""

from __future__ import annotations

import base64

from tierspayant.security._hazmat.primitives import hmac_sha256


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("pseudonym key too short")
        self._key = key

    def beneficiary(self, insurer_id: int, beneficiary_id: int) -> str:
        digest = hmac_sha256(self._key, f"beneficiary:{insurer_id}:{beneficiary_id}".encode())
        return "b_" + base64.b32encode(digest[:15]).decode().lower()

    def neighbourhood(self, amc_number: str, nir: str) -> str:
        """Keyed hash of the NIR's first ten digits (sex, birth year and month, place of birth):
        identities presented in one neighbourhood betray sequential guessing (docs/THREATS.md T3)."""
        digest = hmac_sha256(self._key, f"neighbourhood:{amc_number}:{nir[:10]}".encode())
        return "n_" + base64.b32encode(digest[:15]).decode().lower()

    def fingerprint(self, kind: str, value: str) -> str:
        """Keyed fingerprint of a device (a passkey credential id) or a network (security/novelty.py)."""
        digest = hmac_sha256(self._key, f"fingerprint:{kind}:{value}".encode())
        return "f_" + base64.b32encode(digest[:15]).decode().lower()

    def presented_identity(self, amc_number: str, nir: str) -> str:
        """What a professional presented, keyed: counts distinct patients for the proof-less
        quota whether or not they exist (so the quota itself is no existence oracle)."""
        digest = hmac_sha256(self._key, f"presented:{amc_number}:{nir}".encode())
        return "p_" + base64.b32encode(digest[:15]).decode().lower()

"""Passkeys (WebAuthn) with Duo's py_webauthn: options out, responses verified with the origin,
the RP ID, the single-use challenge and the signature counter (W3C WebAuthn L2 §7.1, §7.2).
Every failure is one opaque ``PasskeyRejected``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tierspayant.security._hazmat.primitives import random_bytes
from tierspayant.security.encoding import b64url_decode, b64url_encode


class PasskeyRejected(Exception):
    """The passkey response is not valid for this platform, challenge and credential."""


@dataclass(frozen=True, slots=True)
class NewPasskey:
    credential_id: str  # base64url
    public_key: bytes  # COSE
    sign_count: int


#: The name the services know (credential ids, challenge hashes).
b64url = b64url_encode


def new_challenge() -> bytes:
    return random_bytes(32)


def challenge_of(credential: dict[str, Any]) -> bytes:
    """The challenge a response answers (to find the stored one); PasskeyRejected if unreadable."""
    try:
        client_data = json.loads(b64url_decode(credential["response"]["clientDataJSON"]))
        return b64url_decode(client_data["challenge"])
    except (KeyError, TypeError, ValueError):
        raise PasskeyRejected() from None


def credential_id_of(credential: dict[str, Any]) -> str:
    raw = credential.get("rawId") or credential.get("id")
    if not isinstance(raw, str) or not raw:
        raise PasskeyRejected()
    return raw


class PasskeyPolicy:
    def __init__(self, rp_id: str, rp_name: str, origin: str) -> None:
        self.rp_id = rp_id
        self.rp_name = rp_name
        self.origin = origin

    def registration_options(self, user_id: bytes, user_name: str, challenge: bytes,
                             exclude: list[str]) -> str:
        return options_to_json(generate_registration_options(
            rp_id=self.rp_id, rp_name=self.rp_name, user_id=user_id, user_name=user_name, challenge=challenge,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=b64url_decode(c)) for c in exclude],
        ))

    def verify_registration(self, credential: dict[str, Any], challenge: bytes) -> NewPasskey:
        try:
            verified = verify_registration_response(
                credential=credential, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, require_user_verification=True)
        except (InvalidRegistrationResponse, KeyError, TypeError, ValueError):
            raise PasskeyRejected() from None
        return NewPasskey(b64url_encode(verified.credential_id), verified.credential_public_key, verified.sign_count)

    def authentication_options(self, challenge: bytes) -> str:
        return options_to_json(generate_authentication_options(
            rp_id=self.rp_id, challenge=challenge, user_verification=UserVerificationRequirement.REQUIRED))

    def verify_authentication(self, credential: dict[str, Any], challenge: bytes, public_key: bytes,
                              sign_count: int) -> int:
        """The new signature counter. A counter that does not grow (a cloned authenticator)
        is rejected by py_webauthn when either counter is non-zero."""
        try:
            verified = verify_authentication_response(
                credential=credential, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, credential_public_key=public_key,
                credential_current_sign_count=sign_count, require_user_verification=True)
        except (InvalidAuthenticationResponse, KeyError, TypeError, ValueError):
            raise PasskeyRejected() from None
        return int(verified.new_sign_count)

"""The presence proof a person types (security/typed_codes.py, security/presence.py): grouped,
with a check character that catches a mistyped character or two swapped neighbours before the
signature is even read; read in any case, I and L as 1, O as 0; one spelling per proof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierspayant.security import typed_codes
from tierspayant.security.presence import InvalidPresenceProof, PresenceIssuer, PresenceVerifier

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PSEUDONYM = "b_" + "a" * 24
ISSUER = PresenceIssuer(b"\x07" * 32)
VERIFIER = PresenceVerifier(ISSUER.public_key)


@given(st.binary(min_size=1, max_size=120))
def test_a_code_reads_back_its_bytes(data: bytes) -> None:
    assert typed_codes.decode(typed_codes.encode(data), len(data)) == data


@given(st.binary(min_size=8, max_size=99), st.data())
def test_one_mistyped_character_is_caught_by_the_check(data: bytes, draw: st.DataObject) -> None:
    code = typed_codes.encode(data)
    positions = [i for i, c in enumerate(code[:-1]) if c != "-"]
    i = draw.draw(st.sampled_from(positions))
    other = draw.draw(st.sampled_from([c for c in typed_codes.ALPHABET if c != code[i]]))
    with pytest.raises(typed_codes.Mistyped):
        typed_codes.decode(code[:i] + other + code[i + 1:], len(data))


@given(st.binary(min_size=8, max_size=99), st.data())
def test_two_swapped_neighbours_are_caught(data: bytes, draw: st.DataObject) -> None:
    text = typed_codes.encode(data).replace("-", "")
    pairs = [i for i in range(len(text) - 2) if text[i] != text[i + 1]]
    if not pairs:
        return
    i = draw.draw(st.sampled_from(pairs))
    swapped = text[:i] + text[i + 1] + text[i] + text[i + 2:]
    with pytest.raises(typed_codes.Mistyped):
        typed_codes.decode(swapped, len(data))


def test_a_typed_proof_verifies_in_any_case_with_any_separators() -> None:
    code = ISSUER.issue_typed("990000011", PSEUDONYM, AT)
    groups = code.split("-")
    assert len(code.replace("-", "")) == 160 and all(len(g) == 4 for g in groups[:-2]) and len(groups[-1]) == 1
    claims = VERIFIER.verify(code.lower().replace("-", " "), AT + timedelta(minutes=5))
    assert (claims.insurer, claims.beneficiary, claims.issued_at) == ("990000011", PSEUDONYM, AT)
    assert claims.expires_at == AT + timedelta(minutes=20) and claims.nonce.startswith("t")
    ones = code.replace("1", "l").replace("0", "O")  # read as they look
    assert VERIFIER.verify(ones, AT).nonce == claims.nonce


def test_a_typed_proof_is_refused_forged_expired_or_by_another_key() -> None:
    code = ISSUER.issue_typed("990000011", PSEUDONYM, AT)
    with pytest.raises(InvalidPresenceProof):
        VERIFIER.verify(code, AT + timedelta(minutes=21))  # expired
    with pytest.raises(InvalidPresenceProof):
        PresenceVerifier(PresenceIssuer(b"\x08" * 32).public_key).verify(code, AT)  # another issuer
    raw = bytearray(typed_codes.decode(code, 99))
    raw[2] ^= 1  # another insurer, the check character recomputed: the signature fails
    with pytest.raises(InvalidPresenceProof):
        VERIFIER.verify(typed_codes.encode(bytes(raw)), AT)
    with pytest.raises(InvalidPresenceProof):
        VERIFIER.verify(code[:-1] + ("0" if code[-1] != "0" else "1"), AT)  # a wrong check character

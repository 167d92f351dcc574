"""The shared unpadded base64url helper: what the security modules' own copies did for every
well-formed value, and a strict alphabet for the rest."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierspayant.security.encoding import b64url_decode, b64url_encode


@given(st.binary())
def test_round_trip_matches_the_former_copies(data: bytes) -> None:
    text = b64url_encode(data)
    assert text == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert "=" not in text
    assert b64url_decode(text) == data == base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_known_values() -> None:
    assert b64url_encode(b"") == ""
    assert b64url_encode(b"\xfb\xff") == "-_8"
    assert b64url_decode("-_8") == b"\xfb\xff"


@pytest.mark.parametrize("text", ["+/8", "YQ==", "YQ=", "Y Q", "YQ\n", "Y!Q", "é", "YQ\x00"])
def test_characters_outside_the_alphabet_raise(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


def test_an_impossible_length_raises() -> None:
    with pytest.raises(binascii.Error):
        b64url_decode("YWJjZ")


@pytest.mark.parametrize("value", [None, 5, b"YQ"])
def test_not_a_string_raises_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        b64url_decode(value)  # type: ignore[arg-type]

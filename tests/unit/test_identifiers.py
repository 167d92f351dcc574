from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import (
    mask_nir,
    nir_key,
    parse_amc_number,
    parse_iban,
    parse_nir,
    parse_rpps,
    rpps_with_key,
)

DOMAIN_NIRS = ["295109912611193", "253072B07300470", "253072A07300443", "255081416802538"]


@pytest.mark.parametrize("nir", DOMAIN_NIRS)
def test_domain_examples_pass(nir: str) -> None:
    assert parse_nir(nir) == nir
    assert nir_key(nir[:13]) == nir[13:]


@pytest.mark.parametrize("nir", ["295109912611194", "29510991261119", "2951099126111933", "X95109912611193"])
def test_bad_nir_refused_without_echoing_the_value(nir: str) -> None:
    with pytest.raises(InvalidField) as info:
        parse_nir(nir)
    assert info.value.field == "nir"
    assert nir not in str(info.value)


@given(st.integers(min_value=0, max_value=99))
def test_every_wrong_key_is_refused(key: int) -> None:
    first13 = "1850575123456"
    candidate = f"{first13}{key:02d}"
    assert (nir_key(first13) == f"{key:02d}") == _valid(candidate)


def _valid(nir: str) -> bool:
    try:
        parse_nir(nir)
    except InvalidField:
        return False
    return True


def test_rpps_luhn() -> None:
    assert parse_rpps("10003879623") == "10003879623"
    with pytest.raises(InvalidField):
        parse_rpps("10003879624")
    assert parse_rpps(rpps_with_key("1000000042"))


def test_amc_and_iban() -> None:
    assert parse_amc_number("990000011") == "990000011"
    with pytest.raises(InvalidField, match="amc_number"):
        parse_amc_number("99000001")
    assert parse_iban("FR76 3000 6000 0112 3456 7890 189") == "FR7630006000011234567890189"
    with pytest.raises(InvalidField, match="iban"):
        parse_iban("FR7630006000011234567890188")


def test_mask_shows_last_three_only() -> None:
    assert mask_nir("295109912611193") == "************193"

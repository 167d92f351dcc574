from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import (
    mask_nir,
    nir_key,
    parse_amc_number,
    parse_bank_account,
    parse_bic,
    parse_iban,
    parse_nir,
    parse_rpps,
    rpps_with_key,
)
from tierspayant.simulate.population import BANKS, make_bank_account

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


# The demo operator's account (config.py): Crédit Agricole SA, bank code 30006.
DEMO_IBAN, DEMO_BIC = "FR7630006000011234567890189", "AGRIFRPPXXX"


def _fr_iban(bank: str, branch: str = "00001", account: str = "12345678901", rib_key: str | None = None) -> str:
    """A French IBAN with correct ISO 13616 check digits, and the correct RIB key unless given."""
    if rib_key is None:
        rib_key = f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"
    bban = bank + branch + account + rib_key
    numeric = "".join(str(int(c, 36)) for c in bban + "FR00")
    return f"FR{98 - int(numeric) % 97:02d}{bban}"


def test_valid_pair_passes() -> None:
    assert parse_bank_account(DEMO_IBAN, DEMO_BIC) == (DEMO_IBAN, DEMO_BIC)
    assert parse_bank_account("fr76 3000-6000.0112 3456 7890 189", " agri frpp xxx ") == (DEMO_IBAN, DEMO_BIC)
    assert parse_bank_account(DEMO_IBAN, "AGRIFRPP") == (DEMO_IBAN, "AGRIFRPP")


def test_bic_of_another_bank_is_refused_naming_bic() -> None:
    with pytest.raises(InvalidField) as info:
        parse_bank_account(DEMO_IBAN, "BNPAFRPPXXX")  # BNP Paribas, not Crédit Agricole SA
    assert info.value.field == "bic"
    with pytest.raises(InvalidField) as info:
        parse_bank_account(DEMO_IBAN, "BNPAFRPPXXX", iban_field="new_iban", bic_field="new_bic")
    assert info.value.field == "new_bic"


def test_any_branch_of_the_ibans_bank_passes() -> None:
    bnp = _fr_iban("30004")
    assert parse_iban(bnp) == bnp
    for bic in ("BNPAFRPPXXX", "BNPAFRPP", "BNPAFRPPBOR", "BNPAFRPPZZZ"):
        assert parse_bank_account(bnp, bic) == (bnp, bic)


def test_a_bank_the_registry_does_not_know_is_checked_for_format_only() -> None:
    unknown = _fr_iban("99999")  # no bank has the code 99999
    assert parse_bank_account(unknown, "ABCDFRPPXXX") == (unknown, "ABCDFRPPXXX")


def test_bad_iban_check_digits_refused() -> None:
    with pytest.raises(InvalidField) as info:
        parse_bank_account("FR7730006000011234567890189", DEMO_BIC)
    assert info.value.field == "iban"
    assert "FR7730006000011234567890189" not in str(info.value)


def test_bad_rib_key_refused_even_with_good_iban_check_digits() -> None:
    with pytest.raises(InvalidField, match="iban"):
        parse_iban(_fr_iban("30006", "00001", "12345678901", rib_key="88"))  # the right key is 89


@pytest.mark.parametrize("iban", [DEMO_IBAN[:-1], DEMO_IBAN + "0", "FR76", "", "DE89370400440532013000X",
                                  "XX7630006000011234567890189", "FR76300060000112345678901!9"])
def test_wrong_length_country_or_characters_refused(iban: str) -> None:
    with pytest.raises(InvalidField) as info:
        parse_iban(iban, "debtor_iban")
    assert info.value.field == "debtor_iban"


def test_other_countries_by_their_own_format() -> None:
    assert parse_iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert parse_iban("GB29NWBK60161331926819") == "GB29NWBK60161331926819"
    with pytest.raises(InvalidField, match="iban"):
        parse_iban("GB29NWBK6016133192681")  # one digit short for the UK


@pytest.mark.parametrize("bic", ["AGRIFRPPXX", "AGRIFRPPXXXX", "AGRI1RPPXXX", "AGR1FRPPXXX", "AGRIQQPPXXX", ""])
def test_bad_bic_refused(bic: str) -> None:
    with pytest.raises(InvalidField) as info:
        parse_bic(bic)
    assert info.value.field == "bic"
    with pytest.raises(InvalidField) as info:
        parse_bank_account(DEMO_IBAN, bic)
    assert info.value.field == "bic"


def test_the_demo_banks_bics_are_their_banks() -> None:
    assert _fr_iban("30006") == DEMO_IBAN
    for bank_code, bic in BANKS:
        iban = _fr_iban(bank_code)
        assert parse_bank_account(iban, bic) == (iban, bic)


@given(st.integers())
def test_generated_accounts_are_consistent(seed: int) -> None:
    iban, bic = make_bank_account(random.Random(seed))
    assert parse_bank_account(iban, bic) == (iban, bic)


def test_mask_shows_last_three_only() -> None:
    assert mask_nir("295109912611193") == "************193"

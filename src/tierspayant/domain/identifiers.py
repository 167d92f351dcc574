"""French identifiers, validated on input (docs/DOMAIN.md, "Identifiers").

Each ``parse_*`` function returns the canonical form or raises ``InvalidField`` naming the
field. Checks rely on python-stdnum and, for bank accounts, schwifty (IBAN formats, national
check digits and its bank registry), the dependencies the domain allows besides the stdlib.
schwifty is imported on first use, not with this module: its import costs tens of milliseconds
and its registries load lazily anyway.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.fr import nir as _nir
from stdnum.fr import siret as _siret

from tierspayant.domain.errors import InvalidField

if TYPE_CHECKING:
    from schwifty import IBAN

_DIGITS9 = re.compile(r"^\d{9}$")
_FINESS = re.compile(r"^(\d{2}|2A|2B)\d{7}$")
#: Separators a typed IBAN may carry (spaces, as printed on a RIB; also "-" and "."), and BIC.
_IBAN_SEPARATORS = re.compile(r"[\s.-]+")
_BIC_SEPARATORS = re.compile(r"[\s-]+")


def parse_nir(raw: str, field: str = "nir") -> str:
    """NIR: 15 characters, key = 97 - (first 13 digits mod 97) with 2A->19 and 2B->18 before
    computing (docs/DOMAIN.md; décret 82-103). Spaces are ignored. The message never echoes the
    value: a NIR must not reach a log or an error body."""
    value = raw.replace(" ", "").upper()
    try:
        return str(_nir.validate(value))
    except ValidationError:
        raise InvalidField(field, "not a valid NIR (15 characters with a correct mod-97 key)") from None


def nir_key(first13: str) -> str:
    """The two-digit key of a NIR's first 13 characters (2A -> 19, 2B -> 18)."""
    digits = first13.upper().replace("2A", "19").replace("2B", "18")
    return f"{97 - int(digits) % 97:02d}"


def parse_rpps(raw: str, field: str = "rpps") -> str:
    """RPPS: 11 digits, the last a Luhn key (docs/DOMAIN.md)."""
    value = raw.strip()
    if not re.fullmatch(r"\d{11}", value) or not luhn.is_valid(value):
        raise InvalidField(field, "not a valid RPPS number (11 digits, Luhn key)")
    return value


def rpps_with_key(first10: str) -> str:
    """Complete 10 digits into an RPPS number by appending its Luhn key."""
    return first10 + luhn.calc_check_digit(first10)


def _nine_digits(raw: str, field: str, what: str) -> str:
    value = raw.strip()
    if not _DIGITS9.match(value):
        raise InvalidField(field, f"not a valid {what} (9 digits)")
    return value


def parse_adeli(raw: str, field: str = "adeli") -> str:
    """ADELI: 9 digits (still used for opticians and audioprosthetists)."""
    return _nine_digits(raw, field, "ADELI number")


def parse_am_number(raw: str, field: str = "am_number") -> str:
    """AM (billing) number: 9 digits."""
    return _nine_digits(raw, field, "AM number")


def parse_amc_number(raw: str, field: str = "amc_number") -> str:
    """AMC (complementary insurer) number: 9 digits."""
    return _nine_digits(raw, field, "AMC number")


def parse_member_number(raw: str, field: str = "member_number") -> str:
    """Member number on the insurer's attestation: 1 to 20 letters or digits."""
    value = raw.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{1,20}", value):
        raise InvalidField(field, "not a valid member number (1 to 20 letters or digits)")
    return value


def parse_finess(raw: str, field: str = "finess") -> str:
    """FINESS: 9 characters (department, possibly 2A/2B, then 7 digits)."""
    value = raw.strip().upper()
    if not _FINESS.match(value):
        raise InvalidField(field, "not a valid FINESS number (9 characters)")
    return value


def parse_siret(raw: str, field: str = "siret") -> str:
    """SIRET: 14 digits with a Luhn key."""
    try:
        return str(_siret.validate(raw))
    except ValidationError:
        raise InvalidField(field, "not a valid SIRET number") from None


def _iban(raw: str, field: str) -> IBAN:
    """The schwifty IBAN: characters, the country's length and BBAN format, the ISO 7064 mod-97
    check digits, and the national check digits (e.g. the French RIB key) where schwifty knows
    the country's (or the bank's) algorithm."""
    from schwifty import IBAN
    from schwifty.checksum import algorithms
    from schwifty.exceptions import SchwiftyException

    try:
        iban = IBAN(_IBAN_SEPARATORS.sub("", raw))
        # ``IBAN(..., validate_bban=True)`` would warn (NationalChecksumNotVerified) for countries
        # without a registered algorithm; only the ones schwifty can verify are checked, the way
        # schwifty itself picks the algorithm (the bank's, else the country's default).
        bank = iban.bank
        if f"{iban.country_code}:{bank.checksum_algo if bank else 'default'}" in algorithms:
            iban.bban.validate_national_checksum()
    except SchwiftyException:
        raise InvalidField(field, "not a valid IBAN") from None
    return iban


def parse_iban(raw: str, field: str = "iban") -> str:
    """IBAN (ISO 13616): country length and format, mod-97 check digits, national check digits
    where known; returned compact (upper case, no separators)."""
    return str(_iban(raw, field))


def parse_bic(raw: str, field: str = "bic") -> str:
    """BIC (ISO 9362): 8 or 11 characters, a letters-only institution code (SWIFT policy), a
    known country."""
    from schwifty import BIC
    from schwifty.exceptions import SchwiftyException

    try:
        return str(BIC(_BIC_SEPARATORS.sub("", raw), enforce_swift_compliance=True))
    except SchwiftyException:
        raise InvalidField(field, "not a valid BIC") from None


def parse_bank_account(iban_raw: str, bic_raw: str, iban_field: str = "iban",
                       bic_field: str = "bic") -> tuple[str, str]:
    """An (IBAN, BIC) pair, each checked as by ``parse_iban`` and ``parse_bic``, and the BIC
    belonging to the IBAN's bank: where schwifty's registry knows the bank (the IBAN's bank
    code), the BIC must be one of that bank's (same institution, country and location; any
    branch). A bank the registry does not know is checked for format only."""
    from schwifty import registry
    from schwifty.domain import Component

    iban = _iban(iban_raw, iban_field)
    bic = parse_bic(bic_raw, bic_field)
    lookup = iban.spec.bic_lookup_components or [Component.BANK_CODE]
    bank_key = "".join(str(getattr(iban.bban, component.value)) for component in lookup)
    registered = {bank.bic[:8] for bank in registry.get_banks_by_code(iban.country_code, bank_key) if bank.bic}
    if registered and bic[:8] not in registered:
        raise InvalidField(bic_field, "not a BIC of the IBAN's bank")
    return str(iban), bic


def mask_nir(nir: str) -> str:
    """A NIR as screens may show it: only the last 3 characters (docs/THREATS.md, minimal responses)."""
    return "*" * 12 + nir[-3:]

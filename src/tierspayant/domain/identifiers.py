"""French identifiers, validated on input (DOMAIN.md, "Identifiers").

Each ``parse_*`` function returns the canonical form or raises ``InvalidField`` naming the
field. Checks rely on python-stdnum, the one dependency the domain allows besides the stdlib.
"""

from __future__ import annotations

import re

from stdnum import bic as _bic
from stdnum import iban as _iban
from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.fr import nir as _nir
from stdnum.fr import siret as _siret

from tierspayant.domain.errors import InvalidField

_DIGITS9 = re.compile(r"^\d{9}$")
_FINESS = re.compile(r"^(\d{2}|2A|2B)\d{7}$")


def parse_nir(raw: str, field: str = "nir") -> str:
    """NIR: 15 characters, key = 97 - (first 13 digits mod 97) with 2A->19 and 2B->18 before
    computing (DOMAIN.md; décret 82-103). Spaces are ignored. The message never echoes the
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
    """RPPS: 11 digits, the last a Luhn key (DOMAIN.md)."""
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


def parse_iban(raw: str, field: str = "iban") -> str:
    """IBAN (ISO 13616): country format and mod-97 check; returned compact."""
    try:
        return str(_iban.validate(raw))
    except ValidationError:
        raise InvalidField(field, "not a valid IBAN") from None


def parse_bic(raw: str, field: str = "bic") -> str:
    """BIC (ISO 9362): 8 or 11 characters."""
    try:
        return str(_bic.validate(raw))
    except ValidationError:
        raise InvalidField(field, "not a valid BIC") from None


def mask_nir(nir: str) -> str:
    """A NIR as screens may show it: only the last 3 characters (THREATS.md, minimal responses)."""
    return "*" * 12 + nir[-3:]

"""The membership file an insurer sends its operator (docs/DOMAIN.md, "Membership files"): one
line per beneficiary, UTF-8 CSV with a header, these columns in any order:

    member_number, rank, nir, birth_date, last_name, first_name, contract_code,
    rights_start, rights_end, categories

``rank`` 0 is the member, 1-20 its dependants (a dependant's member comes first in the file or
is already registered); ``rights_end`` empty leaves the rights open, a date ends them that day
(radiation); ``categories`` is ``optical|consultation|pharmacy`` or empty for all three. A line
is checked on its own here (keys, dates, names, codes); what needs the store -- the contract
exists, the member is known -- is checked by the import (services/members.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_member_number, parse_nir
from tierspayant.domain.reference import CareCategory

_CONTRACT = re.compile(r"[A-Za-z0-9_-]{1,20}")
COLUMNS = ("member_number", "rank", "nir", "birth_date", "last_name", "first_name", "contract_code",
           "rights_start", "rights_end", "categories")


@dataclass(frozen=True, slots=True)
class MemberLine:
    member_number: str
    rank: int
    nir: str
    birth_date: date
    last_name: str
    first_name: str
    contract_code: str
    rights_start: date
    rights_end: date | None
    categories: frozenset[CareCategory]


def _date(raw: str, field: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidField(field, "a date, YYYY-MM-DD") from None


def _name(raw: str, field: str) -> str:
    value = raw.strip()
    if not 1 <= len(value) <= 100:
        raise InvalidField(field, "1 to 100 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidField(field, "no control character")
    return value


def parse_line(row: Mapping[str, str | None], today: date) -> MemberLine:
    """One line's values, checked; ``InvalidField`` names the first column at fault (never
    echoing its value: the report holds line numbers and fields, no personal data)."""
    values = {column: (row.get(column) or "") for column in COLUMNS}
    if None in row:  # csv.DictReader puts a line's extra values under None
        raise InvalidField("line", f"more values than the {len(COLUMNS)} columns")
    member = parse_member_number(values["member_number"])
    try:
        rank = int(values["rank"])
    except ValueError:
        raise InvalidField("rank", "a whole number, 0 (the member) to 20") from None
    if not 0 <= rank <= 20:
        raise InvalidField("rank", "a whole number, 0 (the member) to 20")
    nir = parse_nir(values["nir"])
    birth = _date(values["birth_date"], "birth_date")
    if birth > today or birth.year < 1900:
        raise InvalidField("birth_date", "out of range")
    last_name, first_name = _name(values["last_name"], "last_name"), _name(values["first_name"], "first_name")
    contract = values["contract_code"].strip()
    if not _CONTRACT.fullmatch(contract):
        raise InvalidField("contract_code", "1 to 20 letters, digits, - or _")
    start = _date(values["rights_start"], "rights_start")
    end = _date(values["rights_end"], "rights_end") if values["rights_end"].strip() else None
    if end is not None and end < start:
        raise InvalidField("rights_end", "before rights_start")
    try:
        categories = frozenset(CareCategory(c.strip()) for c in values["categories"].split("|") if c.strip())
    except ValueError:
        raise InvalidField("categories", "optical, consultation, pharmacy, separated by |") from None
    return MemberLine(member, rank, nir, birth, last_name, first_name, contract, start, end,
                      categories or frozenset(CareCategory))

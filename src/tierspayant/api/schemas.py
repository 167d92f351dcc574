"""Request and response bodies. Strict: unknown fields are refused, amounts are decimals with at
most two places, identifiers are checked by the domain (errors name the field)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from fastapi import Path as FastAPIPath
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo

from tierspayant.domain.reference import CareCategory
from tierspayant.domain.tariffs import Sector, Speciality
from tierspayant.services.records import Professional


def _canonical_amount(value: Decimal) -> Decimal:
    """One spelling per amount: "-0.00" is refused (a sign on nothing), "1e2" is 100.00."""
    if value.is_signed():
        raise ValueError("must not be negative (not even -0)")
    return value.quantize(Decimal("0.01"))


def decimal_schema(lo: int, hi: int, places: int, nullable: bool = False) -> dict[str, Any]:
    """A decimal's OpenAPI form as the API takes it: a number or a string, between ``lo`` and
    ``hi`` (``hi`` 1, 10 ... or a multiple of ten below 100), at most ``places`` decimals
    (pydantic states neither the places nor a string's range: the document would promise what
    the API refuses)."""
    # The ranges the API has: 0..1, 0..10^k, 0..20-90 and -30..30 (another would get a wrong pattern).
    tens = 20 <= hi <= 90 and hi % 10 == 0
    assert (lo, hi) == (-30, 30) or (lo == 0 and (hi == 1 or str(hi).rstrip("0") == "1" or tens)), (lo, hi)
    fraction = rf"(\.\d{{1,{places}}})?"
    top = rf"{hi}(\.0{{1,{places}}})?"
    width = len(str(hi)) - 1
    below = rf"\d{{1,{width}}}{fraction}" if width and hi == 10**width else rf"[0-{hi // 10 - 1}]?\d{fraction}" if tens \
        else rf"0{fraction}"
    sign = "-?" if lo < 0 else ""
    return {"anyOf": [
        {"type": "number", "minimum": lo, "maximum": hi, "multipleOf": float(Decimal(1).scaleb(-places))},
        {"type": "string", "pattern": f"^{sign}({below}|{top})$"}, *([{"type": "null"}] if nullable else [])]}


def decimals(lo: int, hi: int, places: int, nullable: bool = False, **field: Any) -> Any:
    """A decimal field's rules (``Annotated[Decimal, decimals(...)]``): between ``lo`` and
    ``hi``, at most ``places`` decimals, documented as such."""
    return Field(ge=lo, le=hi, max_digits=len(str(hi)) + places, decimal_places=places,
                 json_schema_extra=decimal_schema(lo, hi, places, nullable), **field)


Amount = Annotated[Decimal, decimals(0, 1_000_000, 2, description="Euros, at most two decimals, e.g. \"30.00\""),
                   AfterValidator(_canonical_amount)]
Diopters = Annotated[Decimal, decimals(-30, 30, 2)]
Code = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
CareDate = Annotated[date, Field(description="ISO date; within two years back and 31 days ahead")]


#: C0 controls but tab and line breaks, and DEL: one search in C on every string field of every
#: request (the rights check's body included).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: The same rule as the OpenAPI document states it, on every string field without a pattern of
#: its own (the contract tells the truth: schemathesis's positive-data check holds it to that).
NO_CONTROLS = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"


def _declare_no_controls(schema: dict[str, Any]) -> None:
    """Give each plain string property (optional ones too) the no-control-character pattern."""
    for prop in schema.get("properties", {}).values():
        for branch in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
            if branch.get("type") == "string" and "pattern" not in branch and "format" not in branch \
                    and "enum" not in branch and "const" not in branch:
                branch["pattern"] = NO_CONTROLS


def _types_in(annotation: Any) -> set[Any]:
    """The plain types an annotation is made of (through Optional, Annotated, lists)."""
    args = get_args(annotation)
    if not args:
        return {annotation}
    return set().union(*(_types_in(a) for a in args if not isinstance(a, FieldInfo)))


#: (model, field) -> (takes a date or datetime, takes an int and not a bool); read once each.
_KINDS: dict[tuple[type, str], tuple[bool, bool]] = {}


def _kinds(model: type[BaseModel], name: str) -> tuple[bool, bool]:
    key = (model, name)
    if key not in _KINDS:
        field = model.model_fields.get(name)
        types = _types_in(field.annotation) if field is not None else set()
        _KINDS[key] = (bool(types & {date, datetime}), int in types and bool not in types)
    return _KINDS[key]


def iso_text(value: Any) -> Any:
    """A date or datetime given as the document says, ISO text: pydantic's lax mode would take a
    number (or numeric text) as a Unix time, an answer to a request the document forbids."""
    if isinstance(value, str) and not _ISO.match(value):
        raise ValueError("an ISO date, YYYY-MM-DD (a datetime: YYYY-MM-DDTHH:MM:SS and its offset)")
    return value


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(T.*)?$")
#: A query parameter's date (api/routers/lists.py, reference.py) and datetime (log.py).
IsoDate = Annotated[date, BeforeValidator(iso_text)]
IsoDatetime = Annotated[AwareDatetime, BeforeValidator(iso_text)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_declare_no_controls)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        """No input of ours holds a NUL character, and PostgreSQL text cannot store one: refused
        here, naming the field, for every request body (found by the fuzzer on PostgreSQL); nor
        another control character (tab and line breaks aside): a name never holds one. And no
        lax coercion the document does not allow (found by schemathesis's negative data): a
        number for a date (pydantic reads a Unix time), true or false for an integer."""
        if isinstance(value, int | float | str) and info.field_name is not None:
            takes_date, takes_int = _kinds(cls, info.field_name)
            if takes_date and isinstance(value, str):
                iso_text(value)
            elif takes_date and not isinstance(value, bool | str):
                raise ValueError("an ISO date as text, YYYY-MM-DD")
            if takes_int and isinstance(value, bool):
                raise ValueError("an integer, not true or false")
        for text in (value if isinstance(value, list | tuple) else [value]):  # a list's strings too
            if isinstance(text, str) and (found := _CONTROL.search(text)):
                raise ValueError("must not contain a NUL character" if found.group() == "\x00"
                                 else "must not contain a control character")
        return value


class SignInRequest(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    totp: Annotated[str, Field(min_length=6, max_length=6, pattern=r"^\d{6}$")]


class SignInResponse(BaseModel):
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_at: datetime
    role: str
    aal: str = Field("password_totp", description="How the session was authenticated: password_totp or passkey")


class RightsCheckRequest(Strict):
    amc_number: Annotated[str, Field(min_length=1, max_length=20, description="Insurer (AMC) number, 9 digits")]
    member_number: Annotated[str, Field(min_length=1, max_length=20)]
    nir: Annotated[str, Field(min_length=1, max_length=20, description="NIR, 15 characters with its key")]
    birth_date: date
    date_of_care: CareDate
    category: CareCategory
    presence_proof: Annotated[str | None, Field(max_length=1000, description=(
        "The patient's presence proof (the QR/datamatrix string from the insurer's app or attestation). "
        "Without one, an account may check only a few distinct patients a day (default 20)."))] = None


class RightsCheckResponse(BaseModel):
    """Minimal by design: no name, no contract, no family (docs/PRODUCT.md promise 2)."""

    covered: bool
    engagement_number: str | None
    valid_until: date | None


class InvoiceLineOut(BaseModel):
    code: str
    price: str
    quantity: int
    amc_claimed: str
    amo: str
    amc_computed: str
    amc_approved: str
    reasons: list[str]


class FindingOut(BaseModel):
    code: str
    reason: str
    line: int | None


class DeliveryStateOut(BaseModel):
    """One message about the invoice (services/delivery.py): to the insurer's system or to the
    practice software: queued (``pending``), delivered (``sent``: to the destination, or with
    the NATS transport to JetStream), acknowledged by the destination (``acknowledged_at``, its
    2xx), or given up (``dead``)."""

    kind: str
    to: Literal["insurer", "organisation"]
    state: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None


class InvoiceResponse(BaseModel):
    invoice_number: str
    status: str
    date_of_care: date
    claimed_amc: str
    approved_amc: str
    lines: list[InvoiceLineOut]
    findings: list[FindingOut]
    paid: bool
    review_reason: str | None = Field(None, description="Why it waits for the insurer's review (V001 sampled, "
                                                         "V002 amount above the threshold); null: none")
    #: Its messages' delivery (``GET /v1/invoices/{number}`` only).
    delivery: list[DeliveryStateOut] = []


class PaymentRunRequest(Strict):
    amc_number: Annotated[str | None, Field(max_length=20)] = None
    execution_date: date | None = None


class PaymentOrderOut(BaseModel):
    id: int
    professional_id: int
    amount: str
    end_to_end_id: str
    invoice_count: int


class PaymentRunResponse(BaseModel):
    id: int
    created_at: datetime
    order_count: int
    total: str
    orders: list[PaymentOrderOut]


class StatementOut(BaseModel):
    id: int
    run_id: int
    amount: str
    end_to_end_id: str
    statement: dict[str, Any]


class InsurerIn(Strict):
    amc_number: Annotated[str, Field(min_length=1, max_length=20)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    engagement_validity_days: Annotated[int, Field(ge=1, le=365)] = 30
    pec_validity_days: Annotated[int, Field(ge=1, le=730)] = 180


class InsurerOut(BaseModel):
    id: int
    amc_number: str
    name: str


class ContractIn(Strict):
    """A contract configuration; see docs/DOMAIN.md for the legal bounds it is checked against."""

    code: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: Literal["individual", "collective"] = "individual"
    responsable: bool = True
    optical: dict[str, Any] = Field(default_factory=dict)
    consultation_tm: Annotated[Decimal, decimals(0, 1, 4)] = Decimal("1")
    depassement_optam: Annotated[Decimal, decimals(0, 10, 2)] = Decimal("0")
    depassement_non_optam: Annotated[Decimal, decimals(0, 10, 2)] = Decimal("0")
    pharmacy_tm: dict[str, Annotated[Decimal, decimals(0, 1, 4)]] = Field(
        default_factory=dict)


class BeneficiaryIn(Strict):
    contract_code: Annotated[str, Field(min_length=1, max_length=40)]
    member_number: Annotated[str, Field(min_length=1, max_length=20)]
    rank: Annotated[int, Field(ge=0, le=20)] = 0
    nir: Annotated[str, Field(min_length=1, max_length=20)]
    birth_date: date
    last_name: Annotated[str, Field(min_length=1, max_length=100)]
    first_name: Annotated[str, Field(min_length=1, max_length=100)]
    rights_start: date
    rights_end: date | None = None
    categories: Annotated[list[CareCategory], Field(min_length=1, max_length=3)]


class CreatedOut(BaseModel):
    id: int


class ProfessionalFields(Strict):
    rpps: Annotated[str | None, Field(max_length=11, examples=["10000000001"])] = None
    adeli: Annotated[str | None, Field(max_length=9)] = None
    am_number: Annotated[str, Field(min_length=1, max_length=9, examples=["751234567"])]
    profession: Literal["optician", "general_practitioner", "specialist", "pharmacist"]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    iban: Annotated[str, Field(min_length=1, max_length=42)]
    bic: Annotated[str, Field(min_length=1, max_length=11)]
    optam: Annotated[bool, Field(description="Doctors of sector 2: signed to OPTAM")] = False
    sector: Annotated[Sector | None, Field(description="Doctors: sector 1 or 2 of the convention médicale")] = None
    speciality: Annotated[Speciality | None, Field(description=(
        "Doctors: general_medicine for a general practitioner (the default), a specialist's speciality"))] = None

    def professional(self) -> Professional:
        """The record to register (its ids given by the store)."""
        return Professional(id=0, organisation_id=0, rpps=self.rpps, adeli=self.adeli, am_number=self.am_number,
                            profession=self.profession, name=self.name, iban=self.iban, bic=self.bic,
                            optam=self.optam, sector=self.sector, speciality=self.speciality)


class ProfessionalIn(ProfessionalFields):
    organisation_kind: Literal["FINESS", "SIRET"]
    organisation_identifier: Annotated[str, Field(min_length=1, max_length=14)]
    organisation_name: Annotated[str, Field(min_length=1, max_length=200)]


class ReferenceCodeOut(BaseModel):
    code: str
    kind: str
    label: str
    br: str
    amo_rate: str
    optical_class: str | None
    plv: str | None
    br_non_optam: str | None = Field(None, description="Consultations: the BR of a sector 2 doctor outside OPTAM")
    age_from: int | None = None
    age_below: int | None = None
    valid_from: date
    valid_to: date | None


#: Path parameters: database ids are 32-bit positive; references are short.
ObjectId = Annotated[int, FastAPIPath(ge=1, le=2**31 - 1)]
Reference = Annotated[str, FastAPIPath(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f/]+$")]

"""Doctors' acts: sectors, specialities, the conditions of each consultation and majoration code
(NGAP), the patient's exemptions, and the participation forfaitaire's limits.

Amounts (BR, rates) live in the dated reference tables (domain/reference.py); the conditions
under which a code may be billed are rules, here, each citing its text. Sources:

- sectors: convention médicale of 4 June 2024 (sector 1: tarifs opposables; sector 2: fees set
  with tact and measure; OPTAM: the practice-fee option capping extra fees, whose patients are
  reimbursed on the sector 1 tariff). A sector 2 doctor outside OPTAM is reimbursed on a lower
  "tarif de base" where the tables give one (``ReferenceCode.br_non_optam``);
- the coordinated care pathway applies from age 16 (L162-5-3 CSS);
- exemptions: C2S (L861-3 CSS: no PF, no franchise; L162-5-13: no extra fees), AME (L251-2 CASF:
  the tariff paid in full, no PF, no franchise), maternity insurance from the 6th month of
  pregnancy to 12 days after the birth (L160-9 CSS: TM, PF and franchise not due), care related
  to a long-term condition, ALD (L160-14 3° CSS: TM not due, except on drugs of low medical
  benefit, ``LOW_BENEFIT_DRUG_RATE``; PF and franchise still due);
- participation forfaitaire: per act or consultation, at most 4 a day for one professional
  (D160-8? see LEGAL_PF_PER_PROFESSIONAL_PER_DAY) and a yearly cap (domain/reference.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tierspayant.domain.errors import RuleRefused

#: At most this many participations forfaitaires a day for one professional (D160-8 CSS? the
#: decree's count; docs/DOMAIN.md "What is still assumed" gives the article as read).
PF_PER_PROFESSIONAL_PER_DAY = 4
#: The coordinated care pathway's increase applies from this age (L162-5-3 CSS).
PATHWAY_FROM_AGE = 16
#: Drugs of low medical benefit are reimbursed at this rate, and keep it in ALD (L160-14 CSS as
#: read: the ALD exemption does not reach them; docs/DOMAIN.md "What is still assumed").
LOW_BENEFIT_DRUG_RATE = Decimal("0.15")


class Sector(StrEnum):
    """A doctor's sector of the convention médicale."""

    ONE = "1"  # tarifs opposables
    TWO = "2"  # honoraires libres (extra fees "avec tact et mesure")


class Speciality(StrEnum):
    GENERAL_MEDICINE = "general_medicine"
    CARDIOLOGY = "cardiology"
    PSYCHIATRY = "psychiatry"
    OPHTHALMOLOGY = "ophthalmology"
    PAEDIATRICS = "paediatrics"
    GYNAECOLOGY = "gynaecology"
    DERMATOLOGY = "dermatology"
    OTHER_SPECIALITY = "other_speciality"


#: The professions that bill doctors' acts (a professional's ``profession``).
DOCTOR_PROFESSIONS = frozenset({"general_practitioner", "specialist"})
SPECIALISTS = frozenset(s for s in Speciality if s is not Speciality.GENERAL_MEDICINE)
#: Seen without the treating doctor's referral yet within the pathway ("accès direct
#: spécifique", L162-5-3 CSS and the convention médicale): gynaecology and ophthalmology at any
#: age, psychiatry from 16 to 25 (stomatology too: not a speciality modelled here).
DIRECT_ACCESS = frozenset({Speciality.GYNAECOLOGY, Speciality.OPHTHALMOLOGY})
DIRECT_ACCESS_PSYCHIATRY_AGES = range(16, 26)


def in_pathway(declared_coordinated: bool, age: int, speciality: Speciality) -> bool:
    """Whether the care counts as within the coordinated pathway: declared so, a patient under
    16 (the pathway's rules apply from 16, L162-5-3 CSS), or a direct-access speciality."""
    return (declared_coordinated or age < PATHWAY_FROM_AGE or speciality in DIRECT_ACCESS
            or (speciality is Speciality.PSYCHIATRY and age in DIRECT_ACCESS_PSYCHIATRY_AGES))


class Exemption(StrEnum):
    """The patient's situation that waives the TM, the PF or the franchise (sources above)."""

    NONE = "none"
    C2S = "c2s"
    AME = "ame"
    MATERNITY = "maternity"
    ALD = "ald"

    @property
    def tm_waived(self) -> bool:
        return self in (Exemption.AME, Exemption.MATERNITY, Exemption.ALD)

    @property
    def pf_and_franchise_waived(self) -> bool:
        return self in (Exemption.C2S, Exemption.AME, Exemption.MATERNITY)

    @property
    def extra_fees_forbidden(self) -> bool:
        return self is Exemption.C2S


@dataclass(frozen=True, slots=True)
class Doctor:
    """What the rules need to know of the professional who bills a consultation."""

    sector: Sector = Sector.ONE
    optam: bool = False
    speciality: Speciality = Speciality.GENERAL_MEDICINE

    @property
    def sector_1_tariff(self) -> bool:
        """Reimbursed on the sector 1 tariff: sector 1, or sector 2 under OPTAM."""
        return self.sector is Sector.ONE or self.optam


@dataclass(frozen=True, slots=True)
class ActRule:
    """When a code may be billed (NGAP, convention médicale 2024)."""

    source: str
    specialities: frozenset[Speciality] | None = None  # None: any doctor
    majoration: bool = False  # added to a consultation: bears no PF of its own
    coordinated_only: bool = False  # within the coordinated care pathway (in_pathway)
    referred_only: bool = False  # at the treating doctor's request: the pathway declared coordinated
    sector_1_tariff_only: bool = False  # sector 1 or OPTAM


ACT_RULES: dict[str, ActRule] = {
    "G": ActRule("NGAP art. 2; convention médicale 2024", frozenset({Speciality.GENERAL_MEDICINE})),
    "CS": ActRule("NGAP art. 2; convention médicale 2024", SPECIALISTS),
    "APC": ActRule("NGAP art. 18 (avis ponctuel de consultant, at the treating doctor's request)", SPECIALISTS,
                   referred_only=True),
    "CSC": ActRule("NGAP art. 15-1 (consultation de cardiologie)", frozenset({Speciality.CARDIOLOGY})),
    "CNPSY": ActRule("NGAP art. 2 (consultation de psychiatre)", frozenset({Speciality.PSYCHIATRY})),
    "MPC": ActRule("NGAP art. 2 bis (majoration provisoire clinique)", SPECIALISTS, majoration=True),
    "MCS": ActRule("convention médicale, majoration de coordination spécialiste", SPECIALISTS, majoration=True,
                   coordinated_only=True, sector_1_tariff_only=True),
    # Under 6: the code's age range in the reference table (ReferenceCode.age_below).
    "MEG": ActRule("NGAP (majoration enfant, médecin généraliste)", frozenset({Speciality.GENERAL_MEDICINE}),
                   majoration=True),
}


def check_act(code: str, doctor: Doctor, field: str, *, coordinated: bool, referred: bool) -> ActRule | None:
    """The rule of ``code`` if the act may be billed here; RuleRefused naming ``field`` if not.
    ``coordinated``: within the pathway (in_pathway); ``referred``: the pathway declared
    coordinated, the treating doctor's request. A code with no rule here is not a doctor's act
    that has conditions: None."""
    rule = ACT_RULES.get(code)
    if rule is None:
        return None
    if rule.specialities is not None and doctor.speciality not in rule.specialities:
        raise RuleRefused(field, "ACT_NOT_OF_THIS_SPECIALITY", rule.source,
                          f"{code} is not billed by a doctor of speciality {doctor.speciality.value}")
    if (rule.coordinated_only and not coordinated) or (rule.referred_only and not referred):
        raise RuleRefused(field, "ACT_REQUIRES_COORDINATED_PATHWAY", rule.source,
                          f"{code} is billed only within the coordinated care pathway"
                          + (", at the treating doctor's request" if rule.referred_only else ""))
    if rule.sector_1_tariff_only and not doctor.sector_1_tariff:
        raise RuleRefused(field, "ACT_REQUIRES_SECTOR_1_OR_OPTAM", rule.source,
                          f"{code} is billed only by a sector 1 or OPTAM doctor")
    return rule

"""Why a line's AMC share is what it is: the names professionals see on each line, shared by
the calculation's rules (domain/lines.py, domain/renewal.py)."""

from __future__ import annotations

from enum import StrEnum


class Limit(StrEnum):
    """Why a line's AMC share is what it is (stable names, shown to professionals)."""

    PLV = "PLV"  # class A: everything above the AMO up to the PLV (R871-2 3°)
    TM = "TM"  # the ticket modérateur, as the contract covers it
    TM_ONLY = "TM_ONLY"  # class B covered at the TM only (no ceiling for this category, or a frame alone)
    FRAME_CAP_100 = "FRAME_CAP_100"  # frame cover limited to min(contract cap, €100)
    CLASS_B_CEILING = "CLASS_B_CEILING"  # equipment ceiling of the contract's category
    NETWORK_PRICE_CAP = "NETWORK_PRICE_CAP"  # care network's negotiated price for the code
    RENEWAL_PERIOD_NOT_ELAPSED = "RENEWAL_PERIOD_NOT_ELAPSED"
    SIGHT_CHANGE_BELOW_LPP_THRESHOLD = "SIGHT_CHANGE_BELOW_LPP_THRESHOLD"  # early renewal asked, not met
    OPHTHALMOLOGIST_REQUIRED = "OPHTHALMOLOGIST_REQUIRED"  # under 16: the change documented by one
    CHILD_FRAME_RULE_AGE = "CHILD_FRAME_RULE_AGE"  # the 6-month frame rule is for young children
    PRESCRIPTION_NOT_AFTER_LAST_DELIVERY = "PRESCRIPTION_NOT_AFTER_LAST_DELIVERY"  # no new prescription: no change shown
    PARTICIPATION_FORFAITAIRE = "PARTICIPATION_FORFAITAIRE"  # never covered (L871-1 CSS)
    FRANCHISE = "FRANCHISE"  # never covered (L871-1 CSS)
    OUT_OF_PATHWAY_INCREASE = "OUT_OF_PATHWAY_INCREASE"  # not covered (R871-1 CSS)
    OUT_OF_PATHWAY_EXTRA_FEE = "OUT_OF_PATHWAY_EXTRA_FEE"  # DA out of pathway: not covered (R871-1 CSS)
    SECTOR_1_EXTRA_FEE = "SECTOR_1_EXTRA_FEE"  # above a sector 1 tariff: not an extra fee a contract covers
    DEPASSEMENT_CAP = "DEPASSEMENT_CAP"  # extra fees above the contract's cover (R871-2 2°)
    TM_WAIVED = "TM_WAIVED"  # maternity, ALD, AME: the AMO pays the tariff in full
    NOT_COVERED = "NOT_COVERED"  # the contract does not cover this share
    WITHIN_CEILING = "WITHIN_CEILING"  # class B line fully covered within the ceiling

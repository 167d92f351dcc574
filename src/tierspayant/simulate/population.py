"""A synthetic, realistic population: insurers, contracts, families of beneficiaries with valid
NIR keys, rights periods, a few % with an optical purchase in the last two years, professionals
(opticians, GPs, pharmacists) with valid RPPS and IBAN, a care network. Deterministic for a seed.

Rows are produced table-shaped, in batches, for the bulk loader (1,000,000 beneficiaries load in
minutes)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from faker import Faker

from tierspayant.domain.identifiers import nir_key, rpps_with_key

Row = dict[str, Any]

INSURERS = (
    ("990000011", "Mutuelle Synthétique Atlantique"),
    ("990000029", "Prévoyance Fictive du Rhône"),
    ("990000037", "Complémentaire Imaginaire Île-de-France"),
)

CONTRACTS: tuple[Row, ...] = (
    {"code": "RESP-ESSENTIEL", "name": "Essentiel responsable", "type": "individual",
     "optical": {"class_b_ceilings": {"a": "100.00", "b": "200.00", "c": "250.00", "d": "200.00", "e": "250.00",
                                      "f": "250.00"}, "frame_cap": "80.00"}},
    {"code": "RESP-CONFORT", "name": "Confort responsable", "type": "individual",
     "optical": {"class_b_ceilings": {"a": "300.00", "b": "420.00", "c": "550.00", "d": "450.00", "e": "600.00",
                                      "f": "650.00"}, "frame_cap": "100.00"},
     "depassement_optam": "1.00", "depassement_non_optam": "0.80"},
    {"code": "ANI-ENTREPRISE", "name": "Contrat collectif d'entreprise", "type": "collective",
     "optical": {"class_b_ceilings": {"a": "150.00", "b": "250.00", "c": "350.00", "d": "300.00", "e": "400.00",
                                      "f": "450.00"}, "frame_cap": "100.00"}},
    {"code": "RESP-TM", "name": "Ticket modérateur seul", "type": "individual",
     "optical": {"class_b_coverage": "TM_ONLY"}, "pharmacy_tm": {"0.30": "0", "0.15": "0"}},
)

NETWORK_CAPS = {"9100102": "150.00", "9100301": "180.00"}
CATEGORIES = "consultation,optical,pharmacy"


def make_nir(rng: random.Random, sex: int, birth: date) -> str:
    department = rng.choice(["75", "69", "13", "33", "59", "44", "2A", "2B", "31", "67", "06", "35"])
    commune = f"{rng.randint(1, 999):03d}"
    serial = f"{rng.randint(1, 999):03d}"
    first13 = f"{sex}{birth.year % 100:02d}{birth.month:02d}{department}{commune}{serial}"
    return first13 + nir_key(first13)


#: French banks (bank code, BIC) as schwifty's registry ties them: a generated account's BIC is
#: its bank's, so the pair passes ``parse_bank_account``. Ten, so a 5-digit draw picks evenly.
BANKS = (
    ("30006", "AGRIFRPPXXX"),  # Crédit Agricole SA
    ("30004", "BNPAFRPPXXX"),  # BNP Paribas
    ("30003", "SOGEFRPPXXX"),  # Société Générale
    ("30002", "CRLYFRPPXXX"),  # LCL
    ("20041", "PSSTFRPPXXX"),  # La Banque Postale
    ("10107", "BREDFRPPXXX"),  # BRED
    ("30066", "CMCIFRPPXXX"),  # CIC
    ("30056", "CCFRFRPPXXX"),  # HSBC France
    ("42559", "CCOPFRPPXXX"),  # Crédit Coopératif
    ("12548", "AXABFRPPXXX"),  # AXA Banque
)


def make_bank_account(rng: random.Random) -> tuple[str, str]:
    """A synthetic French account at a real bank: (IBAN, BIC), the IBAN with a valid RIB key and
    valid ISO 13616 check digits, the BIC that bank's. Random branch and account numbers (no
    real account is meant). Draws three numbers, as it always has, so that a seed's population
    is otherwise unchanged."""
    from schwifty import IBAN

    bank, branch = rng.randint(10000, 99999), rng.randint(10000, 99999)
    account = rng.randint(10**9, 10**11 - 1)
    bank_code, bic = BANKS[bank % len(BANKS)]
    iban = IBAN.generate("FR", bank_code=bank_code, branch_code=f"{branch:05d}", account_code=f"{account:011d}")
    return str(iban), bic


def make_siret(rng: random.Random) -> str:
    from stdnum import luhn

    body = f"{rng.randint(10**12, 10**13 - 1)}"
    return body + luhn.calc_check_digit(body)


@dataclass(frozen=True)
class PopulationSpec:
    beneficiaries: int = 2_000
    professionals: int = 60
    seed: int = 42
    today: date = date(2026, 11, 22)
    optical_purchase_share: float = 0.04
    #: Distinct patients an account may check per day without a presence proof.
    proofless_quota: int = 20
    #: The first this many opticians work for one optical chain (one organisation, several
    #: accounts); 0: every professional is an organisation of its own.
    chain: int = 0
    #: Detection threshold overrides for every insurer (None: the documented defaults).
    detection: dict[str, Any] | None = None
    batch_size: int = 20_000


class Population:
    """Generates the rows; ids are assigned here (the bulk loader inserts them as given)."""

    def __init__(self, spec: PopulationSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        faker = Faker("fr_FR")
        faker.seed_instance(spec.seed)
        # Name pools drawn once: Faker per row would dominate the time of a 1M load.
        self.last_names = sorted({faker.last_name() for _ in range(3000)})
        self.male_names = sorted({faker.first_name_male() for _ in range(800)})
        self.female_names = sorted({faker.first_name_female() for _ in range(800)})
        self.company_names = [faker.company() for _ in range(200)]
        self.faker = faker
        self._purchases = 0

    def insurers(self) -> list[Row]:
        return [{"id": i + 1, "amc_number": amc, "name": name, "engagement_validity_days": 30,
                 "pec_validity_days": 180, "proofless_daily_quota": self.spec.proofless_quota,
                 "detection": self.spec.detection,
                 # Synthetic: a 09 number (non-geographic, the kind printed on cards) and a DPO
                 # mailbox per insurer (breach response: the only number a notice may give).
                 "phone": f"09 70 80 {90 + i:02d} 00", "dpo_contact": f"Délégué à la protection des données, {name}"}
                for i, (amc, name) in enumerate(INSURERS)]

    def contract_configs(self) -> list[tuple[int, int, Row]]:
        """(contract id, insurer id, configuration)."""
        out = []
        for insurer_index in range(len(INSURERS)):
            for contract_index, config in enumerate(CONTRACTS):
                out.append((insurer_index * len(CONTRACTS) + contract_index + 1, insurer_index + 1, config))
        return out

    def professionals(self) -> tuple[list[Row], list[Row]]:
        """(organisations, professionals): a third each opticians, GPs and pharmacists."""
        rng = self.rng
        organisations, professionals = [], []
        chain: list[int] = []  # the chain's opticians' indexes
        for i in range(self.spec.professionals):
            profession = ("optician", "general_practitioner", "pharmacist")[i % 3]
            org_id = i + 1
            if profession == "optician" and len(chain) < self.spec.chain:
                chain.append(i)
                org_id = chain[0] + 1  # the chain's organisation (each optician's own row stays, unused)
            if profession == "pharmacist":
                organisations.append({"id": i + 1, "kind": "FINESS", "identifier": f"{rng.randint(10**8, 10**9 - 1)}",
                                      "name": f"Pharmacie {rng.choice(self.last_names)}"})
            else:
                label = "Optique" if profession == "optician" else "Cabinet"
                organisations.append({"id": i + 1, "kind": "SIRET", "identifier": make_siret(rng),
                                      "name": f"{label} {rng.choice(self.last_names)}"})
            sex = rng.choice((1, 2))
            first = rng.choice(self.male_names if sex == 1 else self.female_names)
            # Drawn in the order the fields always were, so that a seed gives the same population.
            adeli = f"{rng.randint(10**8, 10**9 - 1)}" if profession == "optician" else None
            am_number = f"{rng.randint(10**8, 10**9 - 1)}"
            name = f"{first} {rng.choice(self.last_names)}"
            iban, bic = make_bank_account(rng)
            professionals.append({
                "id": i + 1, "organisation_id": org_id, "rpps": rpps_with_key(f"1{i + 1:09d}"),
                "adeli": adeli, "am_number": am_number, "profession": profession,
                "name": name, "iban": iban, "bic": bic,
                **_doctor(profession, rng.random()),
            })
        return organisations, professionals

    def family(self, rng: random.Random, contracts: list[tuple[int, int, Row]],
               ) -> tuple[int, int, str, list[tuple[int, int]], date, date | None]:
        """One membership: its contract and insurer, the family name, (rank, age) of each member
        (an adult, a partner half the time, children under 55), its rights' start and end.
        The draws' order is the population's: the sequential and the chunked seeds share it."""
        contract_id, insurer_id, _ = contracts[rng.randrange(len(contracts))]
        last_name = rng.choice(self.last_names)
        adult_age = rng.randint(20, 85)
        family = [(0, adult_age)]
        if rng.random() < 0.5:
            family.append((1, max(18, adult_age + rng.randint(-5, 5))))
        if adult_age < 55:
            for _ in range(rng.choice((0, 0, 1, 2, 3))):
                family.append((len(family), rng.randint(0, min(25, adult_age - 18))))
        start = date(rng.choice((2019, 2021, 2023, 2024, 2025)), rng.randint(1, 12), 1)
        end = self.spec.today - timedelta(days=rng.randint(30, 400)) if rng.random() < 0.05 else None
        return contract_id, insurer_id, last_name, family, start, end

    def person(self, rng: random.Random, age: int) -> tuple[date, str, str]:
        """One member of ``age``: birth date, first name, NIR (valid key, of the drawn sex)."""
        sex = rng.choice((1, 2))
        birth = self.spec.today - timedelta(days=age * 365 + rng.randint(0, 364))
        first = rng.choice(self.male_names if sex == 1 else self.female_names)
        return birth, first, make_nir(rng, sex, birth)

    def beneficiary_batches(self) -> Iterator[tuple[list[Row], list[Row], list[Row]]]:
        """Batches of (beneficiaries, rights periods, optical purchases), families kept whole."""
        rng, spec = self.rng, self.spec
        contracts = self.contract_configs()
        beneficiaries: list[Row] = []
        periods: list[Row] = []
        purchases: list[Row] = []
        next_id = 1
        member_seq = 0
        while next_id <= spec.beneficiaries:
            member_seq += 1
            contract_id, insurer_id, last_name, family, start, end = self.family(rng, contracts)
            member_number = f"{member_seq:010d}"
            for rank, age in family:
                if next_id > spec.beneficiaries:
                    break
                birth, first, nir = self.person(rng, age)
                beneficiaries.append({
                    "id": next_id, "insurer_id": insurer_id, "contract_id": contract_id,
                    "member_number": member_number, "rank": rank, "nir": nir,
                    "birth_date": birth, "last_name": last_name, "first_name": first,
                })
                periods.append({"id": next_id, "beneficiary_id": next_id, "start_date": start, "end_date": end,
                                "categories": CATEGORIES})
                if rng.random() < spec.optical_purchase_share:
                    self._purchases += 1
                    purchases.append({"id": self._purchases, "beneficiary_id": next_id, "insurer_id": insurer_id,
                                      "delivered_on": spec.today - timedelta(days=rng.randint(1, 729)),
                                      "invoice_id": None})
                next_id += 1
            if len(beneficiaries) >= spec.batch_size:
                yield beneficiaries, periods, purchases
                beneficiaries, periods, purchases = [], [], []
        if beneficiaries:
            yield beneficiaries, periods, purchases


def _doctor(profession: str, draw: float) -> Row:
    """A GP's sector from one draw (the one the OPTAM flag always took, so that a seed gives the
    same population): 60 % sector 1, 20 % sector 2 under OPTAM, 20 % sector 2 outside it."""
    if profession != "general_practitioner":
        return {"optam": draw < 0.8, "sector": None, "speciality": None}
    sector = "1" if draw < 0.6 else "2"
    return {"optam": 0.6 <= draw < 0.8, "sector": sector, "speciality": "general_medicine"}

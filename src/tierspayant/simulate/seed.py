"""``tiers seed``: load a synthetic population, reference tables and demo accounts."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tierspayant.domain.contracts import contract_from_dict, contract_to_dict
from tierspayant.security import totp
from tierspayant.security.policy import Role
from tierspayant.security.sealed_box import generate_keypair
from tierspayant.services.accounts import OPERATOR_SHELL, AccountsService
from tierspayant.services.ports.outside import BulkLoader
from tierspayant.services.reference import ReferenceService
from tierspayant.simulate.authenticator import SoftAuthenticator
from tierspayant.simulate.population import NETWORK_CAPS, Population, PopulationSpec
from tierspayant.simulate.reference_data import default_codes

Progress = Callable[[int], None]


@dataclass(frozen=True)
class SeedReport:
    #: Beneficiaries written by this run.
    beneficiaries: int
    professionals: int
    seconds: float
    demo: dict[str, Any]
    #: Beneficiaries a resumed seed found written already (simulate/seed_scale.py).
    resumed: int = 0
    #: The database's size at the end, in bytes (the chunked seed).
    size_bytes: int | None = None

    @property
    def rate(self) -> float:
        return self.beneficiaries / self.seconds if self.seconds else 0.0


DEMO_PASSWORD_WORDS = ("lunettes", "ordonnance", "pharmacie", "mutuelle", "remboursement", "consultation")


def seed(loader: BulkLoader, reference: ReferenceService, accounts: AccountsService, spec: PopulationSpec,
         credentials_file: Path | None, on_progress: Progress | None = None) -> SeedReport:
    """Load everything into an empty database. Refuses a database that already has insurers."""
    if loader.count("insurers"):
        raise RuntimeError("the database already holds data; seed an empty database")
    started = time.perf_counter()
    population = Population(spec)
    professionals, export_keys = load_setup(loader, reference, spec, population)
    done = 0
    patients: list[dict[str, str]] = []
    for beneficiaries, periods, purchases in population.beneficiary_batches():
        if not patients:
            patients = demo_patients(beneficiaries, periods, purchases, spec)
        loader.insert("beneficiaries", beneficiaries)
        loader.insert("rights_periods", periods)
        loader.insert("optical_purchases", purchases)
        done += len(beneficiaries)
        if on_progress:
            on_progress(len(beneficiaries))
    loader.reset_sequences()
    demo: dict[str, Any] = {"accounts": demo_accounts(accounts, professionals, population.rng),
                            "patients": patients, "insurer_export_keys": export_keys}
    if credentials_file is not None:
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        save_demo(credentials_file, demo)
    return SeedReport(done, len(professionals), time.perf_counter() - started, demo)


def load_setup(loader: BulkLoader, reference: ReferenceService, spec: PopulationSpec,
               population: Population) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """What comes before the beneficiaries: the code tables, insurers, contracts, organisations
    and professionals, the care network. (professionals, each insurer's private export key)."""
    reference.load_codes(default_codes())
    insurers = population.insurers()
    # Each insurer's breach-export key pair (security/sealed_box.py): the platform keeps the
    # public half; the private half is the insurer's -- here in the demo credentials file.
    export_keys: dict[str, str] = {}
    for row in insurers:
        private, row["export_public_key"] = generate_keypair()
        export_keys[str(row["id"])] = private
    loader.insert("insurers", insurers)
    loader.insert("contracts", [
        {"id": cid, "insurer_id": iid, "code": cfg["code"], "config": contract_to_dict(contract_from_dict(cfg))}
        for cid, iid, cfg in population.contract_configs()
    ])
    organisations, professionals = population.professionals()
    loader.insert("organisations", organisations)
    loader.insert("professionals", professionals)
    opticians = [p["id"] for p in professionals if p["profession"] == "optician"]
    # The demo's care network (docs/DOMAIN.md "Care networks"): in force from three years
    # before the demo's day (a date of care may be two years back), open-ended.
    since = spec.today.replace(year=spec.today.year - 3, day=1)
    loader.insert("networks", [{"id": 1, "code": "optique-synthetique", "name": "Réseau Optique Synthétique"}])
    loader.insert("network_insurers", [{"network_id": 1, "insurer_id": 1}, {"network_id": 1, "insurer_id": 2}])
    loader.insert("network_members", [{"network_id": 1, "professional_id": pid, "valid_from": since, "valid_to": None}
                                      for pid in opticians[::2]])
    loader.insert("network_price_caps", [{"network_id": 1, "code": c, "cap": Decimal(v), "valid_from": since,
                                          "valid_to": None} for c, v in NETWORK_CAPS.items()])
    return professionals, export_keys


def demo_accounts(accounts: AccountsService, professionals: list[dict[str, Any]],
                  rng: random.Random) -> dict[str, dict[str, Any]]:
    """The demo's accounts, each with a password, a TOTP secret and an enrolled passkey."""
    first = {p["profession"]: p for p in reversed(professionals)}
    wanted: list[tuple[str, Role, dict[str, Any]]] = [
        ("optique.demo", Role.PROFESSIONAL, first["optician"]),
        ("medecin.demo", Role.PROFESSIONAL, first["general_practitioner"]),
        ("pharmacie.demo", Role.PROFESSIONAL, first["pharmacist"]),
        ("assureur.demo", Role.INSURER_OPERATOR, {}),
        ("admin.demo", Role.PLATFORM_ADMIN, {}),
        ("securite.demo", Role.SECURITY_OFFICER, {}),
        ("securite2.demo", Role.SECURITY_OFFICER, {}),  # a second officer: a crypto-shred needs two
    ]
    out: dict[str, dict[str, Any]] = {}
    for username, role, professional in wanted:
        password = "-".join(rng.sample(DEMO_PASSWORD_WORDS, 3)) + f"-{rng.randint(10, 99)}"
        _, secret = accounts.create(
            username, password, role,
            organisation_id=professional.get("organisation_id"), professional_id=professional.get("id"),
            insurer_id=1 if role is Role.INSURER_OPERATOR else None,
        )
        # The demo's authenticator: a simulated passkey enrolled through the real ceremony.
        code = accounts.enrolment_code(username, OPERATOR_SHELL)
        authenticator = SoftAuthenticator()
        options = json.loads(accounts.registration_options(code))
        accounts.register_passkey(code, authenticator.create(options, accounts.passkeys.origin))
        out[username] = {"password": password, "totp_secret": secret, "role": role.value,
                         "passkey": authenticator.to_dict()}
    return out


def demo_patients(beneficiaries: list[dict[str, Any]], periods: list[dict[str, Any]],
                  purchases: list[dict[str, Any]], spec: PopulationSpec) -> list[dict[str, str]]:
    """A few covered adults of the first insurer with no recent glasses: what their insurer's
    attestation would show (all synthetic)."""
    open_rights = {p["beneficiary_id"] for p in periods if p["end_date"] is None}
    recent_glasses = {p["beneficiary_id"] for p in purchases}
    out = []
    for b in beneficiaries:
        age = (spec.today - b["birth_date"]).days // 365
        if b["insurer_id"] == 1 and b["id"] in open_rights and b["id"] not in recent_glasses and 20 <= age <= 60:
            out.append({"amc_number": "990000011", "member_number": b["member_number"], "nir": b["nir"],
                        "birth_date": b["birth_date"].isoformat()})
        if len(out) == 5:
            break
    return out


def read_demo(credentials_file: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(credentials_file.read_text(encoding="utf-8"))
    return data


def current_totp(credentials_file: Path, username: str, at: Any) -> str:
    return totp.current_code(read_demo(credentials_file)["accounts"][username]["totp_secret"], at)


def save_demo(credentials_file: Path, data: dict[str, Any]) -> None:
    fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)

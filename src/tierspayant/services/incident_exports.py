"""A controller's list of its exposed people (docs/THREATS.md, "Breach response"; the AP-HP
lesson: a bulk export is itself a breach waiting to happen). The only bulk export of personal
data the platform has, and it is:

- requested by one officer and approved by *another* (dual control), both on the log;
- built at approval from the stored scope: each person's identity (decrypted for this file
  only), categories, first and last exposure, and the inclusion proof of every event relied on
  against the signed checkpoint the scope was proved against;
- sealed to the insurer's X25519 public key (security/sealed_box.py): the platform cannot read
  the file once made, and the sealed file is dropped after its one download or at expiry."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tierspayant.audit.events import Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import NotFound, Principal
from tierspayant.security.sealed_box import SealedBoxError, parse_public_key, seal
from tierspayant.services.common import UseCase
from tierspayant.services.incidents import IncidentService, IncidentStore, require_handler
from tierspayant.services.records import IncidentExport

#: How long an approved export waits for its one download.
EXPORT_TTL = timedelta(hours=24)




class IncidentExportsService(UseCase[IncidentStore]):
    def __init__(self, incidents: IncidentService) -> None:
        super().__init__(incidents.uow, incidents.clock, incidents.recorder)
        self.incidents = incidents

    def request(self, principal: Principal, incident_id: int, insurer_id: int) -> IncidentExport:
        require_handler(principal)
        incident, _ = self.incidents.get(principal, incident_id)
        if incident.scope is None:
            raise InvalidField("step", "compute the scope first")
        if insurer_id not in [c["insurer_id"] for c in json.loads(incident.scope)["controllers"]]:
            raise InvalidField("insurer_id", "not a controller in this incident's scope")
        now = self.clock.now()
        with self.uow() as tx:
            insurer = tx.reference.insurer(insurer_id)
            assert insurer is not None
            if not insurer.export_public_key:
                raise InvalidField("insurer_id", "the insurer has no export public key on record")
            try:
                parse_public_key(insurer.export_public_key)
            except SealedBoxError:
                raise InvalidField("insurer_id", "the insurer's export public key is not a valid X25519 key") from None
            export_id = tx.incidents.add_export(incident_id, insurer_id, principal.account_id, now)
            tx.log.append_events([self.incidents.event(principal, now, Tag.INCIDENT_EXPORT_REQUEST, incident_id,
                                                        insurer_id)])
        return IncidentExport(export_id, incident_id, insurer_id, principal.account_id, now)

    def approve(self, principal: Principal, export_id: int) -> IncidentExport:
        """A second officer approves: the file is built and sealed now, for one download."""
        require_handler(principal)
        with self.uow(readonly=True) as tx:
            export = tx.incidents.export(export_id)
        if export is None:
            raise NotFound()
        if export.requested_by == principal.account_id:  # dual control
            raise InvalidField("export_id", "a second officer, not the one who asked, must approve")
        if export.approved_by is not None:
            raise InvalidField("export_id", "already approved")
        incident, _ = self.incidents.get(principal, export.incident_id)
        assert incident.scope is not None
        content = self._content(incident.scope, incident.scope_checkpoint or 0, export.insurer_id)
        now = self.clock.now()
        with self.uow() as tx:
            insurer = tx.reference.insurer(export.insurer_id)
            assert insurer is not None and insurer.export_public_key
            sealed = seal(insurer.export_public_key, json.dumps(content, ensure_ascii=False).encode())
            if not tx.incidents.approve_export(export_id, principal.account_id, now, now + EXPORT_TTL, sealed):
                raise InvalidField("export_id", "already approved")
            tx.log.append_events([self.incidents.event(principal, now, Tag.INCIDENT_EXPORT_APPROVE,
                                                        export.incident_id, export.insurer_id)])
            approved = tx.incidents.export(export_id)
        assert approved is not None
        return approved

    def download(self, principal: Principal, export_id: int) -> str:
        """The sealed file, once, before it expires; on the log."""
        require_handler(principal)
        now = self.clock.now()
        with self.uow() as tx:
            export = tx.incidents.export(export_id)
            if export is None:
                raise NotFound()
            sealed = tx.incidents.take_export(export_id, now)
            if sealed is None:
                raise InvalidField("export_id", "not approved, already downloaded, or expired")
            tx.log.append_events([self.incidents.event(principal, now, Tag.INCIDENT_EXPORT_DOWNLOAD,
                                                        export.incident_id, export.insurer_id)])
        return sealed

    def _content(self, scope_json: str, checkpoint_size: int, insurer_id: int) -> dict[str, Any]:
        """The controller's people: the scope's exposures with each person's identity, and the
        inclusion proof of every event relied on."""
        scope = json.loads(scope_json)
        [controller] = [c for c in scope["controllers"] if c["insurer_id"] == insurer_id]
        wanted = {e["person"]: e for e in controller["exposures"]}
        audit = self.incidents.audit
        people = []
        with self.uow(readonly=True) as tx:
            checkpoint = tx.checkpoints.checkpoint_at(checkpoint_size) if checkpoint_size else None
            found: dict[str, int] = {}
            for beneficiary_id in tx.beneficiaries.ids_of_insurer(insurer_id):
                pseudonym = self.recorder.pseudonym(insurer_id, beneficiary_id)
                if pseudonym in wanted:
                    found[pseudonym] = beneficiary_id
                    if len(found) == len(wanted):
                        break
            for pseudonym, exposure in sorted(wanted.items()):
                beneficiary = tx.beneficiaries.beneficiary(found[pseudonym]) if pseudonym in found else None
                people.append({
                    **exposure,
                    "identity": None if beneficiary is None else {
                        "beneficiary_id": beneficiary.id, "last_name": beneficiary.last_name,
                        "first_name": beneficiary.first_name, "birth_date": beneficiary.birth_date.isoformat(),
                        "nir": beneficiary.nir, "member_number": beneficiary.member_number},
                })
        for person in people:
            person["proofs"] = [
                {"index": p.index, "leaf_hash": p.leaf_hash.hex(), "hashes": [h.hex() for h in p.hashes]}
                for p in (audit.inclusion(seq, checkpoint_size) for seq in person["seqs"])]
        return {"incident_scope_window": scope["window"], "controller": insurer_id, "leaves": scope["leaves"],
                "checkpoint": {"size": checkpoint_size, "note": checkpoint.note if checkpoint else None},
                "people": people, "ciphertext_only": controller["ciphertext_only"]}

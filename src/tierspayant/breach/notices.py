"""The Art. 34 notices: one per person exposed, in plain French, as a letter, an e-mail and an SMS
(docs/THREATS.md T9, "Breach response"). What was exposed and when, the likely consequences,
what the insurer did, what the person can do -- the CNIL's advice after the 2024 breaches -- and
the insurer's telephone number as printed on the card. No link, no attachment, no request: every
notice goes through ``breach.lint`` before it is queued, and one that fails is never queued.

Pure: an exposure and the insurer's facts in, texts out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
CHANNELS = ("letter", "email", "sms")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")

#: What each category means to the person (plain words, no jargon).
WHAT = {
    "identity": "votre identité (nom, prénom, date de naissance, numéro de sécurité sociale)",
    "coverage": "vos droits à la complémentaire santé (être couvert ou non, pour quels soins)",
    "health": "des informations sur vos soins (actes, équipements d'optique, montants)",
    "payment": "des factures de soins vous concernant et leurs montants",
}
RISK = {
    "identity": "des escrocs pourraient se servir de ces informations pour rendre leurs messages plus crédibles",
    "coverage": "des escrocs pourraient se faire passer pour votre complémentaire santé",
    "health": "ces informations relèvent du secret médical",
    "payment": "des escrocs pourraient évoquer de faux remboursements",
}
# No "bank": a beneficiary's notice never concerns bank details (the platform holds only the
# professionals'), and words about bank data in a notice are what the lint refuses.
#: The CNIL's advice, each sentence of which the lint lets through (negated, or describing the
#: fraudster): distrust messages about reimbursements, never give codes or bank details, look
#: in one's own space by oneself.
ADVICE = (
    "Méfiez-vous des messages, appels ou SMS qui parlent de remboursements ou de mise à jour de votre contrat.",
    "Votre complémentaire santé ne vous demandera jamais vos codes, vos mots de passe ni vos coordonnées "
    "bancaires.",
    "Ne communiquez jamais ces informations à une personne qui vous contacte, même si elle connaît votre nom.",
    "Pour consulter vos remboursements, passez par votre espace personnel habituel, sans utiliser de lien reçu "
    "par message.",
)


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    insurer_name: str
    insurer_phone: str  # as printed on the card
    categories: tuple[str, ...]
    first: datetime | None
    last: datetime | None
    measures: tuple[str, ...]  # what the insurer and the platform did, each a full sentence


def _date(at: datetime) -> str:
    local = at.astimezone(PARIS)
    day = "1er" if local.day == 1 else str(local.day)  # « le 1er décembre »
    return f"{day} {MONTHS[local.month - 1]} {local.year}"


def _when(facts: NoticeFacts) -> str:
    if facts.first is None or facts.last is None:
        return "Ces informations figuraient dans des données copiées sans autorisation."
    if _date(facts.first) == _date(facts.last):
        return f"Cette consultation a eu lieu le {_date(facts.first)}."
    return f"Ces consultations ont eu lieu entre le {_date(facts.first)} et le {_date(facts.last)}."


def _what(facts: NoticeFacts) -> str:
    items = [WHAT[c] for c in sorted(facts.categories) if c in WHAT]
    if len(items) > 1:
        return ", ".join(items[:-1]) + " et " + items[-1]
    return items[0] if items else "des informations vous concernant"


def letter(facts: NoticeFacts) -> str:
    risks = [RISK[c] for c in sorted(facts.categories) if c in RISK]
    parts = [
        "Madame, Monsieur,",
        f"Nous vous informons qu'une personne non autorisée a pu consulter {_what(facts)}, à partir du compte "
        f"d'un professionnel de santé utilisé à son insu. {_when(facts)}",
        "Conséquences possibles : " + " ; ".join(risks) + "." if risks else "",
        " ".join(facts.measures),
        "Ce que vous pouvez faire : " + " ".join(ADVICE),
        "Vos droits et vos remboursements continuent normalement ; vous n'avez aucune démarche à faire.",
        f"Pour toute question, appelez {facts.insurer_name} au {facts.insurer_phone}, le numéro inscrit sur votre "
        "carte.",
        "Nous vous présentons nos excuses pour cet incident.",
        facts.insurer_name,
    ]
    return "\n\n".join(p for p in parts if p)


def email(facts: NoticeFacts) -> str:
    """The same letter, as the body of an e-mail sent from the insurer's usual address: no link,
    no attachment, nothing to click."""
    return "Objet : information sur la consultation de vos données\n\n" + letter(facts)


def sms(facts: NoticeFacts) -> str:
    return (f"{facts.insurer_name} : vos données de complémentaire santé ont pu être consultées sans "
            f"autorisation. Un courrier vous explique tout. Nous ne vous demanderons jamais de code ni de "
            f"coordonnées bancaires. Questions : {facts.insurer_phone}.")


def render(facts: NoticeFacts) -> dict[str, str]:
    return {"letter": letter(facts), "email": email(facts), "sms": sms(facts)}


def facts_from(exposure: dict[str, Any], insurer_name: str, insurer_phone: str,
               measures: tuple[str, ...]) -> NoticeFacts:
    """A scope's exposure (breach.scope.Exposure.to_dict) as a notice's facts."""
    first = datetime.fromisoformat(exposure["first"]) if exposure.get("first") else None
    last = datetime.fromisoformat(exposure["last"]) if exposure.get("last") else None
    return NoticeFacts(insurer_name, insurer_phone, tuple(exposure["categories"]), first, last, measures)

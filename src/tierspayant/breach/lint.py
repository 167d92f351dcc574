"""The notice lint (docs/THREATS.md T9, "Breach response"; GDPR Art. 34 notices): a notice to a
person whose data was exposed must be one a phisher cannot imitate. It carries no link, no
attachment, no e-mail address, no telephone number but the insurer's own as printed on the
card, asks for nothing (credentials, codes, payment, bank details), and does not rush the
reader. The CNIL's advice after the 2024 breaches -- distrust messages about reimbursements,
never give your codes or bank details, look in your own space -- mentions those things only to
say *never*: a sentence naming them passes only when every giving or asking verb in it is
negated ("ne communiquez jamais", "ne vous demandera jamais").

Every notice goes through ``lint`` before it is queued; one finding and it is never queued.
Pure: no I/O."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Rule(StrEnum):
    URL = "url"  # a link, a bare or obfuscated domain name, a short link
    ATTACHMENT = "attachment"
    EMAIL = "email"
    PHONE = "phone"  # any number but the insurer's registered one
    REQUEST = "request"  # asks for credentials, codes, payment or bank details, or to click
    URGENCY = "urgency"  # the pressure phishing uses
    CHECK_SITE = "check_site"  # "find out whether you are affected" (a site to phish with)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    excerpt: str  # the words at fault, as the notice has them (never personal data: notices hold none)


# -- links and domains -------------------------------------------------------------------------
_DOT = r"(?:\s*(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\[point\]|\(point\))\s*|\.|\s+dot\s+|\s+point\s+)"
_TLDS = ("fr", "com", "net", "org", "info", "eu", "io", "ly", "co", "me", "biz", "online", "site", "xyz", "app",
         "be", "ch", "lu", "de", "uk", "us", "re", "gp", "mq", "gf", "yt", "pm", "nc", "pf", "top", "club", "live",
         "link", "page", "click", "gl", "gd", "cc", "tk", "ml", "ga", "cf", "gq", "ru", "cn", "sante", "gouv", "ws")
_URL_PATTERNS = (
    re.compile(r"\b(?:h\s*[tx]\s*[tx]\s*p\s*s?|ftp)\s*(?::|\[:\]|\(:\))\s*/\s*/", re.I),  # http://, hxxps://
    re.compile(r"\b(?:h[tx]{2}ps?|https?)\b", re.I),  # the scheme alone, defanged or not
    re.compile(r"\bwww\d?\s*" + _DOT, re.I),
    re.compile(r"\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:" + _DOT + r"[a-z0-9-]+)*" + _DOT + r"(?:"
               + "|".join(_TLDS) + r")\b(?!['’]\w)", re.I),
    re.compile(r"\b(?:bit\s*ly|tinyurl|goo\s*gl|t\s*\.\s*co|ow\s*ly|is\s*gd|cutt\s*ly|rb\s*gy|shorturl)\b", re.I),
    re.compile(r"(?:^|\s)/[a-z0-9_-]+/[a-z0-9_/-]+", re.I),  # a path
    re.compile(r"\bqr\s*-?\s*code\b|\bcode\s+qr\b|\bflashez\b|\bscannez\b", re.I),
)

# -- e-mail addresses -------------------------------------------------------------------------
_EMAIL = re.compile(r"[\w.+-]+\s*(?:@|\[at\]|\(at\)|\{at\}|\s+arobase\s+|\s+at\s+)\s*[\w-]+(?:" + _DOT + r"[\w-]+)+",
                    re.I)
_EMAIL_WORDS = re.compile(r"\b(?:e-?mail|courriel|adresse\s+[ée]lectronique|m[ée]l)\s*:", re.I)

# -- telephone numbers ------------------------------------------------------------------------
# Eight digits or more, with any of the separators people write (spaces, dots, dashes,
# parentheses, slashes), or a short premium number (3xxx, 118xxx, 08 9x).
_PHONE = re.compile(r"(?<![\w])(?:\+|00)?\(?\d(?:[\s.\-/()]{0,3}\d){7,14}(?![\w])")
_SHORT_NUMBER = re.compile(r"(?<![\w,.])(?:3[0-9]{3}|118\s?\d{3}|36\s?\d{2}\s?\d{2})(?![\w,.])")
_SMS_WORDS = re.compile(r"\b(?:envoyez|r[ée]pondez|tapez)\s+(?:\w+\s+){0,3}(?:au|par\s+sms)\b", re.I)

# -- requests ---------------------------------------------------------------------------------
# What a notice may name only to say "never": credentials and codes, payment and bank data,
# links, buttons and forms, attachments, signing in through what the message offers.
_CODE = r"\bcodes?\b(?!\s+(?:de\s+la\s+sant|civil|p[ée]nal|des\s+assurances|de\s+la\s+s[ée]curit|postal|mon[ée]taire))"
_SENSITIVE = re.compile(
    r"mots?\s+de\s+passe|\bidentifiants?\b|\blogin\b|" + _CODE + r"|\bpin\b|cryptogramme|\bcvv\b|\bcvc\b|"
    r"cartes?\s+(?:bancaires?|bleues?|de\s+cr[ée]dit)|num[ée]ros?\s+de\s+(?:carte|compte)|"
    r"\brib\b|\biban\b|\bbic\b|coordonn[ée]es\s+bancaires|relev[ée]\s+d['’]identit[ée]\s+bancaire|"
    r"informations?\s+bancaires|donn[ée]es\s+bancaires|comptes?\s+bancaires?|"
    r"\bpa(?:y|i)(?:e|es|ez|er|ement|ements)\b|\br[èée]gl(?:ez|er)\b|\bvirements?\b|\bfrais\b|"
    r"\bliens?\b|\bcliqu\w*|\bbouton\b|\bformulaires?\b|"
    r"\bconnectez-vous\b|\bidentifiez-vous\b|\bvous\s+(?:re)?connecter\b|\bv[ée]rifi\w+\s+votre\s+(?:compte|identit[ée])|"
    r"\bconfirm\w+\s+votre\s+(?:identit[ée]|compte|adresse)|\bmet(?:tre|tez)\s+[àa]\s+jour\b|"
    r"\bremboursements?\s+(?:en\s+attente|disponibles?|bloqu\w*|en\s+suspens)",
    re.I)
# What a notice says was exposed, but a phisher asks for too: named with a free verb of giving
# or asking it is a request; named alone it is the notice's own statement of what was seen.
_IDENTIFIERS = re.compile(r"num[ée]ros?\s+de\s+s[ée]curit[ée]\s+sociale|\bnir\b|cartes?\s+vitales?|"
                          r"dates?\s+de\s+naissance|\badresse\s+postale|\bnum[ée]ro\s+d['’]adh[ée]rent", re.I)
_ATTACHMENT = re.compile(
    r"pi[eè]ces?\s+jointes?|\bp\.?\s?j\.?(?=\s|$)|ci-?\s?joint\w*|fichiers?\s+joints?|documents?\s+joints?|"
    r"\ben\s+annexe\b|\bt[ée]l[ée]charge\w*|\bouvr\w*\s+(?:le|la|ce|cette|les)\s+(?:fichier|document|formulaire)|"
    r"\.\s?(?:pdf|zip|rar|exe|docx?|xlsx?|html?|apk|scr|js)\b|\battach\w*",
    re.I)
# Verbs of giving or asking, any person or tense (stems). In a sentence that names something
# sensitive, each must be negated (or describe what the fraudster does, in an advice).
_VERBS = re.compile(
    r"\b(?:communiqu|donn(?!ées?\b)|transm[ie]t|envo[iy]|indiqu|saisi|renseign|fourni|confi[eé]|divulgu|r[ée]pond|"
    r"pa[yi](?!s\b)|r[èée]gl(?=e\b|es\b|ez\b|er\b|é|ons\b|era)|cliqu|demand|r[ée]clam|sollicit|confirm|v[ée]rifi|partag|dict|remplis|compl[ée]t|mett|"
    r"connect|identifi|ouvr|acc[ée]d|scann|flash|t[ée]l[ée]charg|inscri|actualis|valid|d[ée]bloqu|"
    r"r[ée]activ|r[ée]cup[ée]r|b[ée]n[ée]fici|profit|suiv|utilis|touch|percev|recev|obten)\w*",
    re.I)
_PRONOUNS = r"(?:vous|nous|leur|lui|le|la|les|l['’]|y|en|me|m['’]|te|t['’]|se|s['’])"
#: The rest of a clause: up to punctuation or a conjunction that starts another order.
_CLAUSE = r"(?:(?!\b(?:et|mais|puis|ensuite|alors|donc|pour|afin)\b)[^,;:.!?])*"
_PARTICLE = r"(?:jamais|pas|aucune?s?|rien|plus|nullement|personne|ni)"
# The spans a negation governs: "ne [pronouns] VERB [auxiliary] PARTICLE [participle]",
# "PARTICLE ... ne [pronouns] VERB [participle]" (aucun organisme ne vous demandera), "sans
# [jamais] VERB", "ni ... ni", and the caution words that open an advice ("méfiez-vous de").
_NEGATION = re.compile(
    r"\b(?:ne|n['’])\s*(?:" + _PRONOUNS + r"\s*){0,3}[^\s,;:.!?]+(?:\s+[^\s,;:.!?]+){0,2}?\s+" + _PARTICLE
    + r"\b(?:\s+(?:été\s+)?\w+(?:é|ée|és|ées|is|it|ts?)\b)?|"
    r"\b(?:jamais|aucune?s?|personne|nul(?:le)?|rien)\b[^,;:.!?]{0,60}?\b(?:ne|n['’])\s*(?:" + _PRONOUNS
    + r"\s*){0,3}(?:[^\s,;:.!?]+\s*){1,3}|"
    r"\bsans\s+(?:jamais\s+)?(?:" + _PRONOUNS + r"\s*)?\S+|"
    r"\b(?:m[ée]fiez-vous|soyez\s+(?:vigilant|prudent|méfiant)\w*|prudence|vigilance|attention)\b" + _CLAUSE,
    re.I)
# Verbs that describe the fraudster in an advice ("un message vous demandant vos codes", "qui
# vous demande", "si quelqu'un vous demande ... , raccrochez"): allowed beside a negation.
_DESCRIBED = re.compile(r"\b(?:qui|que|dont)\s+(?:" + _PRONOUNS + r"\s*){0,2}$|\bsi\s+[^,;:.!?]*$", re.I)


def _negated(sentence: str) -> list[tuple[int, int]]:
    return [m.span() for m in _NEGATION.finditer(sentence)]


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


#: Participles and other forms that state what happened rather than ask ("utilisé à son insu").
_STATED = re.compile(r"(?:é|ée|és|ées|is|ise|ises|it|ite|ites|u|ue|us|ues)$", re.I)


def _asks(sentence: str, named: re.Pattern[str], bare: bool = True) -> list[str]:
    """What the sentence asks for among ``named``: a thing named with a verb of giving or
    asking that no negation governs (and that does not describe the fraudster beside a
    negation), or -- when ``bare`` -- named with no such verb and no negation at all ("Votre
    IBAN :"). A participle states what happened ("utilisé à son insu"): it asks nothing."""
    things = [m for m in named.finditer(sentence)]
    if not things:
        return []
    spans = _negated(sentence)
    verbs = list(_VERBS.finditer(sentence))
    free = [v for v in verbs if not _inside(v.start(), spans) and not _STATED.search(v.group(0))]
    if spans:  # an advice: what describes the fraudster is allowed
        free = [v for v in free if not (v.group(0).lower().endswith("ant") or _DESCRIBED.search(sentence[:v.start()]))]
    if free:
        return [v.group(0) for v in free] + [m.group(0) for m in things]
    if not spans and bare:
        return [m.group(0) for m in things]
    return []


_ASK_AFFECTED = re.compile(
    r"(?:savoir|v[ée]rifi\w*|d[ée]couvr\w*|tester|testez|contr[ôo]l\w*)\s+(?:en\s+ligne\s+)?si\s+(?:vous|vos\s+donn[ée]es|"
    r"votre\s+\w+)\s+(?:[êe]tes|sont|avez|a\s+[ée]t[ée]|ont\s+[ée]t[ée]|est|figur)|"
    r"\bsite\s+(?:d[ée]di[ée]|sp[ée]cial|de\s+v[ée]rification|s[ée]curis[ée])|\bespace\s+(?:d[ée]di[ée]|sp[ée]cial)\s+(?:à|a)\s+l['’]incident|"
    r"\bam\s*i\s*(?:affected|concerned|pwned)|\bhave\s*i\s*been",
    re.I)

# -- urgency ----------------------------------------------------------------------------------
_URGENCY = re.compile(
    r"\burgen\w*|\bau\s+plus\s+vite|\bd[èe]s\s+(?:maintenant|aujourd['’]hui|r[ée]ception)|\bsans\s+d[ée]lai|"
    r"\bdernier\s+(?:d[ée]lai|rappel|avertissement|avis)|\bderni[èe]re\s+(?:relance|chance)|\baction\s+requise|"
    r"\bsans\s+(?:action|r[ée]ponse|retour)\s+de\s+votre\s+part|\bsous\s+peine|\bfaute\s+de\s+quoi|"
    r"\b(?:sera|seront|serait|va\s+[êe]tre)\s+(?:suspendu|bloqu|cl[ôo]tur|d[ée]sactiv|supprim|r[ée]sili|perdu|annul)\w*|"
    r"\b(?:dans|sous|avant)\s+(?:les\s+)?\d+\s*(?:h\b|heures?|jours?|minutes?)|\bavant\s+(?:le\s+)?\d{1,2}[\s/.]|"
    r"\bagissez\b|\bne\s+tardez\s+pas|\bvite\b|\brapidement\b|\bimm[ée]diat\w*|\bexpir\w*|\bimp[ée]rati\w*|"
    r"\bderni[eè]re\s+minute|\bd[ée]lai\s+de\s+\d|\bpour\s+[ée]viter\s+(?:la|le|toute?)\s+(?:suspension|blocage|"
    r"cl[ôo]ture|perte|p[ée]nalit)|\bavant\s+qu['’]il\s+ne\s+soit\s+trop\s+tard|\btemps\s+limit[ée]",
    re.I)
# Soft words pass in an advice sentence ("ne répondez pas dans l'urgence") and when they say
# what the insurer already did ("nous avons immédiatement suspendu"); the rest never.
_SOFT_URGENCY = re.compile(r"\burgen\w*|\bimm[ée]diat\w*|\brapidement\b|\bvite\b|\bsans\s+d[ée]lai|"
                           r"\bd[èe]s\s+(?:maintenant|aujourd['’]hui|r[ée]ception)", re.I)
_OUR_ACTION = re.compile(r"\b(?:avons|avaient|avait|a|ont|été|étaient|sommes)\b", re.I)

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def _fold(text: str) -> str:
    """Lower case, compatibility forms folded (full-width letters, ligatures), zero-width
    characters and soft hyphens removed: the disguises a filter is fooled by."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def _digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0033"):
        digits = "0" + digits[4:]
    elif digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits


def lint(text: str, insurer_phone: str) -> list[Finding]:
    """Every finding in a notice's text; [] means it may be queued. ``insurer_phone``: the
    insurer's number as printed on the card (the only number a notice may give)."""
    folded = _fold(text)
    findings: list[Finding] = []
    allowed = _digits(insurer_phone)
    for pattern in _URL_PATTERNS:
        findings += [Finding(Rule.URL, m.group(0).strip()) for m in pattern.finditer(folded)]
    findings += [Finding(Rule.EMAIL, m.group(0)) for m in _EMAIL.finditer(folded)]
    findings += [Finding(Rule.EMAIL, m.group(0)) for m in _EMAIL_WORDS.finditer(folded)]
    for m in _PHONE.finditer(folded):
        if _digits(m.group(0)) != allowed:
            findings.append(Finding(Rule.PHONE, m.group(0).strip()))
    for m in _SHORT_NUMBER.finditer(folded):
        if _digits(m.group(0)) != allowed:
            findings.append(Finding(Rule.PHONE, m.group(0).strip()))
    findings += [Finding(Rule.PHONE, m.group(0)) for m in _SMS_WORDS.finditer(folded)]
    findings += [Finding(Rule.CHECK_SITE, m.group(0)) for m in _ASK_AFFECTED.finditer(folded)]
    for sentence in _SENTENCE_END.split(folded):
        findings += [Finding(Rule.REQUEST, word) for word in _asks(sentence, _SENSITIVE)]
        findings += [Finding(Rule.REQUEST, word) for word in _asks(sentence, _IDENTIFIERS, bare=False)]
        findings += [Finding(Rule.ATTACHMENT, word) for word in _asks(sentence, _ATTACHMENT)]
        for m in _URGENCY.finditer(sentence):
            if _SOFT_URGENCY.fullmatch(m.group(0)) and (_OUR_ACTION.search(sentence[:m.start()])
                                                         or _negated(sentence)):
                continue  # what was done at once, or an advice against hurrying
            findings.append(Finding(Rule.URGENCY, m.group(0)))
    return findings

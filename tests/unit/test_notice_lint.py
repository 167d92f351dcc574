"""The notice lint (breach/lint.py): every planted bad notice is caught -- each rule at least
three ways, obfuscated links, numbers written with spaces or dots -- and no hand-written good
notice is flagged. The texts are synthetic."""

from __future__ import annotations

import pytest

from tierspayant.breach.lint import Rule, lint

PHONE = "09 70 80 90 00"  # the insurer's number as printed on the card (synthetic)

OPENING = ("Madame, Monsieur, le 3 mars 2026, une personne non autorisée a consulté vos droits à la "
           "complémentaire santé depuis le compte d'un opticien. ")

BAD: list[tuple[Rule, str]] = [
    # -- links, bare and obfuscated domains, short links
    (Rule.URL, "Consultez https://mutuelle-remboursement.fr/dossier pour en savoir plus."),
    (Rule.URL, "Rendez-vous sur hxxps://ameli-secure[.]com."),
    (Rule.URL, "Tout est expliqué sur ameli[.]fr, rubrique sécurité."),
    (Rule.URL, "Plus d'informations : www.mutuelle-info.fr"),
    (Rule.URL, "Voir bit.ly/3xYzAb pour votre dossier."),
    (Rule.URL, "Votre dossier : mutuelle-aide.com"),
    (Rule.URL, "Écrivez l'adresse mutuelle (point) fr dans votre navigateur."),
    (Rule.URL, "Allez sur secure-sante dot fr."),
    (Rule.URL, "Flashez le QR code au dos de ce courrier."),
    (Rule.URL, "h t t p s : / / remboursement-mutuelle . fr"),
    # -- attachments
    (Rule.ATTACHMENT, "Vous trouverez en pièce jointe le détail des données consultées."),
    (Rule.ATTACHMENT, "Ouvrez le document ci-joint pour connaître la suite."),
    (Rule.ATTACHMENT, "Téléchargez l'attestation pour la présenter à votre opticien."),
    (Rule.ATTACHMENT, "Le relevé complet figure dans le fichier releve_2026.pdf."),
    # -- e-mail addresses
    (Rule.EMAIL, "Pour toute question, écrivez à securite@mutuelle-exemple.fr."),
    (Rule.EMAIL, "Contact : dpo [at] mutuelle-exemple [.] fr"),
    (Rule.EMAIL, "Répondez à support.incident(at)mutuelle.com avec vos questions."),
    (Rule.EMAIL, "Courriel : contact arobase assurance point fr"),
    # -- telephone numbers other than the insurer's
    (Rule.PHONE, "Appelez notre cellule au 01 23 45 67 89."),
    (Rule.PHONE, "Une ligne dédiée : 01.23.45.67.89, du lundi au vendredi."),
    (Rule.PHONE, "Joignez-nous au +33 6 12 34 56 78."),
    (Rule.PHONE, "Service incident : 0033-1-44-55-66-77."),
    (Rule.PHONE, "Pour être rappelé, envoyez RAPPEL par SMS au 36 12 34."),
    (Rule.PHONE, "Composez le 0 892 68 01 02 (service payant)."),
    # -- requests for credentials, codes, payment, bank details, to click or sign in
    (Rule.REQUEST, "Merci de nous communiquer votre IBAN afin de recevoir votre indemnisation."),
    (Rule.REQUEST, "Confirmez votre identité en indiquant votre numéro de sécurité sociale et votre mot de passe."),
    (Rule.REQUEST, "Un conseiller vous appellera : donnez-lui le code reçu par SMS."),
    (Rule.REQUEST, "Des frais de dossier de 2 € sont à régler pour sécuriser votre compte."),
    (Rule.REQUEST, "Cliquez sur le bouton ci-dessous pour vérifier votre compte."),
    (Rule.REQUEST, "Connectez-vous avec vos identifiants pour débloquer votre remboursement en attente."),
    (Rule.REQUEST, "Ne tardez pas à transmettre vos coordonnées bancaires."),
    (Rule.REQUEST, "Votre RIB : ____________"),
    (Rule.REQUEST, "Ne supprimez pas ce message, envoyez-nous votre numéro de carte bancaire."),
    # requests hidden behind an advice's words
    (Rule.REQUEST, "Méfiez-vous des faux messages et envoyez-nous votre RIB."),
    (Rule.REQUEST, "Ne perdez pas vos droits : communiquez votre IBAN."),
    (Rule.REQUEST, "Si vous souhaitez être remboursé, indiquez votre numéro de carte."),
    (Rule.REQUEST, "Ne tardez pas : un conseiller vous demande votre code."),
    (Rule.REQUEST, "Votre IBAN nous permettra de vous rembourser."),
    (Rule.REQUEST, "Votre IBAN est demandé pour le remboursement."),
    (Rule.REQUEST, "Merci de confirmer votre numéro de sécurité sociale."),
    (Rule.REQUEST, "Veuillez indiquer votre date de naissance à la personne qui vous appellera."),
    # -- the urgency phishing uses
    (Rule.URGENCY, "Sans action de votre part, votre contrat sera suspendu."),
    (Rule.URGENCY, "Répondez dans les 48 heures."),
    (Rule.URGENCY, "URGENT : dernier rappel avant la clôture de votre dossier."),
    (Rule.URGENCY, "Agissez vite, votre dossier expire bientôt."),
    (Rule.URGENCY, "Faute de quoi vos droits seront bloqués."),
    # -- "find out whether you are affected"
    (Rule.CHECK_SITE, "Vérifiez en ligne si vous êtes concerné par la fuite."),
    (Rule.CHECK_SITE, "Un site dédié vous permet de savoir si vos données ont été consultées."),
    (Rule.CHECK_SITE, "Testez si votre adresse figure dans la fuite."),
    # -- disguises a filter is fooled by
    (Rule.URL, "Rendez-vous sur ｍｕｔｕｅｌｌｅ.ｆｒ"),  # full-width letters
    (Rule.URL, "Rendez-vous sur mutu\u200belle-aide.fr"),  # a zero-width space
    (Rule.PHONE, "Appelez le 01\u00a023\u00a045\u00a067\u00a089."),  # non-breaking spaces
]

GOOD = [
    "Nous avons immédiatement suspendu le compte utilisé et prévenu la CNIL.",
    "Votre assureur ne vous demandera jamais vos codes, vos mots de passe ni vos coordonnées bancaires.",
    "Ne communiquez jamais votre IBAN ou vos codes à une personne qui vous contacte.",
    "Si vous recevez un message vous demandant vos codes ou votre RIB, ne répondez pas.",
    "Méfiez-vous des messages qui parlent de remboursements en attente.",
    "Ne cliquez sur aucun lien reçu par message au sujet de cet incident.",
    "N'ouvrez jamais les pièces jointes d'un message inattendu.",
    "Pour consulter vos remboursements, passez par votre espace personnel habituel, sans utiliser de lien reçu par message.",
    f"Pour toute question, appelez votre assureur au {PHONE}, le numéro inscrit sur votre carte.",
    f"Votre assureur : {PHONE.replace(' ', '.')}.",
    "Aucun paiement ne vous sera demandé.",
    "Aucun organisme ne vous demandera de confirmer votre identité par téléphone.",
    "Les données consultées sont : vos droits à la complémentaire santé et votre date de naissance.",
    "La consultation a eu lieu le 3 mars 2026 entre 10 h et 11 h.",
    "Votre numéro de sécurité sociale n'a pas été consulté.",
    "Aucune donnée de santé n'a été consultée.",
    "Vos données bancaires n'ont pas été exposées.",
    "Les escrocs peuvent utiliser ces informations pour rendre leurs messages crédibles : soyez vigilant.",
    "Nous avons déposé plainte et informé la Commission nationale de l'informatique et des libertés.",
    "Le compte de l'opticien a été fermé et tous ses accès ont été coupés dès la détection.",
    "Ne répondez pas dans l'urgence à un message qui vous presse.",
    "Prudence avec les appels qui se présentent comme venant de votre mutuelle.",
    "Vous n'avez rien à faire pour que vos droits continuent.",
    "Vos remboursements continuent normalement.",
    "Vous pouvez exercer vos droits d'accès et d'opposition auprès de votre assureur.",
    "Ce courrier vous est adressé en application de l'article 34 du règlement général sur la protection des données.",
    "Personne ne vous demandera de code par téléphone.",
    "Ne donnez jamais le code reçu par SMS, même à quelqu'un qui se présente comme un conseiller.",
    "Nous vous présentons nos excuses pour cet incident.",
    "Le professionnel concerné a été contacté et ses accès ont été renouvelés.",
    "Vos nom, prénom et date de naissance ont pu être vus ; votre adresse ne l'a pas été.",
    "L'incident a été découvert le 4 mars 2026 à 9 h.",
    "Si un conseiller vous appelle et vous demande vos codes, raccrochez : ce n'est pas votre assureur.",
    "En cas de doute sur un message, ne le supprimez pas tout de suite : montrez-le à votre assureur en l'appelant.",
    "Nous surveillons les comptes des professionnels pour détecter tout nouvel accès inhabituel.",
    "Aucune action n'est nécessaire de votre part.",
    "Les informations consultées ne permettent pas d'accéder à vos comptes.",
    "Nous avons rapidement coupé l'accès utilisé.",
    "Soyez prudent avec les messages qui annoncent un remboursement disponible.",
    "Sans jamais cliquer sur un lien, rendez-vous vous-même dans votre espace personnel.",
    "Ne saisissez jamais votre mot de passe sur une page ouverte depuis un message.",
    "Les informations consultées sont votre nom, votre date de naissance et votre numéro de sécurité sociale.",
    "Le compte d'un professionnel de santé, utilisé à son insu, a servi à consulter vos droits.",
]


@pytest.mark.parametrize(("rule", "text"), BAD)
def test_every_planted_bad_notice_is_caught_by_its_rule(rule: Rule, text: str) -> None:
    findings = lint(OPENING + text, PHONE)
    assert rule in {f.rule for f in findings}, findings


def test_each_rule_is_planted_at_least_three_ways() -> None:
    assert len(BAD) >= 40
    assert all(sum(1 for r, _ in BAD if r is rule) >= 3 for rule in Rule)


@pytest.mark.parametrize("text", GOOD)
def test_no_good_sentence_is_flagged(text: str) -> None:
    assert lint(OPENING + text, PHONE) == []


def test_a_whole_good_notice_passes() -> None:
    assert len(GOOD) >= 40
    assert lint(OPENING + " ".join(GOOD), PHONE) == []


def test_every_generated_notice_passes_whatever_its_facts() -> None:
    """Every category mix, one day or several, exposure through the log or the store only, each
    demo insurer's name and number, every channel (breach/notices.py)."""
    from datetime import UTC, datetime
    from itertools import combinations

    from tierspayant.breach.notices import WHAT, NoticeFacts, render
    from tierspayant.simulate.population import INSURERS

    first, last = datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 9, 17, tzinfo=UTC)
    measures = ("Les comptes concernés ont été suspendus et la CNIL a été informée.",)
    checked = 0
    for n, (_, name) in enumerate(INSURERS):
        phone = f"09 70 80 {90 + n:02d} 00"
        for size in range(1, len(WHAT) + 1):
            for categories in combinations(sorted(WHAT), size):
                for when in ((first, first), (first, last), (None, None)):
                    for channel, text in render(NoticeFacts(name, phone, categories, *when, measures)).items():
                        assert lint(text, phone) == [], (channel, categories, text)
                        checked += 1
    assert checked >= 3 * 15 * 3 * 3

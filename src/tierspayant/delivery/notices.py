"""Notices to people: e-mail over SMTP (aiosmtplib) and SMS through an HTTP gateway. A notice's
text is the payload's ``text`` (written by the fact that sends it: never more than the notice
needs, never a link to sign in -- docs/THREATS.md, phishing)."""

from __future__ import annotations

import re
from email.message import EmailMessage
from urllib.parse import urlsplit

import aiosmtplib
import httpx

from tierspayant.services.ports.delivery import Channel, Destination, Message, Receipt

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+\d{8,15}$")


class EmailConnector:
    channel = Channel.EMAIL

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def check(self, destination: Destination) -> str | None:
        c = destination.config
        if not c.get("host") or not str(c.get("port", "")).isdigit():
            return "host and port: the SMTP relay"
        for key in ("sender", "to"):
            if not _ADDRESS.match(str(c.get(key, ""))):
                return f"{key}: an e-mail address"
        return None

    async def deliver(self, destination: Destination, message: Message, body: bytes) -> Receipt:
        c = destination.config
        mail = EmailMessage()
        mail["From"], mail["To"] = str(c["sender"]), str(c["to"])
        mail["Subject"] = str(message.payload.get("subject", "Tiers payant"))
        mail["Message-ID"] = f"<{message.message_id}@tierspayant>"  # the same id on a redelivery
        mail.set_content(str(message.payload.get("text", body.decode())))
        try:
            await aiosmtplib.send(mail, hostname=str(c["host"]), port=int(c["port"]), timeout=self.timeout,
                                  start_tls=bool(c.get("starttls", False)))
        except aiosmtplib.SMTPRecipientsRefused:
            return Receipt(False, "the relay refused the recipient", permanent=True)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Receipt(False, f"SMTP: {type(exc).__name__}")
        return Receipt(True)


class SmsConnector:
    """A gateway taking ``{"to": "+33...", "text": "...", "id": message id}`` as JSON."""

    channel = Channel.SMS

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def check(self, destination: Destination) -> str | None:
        parts = urlsplit(str(destination.config.get("url", "")))
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return "url: the gateway's URL"
        if not _PHONE.match(str(destination.config.get("to", ""))):
            return "to: a phone number in international form, e.g. +33612345678"
        return None

    async def deliver(self, destination: Destination, message: Message, body: bytes) -> Receipt:
        text = str(message.payload.get("text", ""))[:480]
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:  # a few notices a day
                answer = await client.post(str(destination.config["url"]), json={
                    "to": destination.config["to"], "text": text, "id": message.message_id})
        except httpx.HTTPError as exc:
            return Receipt(False, f"unreachable: {type(exc).__name__}")
        if 200 <= answer.status_code < 300:
            return Receipt(True)
        return Receipt(False, f"answered {answer.status_code}", permanent=400 <= answer.status_code < 500
                       and answer.status_code not in (408, 429))

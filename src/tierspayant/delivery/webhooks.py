"""Signed webhooks (Standard Webhooks, standardwebhooks.com): a POST of the message's JSON with
``webhook-id`` (the message id: the receiver's deduplication key), ``webhook-timestamp`` and
``webhook-signature`` -- one ``v1,`` signature per valid secret, so that a rotated secret keeps
working for its overlap. A 2xx is the acknowledgement; 408, 425, 429 and 5xx are tried again;
any other answer says the destination refuses this message (a wrong secret, a bad URL): it is
dead at once, with the status as its reason, and can be replayed once the destination is fixed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from tierspayant.services.ports.delivery import Channel, Destination, Message, Receipt

RETRIED = {408, 425, 429}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def signature(secrets: list[str], message_id: str, at: datetime, body: bytes) -> str:
    """The ``webhook-signature`` header: each secret's ``v1,<base64>``, space-separated."""
    text = body.decode()
    return " ".join(Webhook(secret).sign(message_id, at, text) for secret in secrets)


class WebhookConnector:
    channel = Channel.WEBHOOK

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        """One pooled client per event loop (a client belongs to the loop that made it; a new
        loop may get a finished one's id, hence the loop kept beside it)."""
        running = asyncio.get_running_loop()
        made = self._clients.get(id(running))
        if made is None or made[0] is not running:
            if len(self._clients) > 8:
                self._clients.clear()
            made = self._clients[id(running)] = (running, httpx.AsyncClient(timeout=self.timeout,
                                                                            follow_redirects=False))
        return made[1]

    def check(self, destination: Destination) -> str | None:
        url = str(destination.config.get("url", ""))
        parts = urlsplit(url)
        if not parts.hostname:
            return "url: an absolute URL, e.g. https://claims.example/hooks"
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            return "url: https only (plain http for a receiver on this machine only)"
        return None

    async def deliver(self, destination: Destination, message: Message, body: bytes) -> Receipt:
        now = datetime.now(UTC)  # the receiver checks it against its own clock: real time
        secrets = [s for s, until in destination.secrets if until is None or until > now]
        if not secrets:
            return Receipt(False, "no valid signing secret (rotate one)", permanent=True)
        headers = {"content-type": "application/json", "webhook-id": message.message_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": signature(secrets, message.message_id, now, body)}
        try:
            answer = await self.client.post(str(destination.config["url"]), content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Receipt(False, f"unreachable: {type(exc).__name__}")
        if 200 <= answer.status_code < 300:
            return Receipt(True)
        permanent = answer.status_code < 500 and answer.status_code not in RETRIED
        return Receipt(False, f"answered {answer.status_code}", permanent=permanent)

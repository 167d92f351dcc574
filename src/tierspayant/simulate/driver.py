"""Drives a running server over HTTP: the professionals' day (simulate/traffic.py) and the
attacks of docs/THREATS.md T2-T4 (simulate/attacks.py), recording every answer. Identities stay in
this process's memory: the report holds counts only."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import aiohttp
import httpx

from tierspayant.simulate.clock import AcceleratedClock
from tierspayant.simulate.traffic import PROFILES, Patient, Visit

PROFILES_BY_CATEGORY = {p.category: p for p in PROFILES.values()}

QUOTE_LINES = [{"code": "9100102", "price": "120.00"},
               {"code": "9100301", "price": "90.00", "lens_type": "unifocal", "sph": "-2.00"},
               {"code": "9100301", "price": "90.00", "lens_type": "unifocal", "sph": "-1.75"}]


class Authenticator(Protocol):
    sign_count: int

    def get(self, options: dict[str, Any], origin: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Record:
    actor: str  # "legit" or the scenario
    account: int  # index of the simulated professional (-1: none)
    at: datetime  # simulated time the request was sent
    status: int
    ms: float
    contained: bool  # refused by a containment (401 on a live session, 429 "unusual activity")
    path: str = ""  # the route (no identifiers in it)


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer as the simulator keeps it (status 0: the connection failed)."""

    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def contained(answer: Answer, signed_in: bool) -> bool:
    """Refused by a containment: a signed-in request answered 401 (its session was ended), or
    429 "unusual activity" (throttled by detection)."""
    return (answer.status_code == 401 and signed_in) or (
        answer.status_code == 429 and "Unusual activity" in answer.text)


class Simulation:
    def __init__(self, base_url: str, clock: AcceleratedClock, authenticators: list[Authenticator], origin: str,
                 issue_proof: Callable[[Patient], str | None], concurrency: int = 48) -> None:
        self.clock = clock
        self.authenticators = authenticators
        self.origin = origin
        self.issue_proof = issue_proof
        # aiohttp: with httpx, the client library took ~70 % of this process's CPU (py-spy) and
        # the legitimate p50 was 12-13 ms; with aiohttp 7-8.5 ms. The simulator's own CPU is what
        # its latency figures must not depend on (it shares the machine with the server).
        self.base_url = base_url
        self.connections = concurrency + 16
        self._client: aiohttp.ClientSession | None = None
        self.slots = asyncio.Semaphore(concurrency)
        self.tokens: dict[int, str] = {}
        self.invoices = 0
        self.last_sign_in = 0
        #: Legitimate checks refused for lack of a proof, then made with the patient's proof.
        self.asked_for_proof = 0
        self.proofs_shown_again = 0  # a proof refused when shown (lapsed on its way), shown afresh
        #: PECs to invoice on a later day: (due, professional, PEC number, invoice lines); the
        #: caller shares one list across the simulated days.
        self.pending: list[tuple[date, int, str, list[dict[str, Any]]]] = []
        self.records: list[Record] = []
        #: How late (simulated seconds) the scheduler sent visits: large values mean the
        #: simulator could not keep up with the accelerated clock.
        self.lateness: list[float] = []

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None:  # made inside the running event loop
            self._client = aiohttp.ClientSession(
                self.base_url, timeout=aiohttp.ClientTimeout(total=30.0),
                connector=aiohttp.TCPConnector(limit=self.connections))
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None) -> Answer:
        try:
            async with self.client.request(method, path, json=body, headers=headers) as answer:
                return Answer(answer.status, await answer.text())
        except (aiohttp.ClientError, TimeoutError):  # a dropped connection: a failed request, status 0
            return Answer(0, "")

    async def sleep_until(self, at: datetime) -> None:
        await asyncio.sleep(max(0.0, self.clock.wall_time_of(at) - time.time()))

    async def sign_in(self, index: int, tries: int = 3) -> str | None:
        """A passkey sign-in (the professional's authenticator), as practice software does it;
        None when refused ``tries`` times (a suspended account)."""
        for _ in range(tries):
            options = await self._send("POST", "/v1/passkeys/authentication/options")
            if options.status_code != 200:
                continue
            assertion = self.authenticators[index].get(options.json(), self.origin)
            answer = await self._send("POST", "/v1/passkeys/authentication", {"credential": assertion})
            self.last_sign_in = answer.status_code  # 403: the account is suspended
            if answer.status_code == 200:
                token = str(answer.json()["token"])
                self.tokens[index] = token
                return token
        return None

    async def request(self, actor: str, account: int, method: str, path: str, token: str | None,
                      body: dict[str, Any] | None = None) -> Answer:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        at = self.clock.now()
        started = time.perf_counter()
        answer = await self._send(method, path, body, headers)
        ms = (time.perf_counter() - started) * 1000
        self.records.append(Record(actor, account, at, answer.status_code, ms, contained(answer, token is not None),
                                   path))
        return answer

    # -- the professionals' day ---------------------------------------------------------------
    async def visit(self, visit: Visit) -> None:
        async with self.slots:
            token = self.tokens.get(visit.professional) or await self.sign_in(visit.professional)
            answer = await self.check(visit, token, self.shown_proof(visit))
            for _ in range(2):  # the session idled out (15 min): sign in again -- twice at most, since
                # at 960x those 15 minutes are 0.94 s of wall time, which one busy moment of a
                # 2-core machine can spend between the sign-in and the check
                if answer.status_code != 401:
                    break
                self.records.pop()
                token = await self.sign_in(visit.professional)
                answer = await self.check(visit, token, self.shown_proof(visit))
            if answer.status_code == 403 and (proof := self.issue_proof(visit.patient)) is not None:
                # Asked for the patient's proof (a budget spent, the organisation stepped up), or the
                # one shown lapsed on its way (time runs fast here: at 960x a proof's 20 minutes are
                # 1.25 s of wall time, one slow answer under load): the patient shows the insurer's
                # app again and the check goes again, as at a real counter.
                self.records.pop()
                self.asked_for_proof += not visit.with_proof
                self.proofs_shown_again += visit.with_proof
                answer = await self.check(visit, token, proof)
            if answer.status_code == 200 and visit.follow_up and answer.json().get("covered"):
                await self.follow_up(visit, token, answer.json()["engagement_number"])

    def shown_proof(self, visit: Visit) -> str | None:
        """The proof the patient shows, issued just before the check is sent (the app shows a
        fresh one at the counter), or None."""
        return self.issue_proof(visit.patient) if visit.with_proof else None

    async def check(self, visit: Visit, token: str | None, proof: str | None) -> Answer:
        body: dict[str, Any] = {**visit.patient.body(), "date_of_care": visit.at.date().isoformat(),
                                "category": visit.category}
        if proof:
            body["presence_proof"] = proof
        return await self.request("legit", visit.professional, "POST", "/v1/rights-checks", token, body)

    async def follow_up(self, visit: Visit, token: str | None, engagement: str) -> None:
        """The quote (optician: a PEC, invoiced when the patient comes back for the glasses) or
        the invoice (the others) made at the counter after the check."""
        line = dict(PROFILES_BY_CATEGORY[visit.category].invoice_line)
        if not line:
            answer = await self.request("legit", visit.professional, "POST", "/v1/quotes", token, {
                "engagement_number": engagement, "kind": "pec", "lines": QUOTE_LINES})
            if answer.status_code == 201 and visit.delivered_after is not None and answer.json()["binding"]:
                quote = answer.json()
                lines = [{**q, "amc_claimed": out["amc"]} for q, out in zip(QUOTE_LINES, quote["lines"], strict=True)]
                self.pending.append((visit.at.date() + timedelta(days=visit.delivered_after), visit.professional,
                                     quote["number"], lines))
            return
        await self.invoice(visit.professional, token, {"engagement_number": engagement, "lines": [line]},
                           visit.at.date())

    async def invoice(self, professional: int, token: str | None, body: dict[str, Any], day: date) -> Answer:
        self.invoices += 1
        return await self.request("legit", professional, "POST", "/v1/invoices", token, {
            "invoice_number": f"SIM-{professional}-{self.invoices}-{int(time.time() * 1000) % 10**9}",
            "date_of_care": day.isoformat(), **body})

    async def deliver(self, day: date) -> None:
        """The glasses quoted on earlier days whose patients come back today: their PEC invoiced."""
        due = [p for p in self.pending if p[0] <= day]
        self.pending[:] = [p for p in self.pending if p[0] > day]
        for _, professional, pec, lines in due:
            token = self.tokens.get(professional) or await self.sign_in(professional)
            await self.invoice(professional, token, {"pec_number": pec, "lines": lines}, day)

    async def day(self, visits: list[Visit]) -> None:
        tasks = []
        for visit in visits:
            await self.sleep_until(visit.at)
            self.lateness.append((self.clock.now() - visit.at).total_seconds())
            tasks.append(asyncio.create_task(self.visit(visit)))
        await asyncio.gather(*tasks)


def wait_until_serving(base: str, seconds: float = 30.0) -> bool:
    """Poll ``base``'s trivial endpoint until it answers 200 (a server just started): False if
    it does not within ``seconds`` (the simulator, the benchmarks and the README tour's test)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False

"""Detection and containment (docs/THREATS.md T2-T4): every rights check is counted per account and
presented identity (shared by every worker through the database), assessed against the
insurer's thresholds, and contained at once when the score says so; security officers contain
and lift by hand (kill switches). Every action is written to the transparency log and raises
an alert; alerts hold ids and reasons, never personal data."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from tierspayant.audit.events import Tag
from tierspayant.detection.baselines import Baseline, over_own
from tierspayant.detection.budgets import first_day
from tierspayant.detection.signals import Action, Activity, Assessment, Reads, assess, assess_reads
from tierspayant.detection.thresholds import WINDOWS, Thresholds
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.audit import Recorder
from tierspayant.services.budgets import Admission
from tierspayant.services.errors import Contained, Forbidden, Unauthenticated
from tierspayant.services.ports import (
    Clock,
    HasAccounts,
    HasContainments,
    HasDetection,
    HasLog,
    HasPresence,
    HasReference,
    HasSessions,
    UnitOfWork,
)
from tierspayant.services.records import (
    Alert,
    Containment,
    ContainmentScope,
    Insurer,
    Presentation,
    Presented,
)
from tierspayant.services.snapshot import NOTHING, Snapshot
from tierspayant.services.watch import INSURER_PROOFLESS, learn_baselines, watch_insurers


class DetectionStore(HasSessions, HasAccounts, HasLog, HasDetection, HasContainments, HasPresence, HasReference, Protocol):
    """The ports this use case works with (services/ports/)."""

PARIS = ZoneInfo("Europe/Paris")
#: How long a process trusts its copy of the active containments: a kill switch reaches every
#: worker within this delay (docs/THREATS.md: effective in <= 60 s). Sessions and accounts are
#: revoked in the database at once, so this delay only concerns organisations and insurers.
CACHE_SECONDS = 2.0
#: How long a worker trusts its copy of an account's baseline (learned once a day).
BASELINE_CACHE = timedelta(minutes=10)

THROTTLE_MINUTES = 10
OFFICERS = (Role.SECURITY_OFFICER, Role.PLATFORM_ADMIN)
SCOPES = tuple(s.value for s in ContainmentScope)
#: detection_slots scopes of quotes and invoices (reads, signals.assess_reads): per engagement
#: and per account, by the hour; kept two hours (the current hour is the one judged).
ENGAGEMENT_READS, ACCOUNT_READS = "engagement_reads", "account_reads"
READS_KEEP = timedelta(hours=2)
#: The actor recorded for automatic decisions.
DETECTION = Principal(0, 0, Role.SECURITY_OFFICER, request_id="detection")


@dataclass(frozen=True)
class _Active:
    loaded: datetime | None  # None: to be read
    throttled: dict[int, datetime]  # account -> until
    suspended: frozenset[int]  # accounts
    organisations: frozenset[int]  # suspended (a security officer's kill switch)
    insurers: frozenset[int]
    stepped_up: frozenset[int] = frozenset()  # organisations whose every check needs a proof


def _covers(active: _Active, account_id: int, organisation_id: int | None) -> bool:
    return account_id in active.suspended or (organisation_id is not None and organisation_id in active.organisations)


class DetectionService:
    def __init__(self, uow: UnitOfWork[DetectionStore], clock: Clock, recorder: Recorder, defaults: Thresholds | None = None,
                 enabled: bool = True) -> None:
        self.uow = uow
        self.clock = clock
        self.recorder = recorder
        #: False only for benchmarks (TIERS_UNSAFE_NO_DETECTION=1): nothing counted, nothing contained.
        self.enabled = enabled
        #: The platform's thresholds; each insurer may override them (insurers.detection).
        self.defaults = defaults or Thresholds()
        self._active = _Active(None, {}, frozenset(), frozenset(), frozenset())
        self._thresholds: dict[int, tuple[object, Thresholds]] = {}
        self._baselines: dict[int, tuple[datetime, Baseline | None]] = {}
        self._learned: date | None = None  # the day whose eve was last learned into the baselines

    # -- the gate, on every authenticated request ---------------------------------------------
    def _current(self) -> _Active:
        now = self.clock.now()
        loaded = self._active.loaded
        if loaded is None or not timedelta(0) <= now - loaded < timedelta(seconds=CACHE_SECONDS):
            with self.uow(readonly=True) as tx:
                active = tx.containments.recent(active_at=now, limit=10_000)
            self._active = _Active(
                now,
                {c.target_id: c.until for c in active if c.scope == "account" and c.action == "throttle" and c.until},
                frozenset(c.target_id for c in active if c.scope == "account" and c.action != "throttle"),
                frozenset(c.target_id for c in active if c.scope == "organisation" and c.action != "step_up"),
                frozenset(c.target_id for c in active if c.scope == "insurer"),
                frozenset(c.target_id for c in active if c.scope == "organisation" and c.action == "step_up"))
        return self._active

    def admit(self, principal: Principal) -> None:
        """Raises when a containment covers this principal, on every authenticated request:
        an account or organisation suspended (whatever session it holds, old or new), or a
        throttle still running. Suspensions also revoke the sessions they find."""
        active = self._current()
        if _covers(active, principal.account_id, principal.organisation_id):
            raise Unauthenticated()
        until = active.throttled.get(principal.account_id)
        if until is not None:
            remaining = int((until - self.clock.now()).total_seconds())
            if remaining > 0:
                raise Contained("throttle", retry_after=remaining)

    def contained(self, account_id: int, organisation_id: int | None) -> bool:
        """Whether a suspension covers this account or its organisation (until an officer lifts
        it): no new session, no enrolment, no request (docs/THREATS.md T2)."""
        return _covers(self._current(), account_id, organisation_id)

    def stepped_up(self, organisation_id: int) -> bool:
        """Whether the organisation is stepped up: its proof-less checks are refused until the
        step-up lapses or an officer lifts it (docs/THREATS.md, "Containment that hits the attacker")."""
        return self.enabled and organisation_id in self._current().stepped_up

    def check_insurer_route(self, insurer_id: int) -> None:
        if insurer_id in self._current().insurers:
            raise Contained("insurer", retry_after=60)

    def thresholds(self, insurer: Insurer | None) -> Thresholds:
        """The insurer's thresholds (its overrides on the platform's), parsed once per insurer
        record: reference data is cached, so the same record comes back on every check."""
        config = insurer.detection if insurer else None
        if not config:
            return self.defaults
        assert insurer is not None
        cached = self._thresholds.get(insurer.id)
        if cached is None or cached[0] is not config:
            cached = self._thresholds[insurer.id] = (config, Thresholds.from_config(config, self.defaults))
        return cached[1]

    # -- counting: read with the check's lookups, written and assessed with its write ---------
    def snapshot(self, tx: DetectionStore, principal: Principal, at: datetime, subject: str,
                 neighbourhood: str) -> Snapshot:
        """What the account (and its organisation) did recently, read outside the write lock:
        a few bounded reads, whatever the account's history (detection/counting.py)."""
        if not self.enabled:
            return NOTHING
        # Windows bounded on both sides, on the injected clock: a counter dated in the future
        # (a worker's clock ahead) counts in no window (issue 13, point 5).
        (account, org), recent, seen = tx.detection.recent(principal.account_id, principal.organisation_id, subject,
                                                           neighbourhood, at)
        return Snapshot(account, org, recent, seen, self._baseline(tx, principal.account_id, at))

    def _baseline(self, tx: DetectionStore, account_id: int, at: datetime) -> Baseline | None:
        """The account's baseline, read at most every BASELINE_CACHE per worker: it changes once a day."""
        cached = self._baselines.get(account_id)
        if cached is None or not timedelta(0) <= at - cached[0] < BASELINE_CACHE:
            if len(self._baselines) > 100_000:
                self._baselines.clear()
            cached = self._baselines[account_id] = (at, tx.detection.baseline(account_id))
        return cached[1]

    def count_proofless(self, tx: DetectionStore, insurer_id: int, at: datetime) -> None:
        """One more proof-less new patient for the insurer's hourly volume (``watch``)."""
        if self.enabled:
            tx.detection.bump(INSURER_PROOFLESS, insurer_id, at)

    # -- on the housekeeping beat: baselines learned, insurer-wide volumes watched ------------
    def watch(self) -> list[str]:
        """Learn yesterday into the accounts' baselines (once a day per worker) and alert on the
        insurers whose proof-less volume this hour is far above their usual (services/watch.py).
        Returns the alerts raised."""
        if not self.enabled:
            return []
        now = self.clock.now()
        today = now.astimezone(PARIS).date()
        if self._learned != today:
            learn_baselines(self.uow, today - timedelta(days=1))
            self._learned = today
        return watch_insurers(self.uow, self.thresholds, now)

    def observe(self, tx: DetectionStore, principal: Principal, insurer: Insurer | None, subject: str,
                neighbourhood: str, outcome: Presentation, at: datetime, snapshot: Snapshot,
                admission: Admission | None = None) -> Action:
        """Count this check, assess the account with it, apply the decision in the same
        transaction. Returns the action taken on this check's account (the caller refuses the
        request from STEP_UP up); an organisation that trips contains its driving accounts and
        steps up the others, whichever account's check crossed the line."""
        if not self.enabled:
            return Action.NONE
        presented = Presented(at, principal.account_id, principal.session_id, principal.organisation_id,
                              subject, neighbourhood, outcome)
        mine, theirs = tx.detection.record_presented(presented)
        thresholds = self.thresholds(insurer)
        counted = snapshot.with_check(presented, mine, theirs)
        activity = self.activity(counted, at, admission, thresholds, principal.novel)
        result = assess(activity, thresholds)
        if result.action >= Action.SUSPEND_ACCOUNT and principal.organisation_id is not None:
            contained = tx.containments.contained_accounts_of_organisation(principal.organisation_id, at - timedelta(days=1))
            result = assess(replace(activity, organisation_contained_accounts=contained), thresholds)
        if result.action is not Action.NONE:
            self._apply(tx, principal, result, at)
        action = result.action
        if result.organisation and principal.organisation_id is not None:
            drivers = self._trip_organisation(tx, principal.organisation_id, result.organisation, thresholds, at)
            if principal.account_id in drivers:
                action = max(action, Action.SUSPEND_ACCOUNT)
        return action

    def observe_read(self, tx: DetectionStore, principal: Principal, insurer: Insurer | None, engagement_id: int,
                     at: datetime) -> Action:
        """Count a quote or an invoice (a read of the engagement's patient) and apply the
        decision in the same transaction; the caller then refuses with ``refuse`` when the
        action is not NONE, after committing (docs/THREATS.md, "Quotes and invoices are reads")."""
        if not self.enabled:
            return Action.NONE
        t = self.thresholds(insurer)
        learned = self._baseline(tx, principal.account_id, at)
        hour = at.astimezone(PARIS).hour
        reads = Reads(tx.detection.bump(ENGAGEMENT_READS, engagement_id, at),
                      tx.detection.bump(ACCOUNT_READS, principal.account_id, at), hour,
                      learned.usual_hour(hour) if learned and learned.days >= t.own_min_days else None,
                      principal.novel)
        result = assess_reads(reads, t)
        if result.action is not Action.NONE:
            self._apply(tx, principal, result, at)
        return result.action

    @staticmethod
    def refuse(action: Action) -> None:
        """Raise what a request whose check or read was just contained answers: a throttle's
        429 with its delay, or the opaque 401 of a session that was just ended."""
        if action is Action.THROTTLE:
            raise Contained("throttle", retry_after=THROTTLE_MINUTES * 60)
        if action is not Action.NONE:
            raise Unauthenticated()

    def _trip_organisation(self, tx: DetectionStore, organisation_id: int, reasons: tuple[str, ...],
                           t: Thresholds, at: datetime) -> list[int]:
        """Contain the accounts that drove the organisation's counts (their proof-less checks of
        the 30 days, almost never invoiced nor quoted) and step the others up: every check needs the patient's proof and a
        fresh passkey sign-in (their sessions end). Once per step-up; the alert says who."""
        active = tx.containments.recent(active_at=at, limit=10_000)
        if any(c.scope == "organisation" and c.target_id == organisation_id for c in active):
            return []
        suspended = {c.target_id for c in active if c.scope == "account" and c.action == "suspend"}
        day = at.astimezone(PARIS).date()
        drivers = tx.presence.driving_accounts(organisation_id, first_day(day), day, t.driver_min)
        why = ",".join(reasons)
        for account_id in drivers:
            if account_id not in suspended:
                self._contain(tx, DETECTION, ContainmentScope.ACCOUNT, account_id, "suspend",
                              f"drove_organisation:{why}", at)
        others = [a.id for a in tx.accounts.accounts_of_organisation(organisation_id) if a.id not in drivers]
        for account_id in others:
            tx.sessions.revoke_sessions_of(account_id)
        self._contain(tx, DETECTION, ContainmentScope.ORGANISATION, organisation_id, "step_up",
                      f"{why}; contained accounts {drivers or 'none'}; stepped up {len(others)} account(s)", at,
                      until=at + timedelta(hours=t.organisation_step_up_hours))
        return drivers

    def forget_old(self) -> int:
        """Drop the per-identity counters last seen before the longest window (a day) and the
        proof-less budgets' memories and counters older than theirs (30 days)."""
        now = self.clock.now()
        with self.uow() as tx:
            return (tx.detection.purge_seen(now - timedelta(seconds=WINDOWS[-1]))
                    + sum(tx.detection.purge_hourly(scope, now - READS_KEEP) for scope in (ENGAGEMENT_READS, ACCOUNT_READS))
                    + tx.presence.purge_proofless(first_day(now.astimezone(PARIS).date())))

    @staticmethod
    def activity(snapshot: Snapshot, at: datetime, admission: Admission | None = None,
                 t: Thresholds | None = None, novel: tuple[str, ...] = ()) -> Activity:
        """The assessment's input; with ``t``, the account's own baseline is judged too;
        ``novel``: what is new about the session (security/novelty.py)."""
        recent = snapshot.recent
        hour = at.astimezone(PARIS).hour
        learned = snapshot.baseline if t and snapshot.baseline and snapshot.baseline.days >= t.own_min_days else None
        return Activity(
            account_distinct=snapshot.account,  # type: ignore[arg-type]
            organisation_distinct=snapshot.organisation,  # type: ignore[arg-type]
            attempts_10min=recent.identities_10min,
            failures_10min=recent.failed_10min,
            # guessing one identity's birth date re-presents it: its own counters hold the count
            same_identity_failures=max(recent.most_failures_hour, snapshot.subject.failures if snapshot.subject else 0),
            quota_refusals_1h=recent.refusals_hour,
            sequential_neighbours_1h=recent.my_neighbours_hour,
            local_hour=hour,
            budget_spent=admission.spent if admission else None,
            over_own=over_own(learned, snapshot.account[2], snapshot.account[3], t.own_min_days, t.own_factor,
                              t.own_hour_floor, t.own_day_floor) if learned and t else (),
            usual_hour=learned.usual_hour(hour) if learned else None,
            novel=novel,
        )

    def _apply(self, tx: DetectionStore, principal: Principal, result: Assessment, at: datetime) -> None:
        # Checks already in flight when a containment was decided reach here too: one
        # containment (and one alert) per target, not one per check.
        active = {(c.scope, c.target_id, c.action) for c in tx.containments.recent(active_at=at, limit=10_000)}
        if ("account", principal.account_id, "suspend") in active or (
                result.action <= Action.STEP_UP and ("session", principal.session_id, "step_up") in active):
            return
        reasons = ",".join(result.reasons)
        if result.action is Action.THROTTLE:
            self._contain(tx, DETECTION, ContainmentScope.ACCOUNT, principal.account_id, "throttle", reasons, at,
                          until=at + timedelta(minutes=THROTTLE_MINUTES))
        elif result.action is Action.STEP_UP:
            self._contain(tx, DETECTION, ContainmentScope.SESSION, principal.session_id, "step_up", reasons, at)
        elif result.action >= Action.SUSPEND_ACCOUNT:
            self._contain(tx, DETECTION, ContainmentScope.ACCOUNT, principal.account_id, "suspend", reasons, at)

    def _contain(self, tx: DetectionStore, actor: Principal, scope: ContainmentScope, target_id: int, action: str, reasons: str,
                 at: datetime, until: datetime | None = None) -> Containment:
        containment = Containment(0, scope, target_id, action, reasons, at,
                                  actor.account_id if actor is not DETECTION else None, until)
        containment = replace(containment, id=tx.containments.add_containment(containment))
        if scope == "session":
            tx.sessions.revoke_session(target_id)
        elif scope == "account" and action == "suspend":
            tx.sessions.revoke_sessions_of(target_id)
        who = "detection" if actor is DETECTION else f"officer account {actor.account_id}"
        severity = "high" if action == "suspend" or scope in ("organisation", "insurer") else "medium"
        tx.containments.add_alert(at, severity, containment.id, f"{who}: {action} {scope} {target_id} ({reasons})")
        tx.log.append_events([self.recorder.event(
            actor, at, Tag.CONTAINMENT, categories=(), purpose=f"containment: {action} {scope} ({reasons})",
            insurer_id=target_id if scope == "insurer" else None, ref=f"containment:{containment.id}:{scope}:{target_id}")])
        # This process at once (others within CACHE_SECONDS): a suspension just decided must
        # hold for a sign-in that comes a moment later.
        self._active = replace(self._active, loaded=None)
        return containment

    # -- kill switches (security officers) ------------------------------------------------------
    def contain(self, officer: Principal, scope: str, target_id: int, reason: str,
                minutes: int | None = None) -> Containment:
        if officer.role not in OFFICERS:
            raise Forbidden()
        try:
            contained = ContainmentScope(scope)
        except ValueError:
            raise NotFound() from None
        at = self.clock.now()
        until = at + timedelta(minutes=minutes) if minutes else None
        with self.uow() as tx:
            return self._contain(tx, officer, contained, target_id, "suspend", f"manual:{reason}", at, until)

    def lift(self, officer: Principal, containment_id: int) -> None:
        if officer.role not in OFFICERS:
            raise Forbidden()
        at = self.clock.now()
        with self.uow() as tx:
            if not tx.containments.lift_containment(containment_id, officer.account_id, at):
                raise NotFound()
            tx.containments.add_alert(at, "info", containment_id, f"officer account {officer.account_id}: lifted")
            tx.log.append_events([self.recorder.event(
                officer, at, Tag.CONTAINMENT_LIFT, categories=(), purpose="containment lifted",
                ref=f"containment:{containment_id}")])
        self._active = replace(self._active, loaded=None)

    def containments(self, officer: Principal, active_only: bool = False, limit: int = 200) -> list[Containment]:
        """Newest first, at most ``limit``."""
        if officer.role not in OFFICERS:
            raise Forbidden()
        with self.uow(readonly=True) as tx:
            return tx.containments.recent(active_at=self.clock.now() if active_only else None, limit=limit)

    def alerts(self, officer: Principal) -> list[Alert]:
        if officer.role not in OFFICERS:
            raise Forbidden()
        with self.uow(readonly=True) as tx:
            return tx.containments.alerts()

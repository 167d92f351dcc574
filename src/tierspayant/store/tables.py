"""The schema. Every insurer's data carries ``insurer_id``: each insurer is a tenant, and every
query of personal data filters on it (docs/THREATS.md, authorisation)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from tierspayant.store.types import Cents, UtcDateTime

#: The access events of key management (audit/events.py: Tag.KEY_*).
KEY_EVENTS = "tag LIKE 'keys:%'"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

insurers = Table(
    "insurers", metadata,
    Column("id", Integer, primary_key=True),
    Column("amc_number", String(9), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("engagement_validity_days", Integer, nullable=False, default=30),
    Column("pec_validity_days", Integer, nullable=False, default=180),
    #: Distinct patients an account may check per day without a presence proof (docs/THREATS.md T2).
    Column("proofless_daily_quota", Integer, nullable=False, default=20, server_default="20"),
    #: Detection thresholds overriding the defaults (detection/thresholds.py), or NULL.
    Column("detection", JSON, nullable=True),
    #: Breach response (services/incidents.py): the number printed on the members' cards (the
    #: only one a notice may give, breach/lint.py), the DPO's contact for the CNIL's form, and
    #: the X25519 public key the controller's exports are encrypted to (base64), or NULL.
    Column("phone", String(30), nullable=True),
    Column("dpo_contact", String(200), nullable=True),
    Column("export_public_key", String(64), nullable=True),
    #: Manual review: {"sampling_rate": "0.10", "amc_above": "500.00"} (domain/review.py), or NULL.
    Column("review", JSON, nullable=True),
)

contracts = Table(
    "contracts", metadata,
    Column("id", Integer, primary_key=True),
    Column("insurer_id", ForeignKey("insurers.id"), nullable=False),
    Column("code", String(40), nullable=False),
    Column("config", JSON, nullable=False),
    UniqueConstraint("insurer_id", "code", name="uq_contracts_insurer_code"),
)

beneficiaries = Table(
    "beneficiaries", metadata,
    Column("id", Integer, primary_key=True),
    Column("insurer_id", ForeignKey("insurers.id"), nullable=False),
    Column("contract_id", ForeignKey("contracts.id"), nullable=False),
    Column("rank", Integer, nullable=False),  # 0 = the member, 1.. = dependants
    # Identity fields are encrypted (store/protection.py, docs/THREATS.md T5): AES-256-GCM envelopes
    # bound to (insurer, table, column, row id); NIR and member number are found through keyed
    # blind indexes, never stored in clear nor as a plain hash.
    Column("nir_bidx", String(32), nullable=False),
    Column("member_bidx", String(32), nullable=False),
    Column("nir_enc", Text, nullable=False),
    Column("member_enc", Text, nullable=False),
    Column("birth_date_enc", Text, nullable=False),
    Column("last_name_enc", Text, nullable=False),
    Column("first_name_enc", Text, nullable=False),
    Index("ix_beneficiaries_nir", "insurer_id", "nir_bidx"),
    Index("ix_beneficiaries_member", "insurer_id", "member_bidx"),
)

# Per-insurer data keys, each version wrapped by the key-encryption key (kept outside the
# database). Deleting an insurer's rows here crypto-shreds its data.
data_keys = Table(
    "data_keys", metadata,
    Column("insurer_id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("wrapped", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

rights_periods = Table(
    "rights_periods", metadata,
    Column("id", Integer, primary_key=True),
    Column("beneficiary_id", ForeignKey("beneficiaries.id"), nullable=False, index=True),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=True),
    Column("categories", String(100), nullable=False),  # comma-separated CareCategory values
    # The period's own contract (a contract change at a date splits the period); NULL: the beneficiary's.
    Column("contract_id", ForeignKey("contracts.id"), nullable=True),
)

optical_purchases = Table(
    "optical_purchases", metadata,
    Column("id", Integer, primary_key=True),
    Column("beneficiary_id", ForeignKey("beneficiaries.id"), nullable=False, index=True),
    Column("insurer_id", Integer, nullable=False),  # whose key seals the delivery date
    Column("delivered_enc", Text, nullable=False),  # encrypted (store/protection.py)
    Column("invoice_id", Integer, nullable=True),
    # equipment | frame | lenses: each element has its own renewal period (domain/renewal.py)
    Column("parts", String(10), nullable=False, server_default="equipment"),
)

organisations = Table(
    "organisations", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(10), nullable=False),  # FINESS or SIRET
    Column("identifier", String(14), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
)

professionals = Table(
    "professionals", metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False, index=True),
    Column("rpps", String(11), nullable=True, unique=True),
    Column("adeli", String(9), nullable=True),
    Column("am_number", String(9), nullable=False),
    Column("profession", String(30), nullable=False),
    Column("name_enc", Text, nullable=False),  # encrypted with the platform's key
    Column("iban_enc", Text, nullable=False),  # encrypted with the platform's key
    Column("bic", String(11), nullable=False),
    Column("optam", Boolean, nullable=False, default=True),
    Column("sector", String(1), nullable=True),  # doctors: "1" or "2" (domain/tariffs.py)
    Column("speciality", String(30), nullable=True),  # doctors: domain/tariffs.py Speciality
)

# Care networks (services/networks.py, docs/DOMAIN.md "Care networks"): managed by the
# insurers they serve; memberships and price caps are dated (bounds included, valid_to NULL:
# in force), so a professional may leave and rejoin and a cap may change at a date.
networks = Table(
    "networks", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),  # its name in URLs (domain/networks.py)
    Column("name", String(200), nullable=False, unique=True),
)

network_insurers = Table(
    "network_insurers", metadata,
    Column("network_id", ForeignKey("networks.id"), primary_key=True),
    Column("insurer_id", ForeignKey("insurers.id"), primary_key=True),
)

network_members = Table(
    "network_members", metadata,
    Column("network_id", ForeignKey("networks.id"), primary_key=True),
    Column("professional_id", ForeignKey("professionals.id"), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("valid_to", Date, nullable=True),
    Index("ix_network_members_professional", "professional_id"),  # a quote's caps (store/reference.py)
)

network_price_caps = Table(
    "network_price_caps", metadata,
    Column("network_id", ForeignKey("networks.id"), primary_key=True),
    Column("code", String(20), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("valid_to", Date, nullable=True),
    Column("cap", Cents, nullable=False),
)

reference_codes = Table(
    "reference_codes", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(20), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("label", String(200), nullable=False),
    Column("br", Cents, nullable=False),
    Column("amo_rate", Numeric(5, 4, asdecimal=True), nullable=False),
    Column("amo_rate_out_of_pathway", Numeric(5, 4, asdecimal=True), nullable=True),
    Column("optical_class", String(1), nullable=True),
    Column("plv", Cents, nullable=True),
    Column("br_non_optam", Cents, nullable=True),  # sector 2 outside OPTAM, where it differs
    Column("age_from", Integer, nullable=True),  # codes for an age range (LPP child codes)
    Column("age_below", Integer, nullable=True),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
)

engagements = Table(
    "engagements", metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(24), nullable=False, unique=True),
    Column("insurer_id", ForeignKey("insurers.id"), nullable=False),
    Column("beneficiary_id", ForeignKey("beneficiaries.id"), nullable=False),
    Column("professional_id", ForeignKey("professionals.id"), nullable=False),
    Column("category", String(20), nullable=False),
    Column("date_of_care", Date, nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

quotes = Table(
    "quotes", metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(24), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # simulation | pec
    Column("insurer_id", ForeignKey("insurers.id"), nullable=False),
    Column("beneficiary_id", ForeignKey("beneficiaries.id"), nullable=False),
    Column("professional_id", ForeignKey("professionals.id"), nullable=False),
    Column("engagement_id", ForeignKey("engagements.id"), nullable=False),
    Column("date_of_care", Date, nullable=False),
    Column("result_enc", Text, nullable=False),  # encrypted: lines, prescription, amounts
    Column("amc_total", Cents, nullable=False),
    Column("valid_until", Date, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_quotes_professional_list", "professional_id", "id"),
    Index("ix_quotes_professional_care", "professional_id", "date_of_care", "id"),
)

payment_runs = Table(
    "payment_runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("insurer_id", ForeignKey("insurers.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("order_count", Integer, nullable=False, default=0),
    Column("total", Cents, nullable=False, default=0),
    Column("sepa_xml_enc", Text, nullable=True),  # encrypted: names and IBANs
    Index("ix_payment_runs_insurer_list", "insurer_id", "id"),
)

payment_orders = Table(
    "payment_orders", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("payment_runs.id"), nullable=False, index=True),
    Column("insurer_id", Integer, nullable=False),
    Column("professional_id", ForeignKey("professionals.id"), nullable=False, index=True),
    Column("amount", Cents, nullable=False),
    Column("end_to_end_id", String(35), nullable=False, unique=True),
    Column("statement_enc", Text, nullable=False),  # encrypted: names, invoices
)

invoices = Table(
    "invoices", metadata,
    Column("id", Integer, primary_key=True),
    Column("insurer_id", ForeignKey("insurers.id"), nullable=False),
    Column("professional_id", ForeignKey("professionals.id"), nullable=False),
    Column("invoice_number", String(30), nullable=False),
    Column("beneficiary_id", ForeignKey("beneficiaries.id"), nullable=False),
    Column("engagement_id", ForeignKey("engagements.id"), nullable=False),
    Column("quote_id", ForeignKey("quotes.id"), nullable=True),
    Column("date_of_care", Date, nullable=False),
    Column("category", String(20), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # same request -> same invoice
    Column("care_key", String(64), nullable=False),  # beneficiary + date + codes: duplicates
    Column("lines_enc", Text, nullable=False),  # encrypted: what was delivered
    Column("claimed_amc", Cents, nullable=False),
    Column("approved_amc", Cents, nullable=False),
    Column("status", String(30), nullable=False),
    Column("findings_enc", Text, nullable=False),  # encrypted
    Column("payment_order_id", ForeignKey("payment_orders.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Manual review (domain/review.py) and withdrawal (services/claims.py): why it waits, the
    # operator's decision and who took it, the invoice a replacement corrects, the last change.
    Column("review_reason", String(4), nullable=True),
    Column("review_decision", String(4), nullable=True),
    Column("reviewed_by", Integer, nullable=True),
    Column("replaces_id", ForeignKey("invoices.id"), nullable=True),
    Column("changed_at", UtcDateTime, nullable=True),
    UniqueConstraint("professional_id", "invoice_number", name="uq_invoices_professional_number"),
    Index("ix_invoices_payable", "insurer_id", "status", "payment_order_id"),
    Index("ix_invoices_care_key", "care_key"),
    # Lists (store/lists.py): each page one range of one of these, in keyset order.
    Index("ix_invoices_professional_list", "professional_id", "id"),
    Index("ix_invoices_professional_care", "professional_id", "date_of_care", "id"),
    Index("ix_invoices_insurer_list", "insurer_id", "id"),
    Index("ix_invoices_insurer_status", "insurer_id", "status", "id"),
    Index("ix_invoices_insurer_care", "insurer_id", "date_of_care", "id"),
)

accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("totp_secret", String(64), nullable=False),
    Column("totp_last_step", BigInteger, nullable=False, default=0),
    Column("role", String(30), nullable=False),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=True),
    Column("professional_id", ForeignKey("professionals.id"), nullable=True),
    Column("insurer_id", ForeignKey("insurers.id"), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
)

sessions = Table(
    "sessions", metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    #: How the session was authenticated (docs/THREATS.md: data routes need a phishing-resistant one).
    Column("aal", String(20), nullable=False, default="password_totp", server_default="password_totp"),
    #: What was new at sign-in (security/novelty.py) and the keyed fingerprint of the network.
    Column("novelty", Integer, nullable=False, default=0, server_default="0"),
    Column("network", String(40), nullable=True),
    #: Pro Santé Connect sessions: the means of authentication (``authMode``: CARD, MOBILE).
    Column("auth_means", String(20), nullable=True),
)

# The devices (passkey credentials) and networks each account has signed in from, keyed
# fingerprints only (security/novelty.py); a session from one never seen is a weak signal.
account_fingerprints = Table(
    "account_fingerprints", metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(10), primary_key=True),  # device | network
    Column("fingerprint", String(40), primary_key=True),
    Column("first_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
)

# -- transparency log (RFC 9162) ------------------------------------------------------------
# audit_head holds the tree size: appenders increment it under a row lock, which gives every
# event a contiguous index (its leaf index) even with concurrent writers.
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
)

# On SQLite one table, as declared here. On PostgreSQL (migration 0026, store/log_partitions.py)
# a table partitioned by RANGE (at), one partition a month and a DEFAULT one: a unique index on
# seq in each partition (a unique index of a partitioned table must hold the partition key; the
# leaf indexes stay unique across partitions by construction, audit_head's row lock, and the
# verifier refuses a repeated one), and the indexes below on the parent, partition-local: the
# beneficiary's a hash index (a third of the b-tree's size, equality is all it serves).
audit_events = Table(
    "audit_events", metadata,
    # Leaf index, from 0. On SQLite an INTEGER PRIMARY KEY is the rowid itself: one b-tree less
    # to update per event (measured: the access log's cost on the rights check, bench/).
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("tag", String(40), nullable=False),
    Column("account_id", Integer, nullable=True),
    Column("organisation_id", Integer, nullable=True),
    Column("beneficiary", String(40), nullable=True),
    Column("insurer_id", Integer, nullable=True),
    # Canonical JSON: the Merkle leaf entry. Its leaf hash, H(0x00 || entry) (RFC 9162 §2.1.1),
    # is computed when read, not stored (66 bytes an event, a tenth of the log: migration 0026).
    Column("entry", Text, nullable=False),
    Index("ix_audit_events_beneficiary", "beneficiary", "seq"),
    Index("ix_audit_events_account", "account_id", "at"),
    Index("ix_audit_events_organisation", "organisation_id", "at"),
    # Key operations (services/keys.py) by owner: a partial index, so the rights check's events
    # (never keys:*) do not pay for it.
    Index("ix_audit_events_keys", "insurer_id", "seq", sqlite_where=text(KEY_EVENTS),
          postgresql_where=text(KEY_EVENTS)),
)

# Hashes of perfect subtrees of 2**level leaves (level >= 1) starting at leaf idx * 2**level,
# filled at checkpoint time: any proof then costs O(log n) lookups.
audit_nodes = Table(
    "audit_nodes", metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("note", Text, nullable=False),
)

# Events moved out of the database (tiers audit archive): the leaves [seq_from, seq_to), in
# compressed files under var/archive with their SHA-256; restored from them (tiers audit restore).
audit_archives = Table(
    "audit_archives", metadata,
    Column("id", Integer, primary_key=True),
    Column("seq_from", BigInteger, nullable=False),
    Column("seq_to", BigInteger, nullable=False),
    Column("before", UtcDateTime, nullable=False),  # the months archived: every partition before it
    # The latest date of an event archived (a few dated after ``before`` may go with them: those
    # a group commit sequenced before the month's last); from it on, every event is held.
    Column("last_at", UtcDateTime, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("files", Text, nullable=False),  # JSON: [{partition, lower, upper, file, sha256, events}]
    Column("archived_at", UtcDateTime, nullable=False),
    Column("restored_at", UtcDateTime, nullable=True),
)

audit_cosignatures = Table(
    "audit_cosignatures", metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False, index=True),
    Column("witness", String(100), nullable=False),
    Column("signature_line", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# -- presence proofs and the proof-less quota (docs/THREATS.md T2) ------------------------------
presence_uses = Table(
    "presence_uses", metadata,
    Column("nonce", String(64), primary_key=True),  # a proof is consumed once
    Column("professional_id", Integer, nullable=False),
    Column("used_at", UtcDateTime, nullable=False),
)

# Proof-less budgets over time (detection/budgets.py): who each holder (an account or an
# organisation) already checked without a proof, and per-(holder, day) counters.
proofless_seen = Table(
    "proofless_seen", metadata,
    Column("scope", String(20), primary_key=True),  # account | organisation
    Column("holder_id", Integer, primary_key=True, autoincrement=False),
    Column("subject", String(40), primary_key=True),  # keyed hash of what was presented
    Column("last_day", Date, nullable=False),
)

proofless_days = Table(
    "proofless_days", metadata,
    Column("scope", String(20), primary_key=True),
    Column("holder_id", Integer, primary_key=True, autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("organisation_id", Integer, nullable=True),  # an account's: its organisation (drivers)
    Column("admitted", Integer, nullable=False),  # new proof-less patients
    Column("followed", Integer, nullable=False),  # of which followed by an invoice
    Column("quoted", Integer, nullable=False),  # of which quoted (a PEC) and not invoiced yet
    Index("ix_proofless_days_organisation", "organisation_id", "day"),
)

# The engagements a proof-less admission produced, until a quote or an invoice follows them.
proofless_engagements = Table(
    "proofless_engagements", metadata,
    Column("engagement_id", Integer, primary_key=True, autoincrement=False),
    Column("account_id", Integer, nullable=False),
    Column("organisation_id", Integer, nullable=True),  # None: not new for the organisation
    Column("day", Date, nullable=False),
    Column("quoted", Boolean, nullable=False),  # a PEC was requested from it
)

# -- passkeys (WebAuthn) ---------------------------------------------------------------------
passkeys = Table(
    "passkeys", metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("credential_id", String(200), nullable=False, unique=True),
    Column("public_key", Text, nullable=False),  # COSE key, base64
    Column("sign_count", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

# One-time enrolment codes, issued out of band by the organisation's admin; stored hashed.
enrolment_codes = Table(
    "enrolment_codes", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
)

# WebAuthn challenges: server-side, single use, short-lived.
webauthn_challenges = Table(
    "webauthn_challenges", metadata,
    Column("challenge_hash", String(64), primary_key=True),
    Column("purpose", String(20), nullable=False),  # register | authenticate
    Column("account_id", Integer, nullable=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
)

# Sign-in failures (docs/THREATS.md T4): per account name and per source, kept apart.
signin_failures = Table(
    "signin_failures", metadata,
    Column("key", String(80), primary_key=True),  # "account:<keyed hash>" or "source:<address>"
    Column("failures", Integer, nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("last_failure", UtcDateTime, nullable=False),
)

# Bank details changes (docs/THREATS.md T7): step-up, a delay, a notice on a known channel.
bank_detail_changes = Table(
    "bank_detail_changes", metadata,
    Column("id", Integer, primary_key=True),
    Column("professional_id", ForeignKey("professionals.id"), nullable=False, index=True),
    Column("iban_enc", Text, nullable=False),  # encrypted with the platform's key
    Column("bic", String(11), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("effective_at", UtcDateTime, nullable=False),
    Column("requested_by", Integer, nullable=False),  # account
    Column("cancelled", Boolean, nullable=False, default=False),
    Column("applied", Boolean, nullable=False, default=False),
)

# Notices to send on a professional's registered channel (delivered by the outbox, later).
notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True),
    Column("professional_id", ForeignKey("professionals.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
)

# Pending OpenID Connect sign-ins: state -> nonce and PKCE verifier, single use, short-lived.
oidc_states = Table(
    "oidc_states", metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("nonce", String(80), nullable=False),
    Column("verifier", String(100), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
)

# -- detection and containment (docs/THREATS.md T2-T4) ------------------------------------------
# Per account, per presented identity (keyed pseudonym of (AMC, NIR), never a NIR): when it was
# first and last presented and with what outcomes. One upsert per rights check; an account's
# rows are as many as the distinct patients it presented in a day (purged after), so reading
# them costs the same for a scraper as for anyone. Shared by every worker.
detection_seen = Table(
    "detection_seen", metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("subject", String(40), primary_key=True),
    Column("organisation_id", Integer, nullable=True),
    Column("session_id", Integer, nullable=False),  # the last session that presented it
    Column("neighbourhood", String(40), nullable=False),  # keyed hash of (AMC, NIR[:10])
    Column("first_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    Column("previous_at", UtcDateTime, nullable=True),  # the presentation before last_at's (None: none)
    Column("attempts", Integer, nullable=False),
    Column("hits", Integer, nullable=False),  # matched (covered or not)
    Column("failures", Integer, nullable=False),  # matched nobody
    Column("refusals", Integer, nullable=False),  # refused: no presence proof, quota reached
    Index("ix_detection_seen_account", "account_id", "last_at"),
    Index("ix_detection_seen_organisation", "organisation_id", "last_at"),
)

# An organisation's memory of what its accounts presented (its distinct counts' slots move with it).
detection_org_seen = Table(
    "detection_org_seen", metadata,
    Column("organisation_id", Integer, primary_key=True, autoincrement=False),
    Column("subject", String(40), primary_key=True),
    Column("last_at", UtcDateTime, nullable=False),
    Column("previous_at", UtcDateTime, nullable=True),
    Index("ix_detection_org_seen_last_at", "last_at"),
)

# Distinct counts over sliding windows as counters (detection/counting.py): how many identities
# a holder presented last within each slot.
detection_slots = Table(
    "detection_slots", metadata,
    Column("scope", String(20), primary_key=True),  # account | organisation
    Column("holder_id", Integer, primary_key=True, autoincrement=False),
    Column("width", Integer, primary_key=True, autoincrement=False),  # seconds
    Column("slot", BigInteger, primary_key=True, autoincrement=False),  # epoch seconds // width
    Column("count", Integer, nullable=False),
)

# What each account usually does on a working day (detection/baselines.py), learned once a day.
detection_baselines = Table(
    "detection_baselines", metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("days", Integer, nullable=False),
    Column("day_mean", Float, nullable=False),
    Column("peak_hour_mean", Float, nullable=False),
    Column("hours", Integer, nullable=False),  # bit h: worked in local hour h
    Column("learned_through", Date, nullable=False),
)

# Containment decisions, automatic or by a security officer; lifted by a security officer.
containments = Table(
    "containments", metadata,
    Column("id", Integer, primary_key=True),
    Column("scope", String(20), nullable=False),  # session | account | organisation | insurer
    Column("target_id", Integer, nullable=False),
    Column("action", String(30), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Integer, nullable=True),  # account of the officer; None: detection
    Column("until", UtcDateTime, nullable=True),  # None: until lifted
    Column("lifted_at", UtcDateTime, nullable=True),
    Column("lifted_by", Integer, nullable=True),
    Index("ix_containments_active", "lifted_at", "scope", "target_id"),
)

alerts = Table(
    "alerts", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("severity", String(10), nullable=False),
    Column("containment_id", Integer, nullable=True),
    Column("text", Text, nullable=False),  # never personal data: ids and reasons only
    Column("acknowledged", Boolean, nullable=False, default=False),
)

#: Crypto-shreds awaiting a second security officer (dual control; services/keys.py).
shred_requests = Table(
    "shred_requests", metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", Integer, nullable=False),  # the insurer's id (0: the platform's key)
    Column("requested_by", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("approved_by", Integer, nullable=True),
    Column("approved_at", UtcDateTime, nullable=True),
)


# -- breach response (docs/THREATS.md, "Breach response"; services/incidents.py) ---------------
# An incident: what is compromised, the window, when the operator became aware (Art. 33's 72 h
# run from there), its current step; the scope once computed (pseudonyms and row ids, never an
# identity) with its digest and the signed checkpoint it was proved against.
incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("opened_by", Integer, nullable=False),  # account
    Column("aware_at", UtcDateTime, nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    Column("summary", Text, nullable=False),
    Column("compromised", JSON, nullable=False),
    Column("step", String(30), nullable=False),
    Column("scope", Text, nullable=True),
    Column("scope_digest", String(64), nullable=True),
    Column("scope_checkpoint", BigInteger, nullable=True),
)

# Every step taken, by whom (append-only; also on the transparency log).
incident_steps = Table(
    "incident_steps", metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False, index=True),
    Column("step", String(30), nullable=False),
    Column("insurer_id", Integer, nullable=True),  # a controller's own step (its CNIL notification)
    Column("by_account", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("note", Text, nullable=False),
)

# Art. 33 reports and the processor's notices to controllers, versioned (Art. 33(4): phased).
incident_reports = Table(
    "incident_reports", metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("insurer_id", Integer, nullable=False),
    Column("kind", String(30), nullable=False),  # processor_notice | art33
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    UniqueConstraint("incident_id", "insurer_id", "kind", "version"),
)

# A controller's list of its people, encrypted to its public key: requested by one officer,
# approved by another (dual control), downloadable once, expiring.
incident_exports = Table(
    "incident_exports", metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("insurer_id", Integer, nullable=False),
    Column("requested_by", Integer, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("approved_by", Integer, nullable=True),
    Column("approved_at", UtcDateTime, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("downloaded_at", UtcDateTime, nullable=True),
    Column("sealed", Text, nullable=True),
)

# Art. 34 notices, linted before they are queued here (the outbox; delivered by another part).
breach_notices = Table(
    "breach_notices", metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("insurer_id", Integer, nullable=False),
    Column("person", String(40), nullable=False),  # the beneficiary's pseudonym
    Column("channel", String(10), nullable=False),  # letter | email | sms
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    UniqueConstraint("incident_id", "person", "channel"),
)


# Membership files (services/members.py): one row per file and insurer, its progress committed
# with each batch (an interrupted import resumes after the last batch it committed), and the
# refused lines by number and field (no value: no personal data in the report).
member_imports = Table(
    "member_imports", metadata,
    Column("id", Integer, primary_key=True),
    Column("insurer_id", ForeignKey("insurers.id"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("lines_done", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("refused", Integer, nullable=False, default=0),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_member_imports_file", "insurer_id", "digest"),
)

member_import_refusals = Table(
    "member_import_refusals", metadata,
    Column("import_id", ForeignKey("member_imports.id"), primary_key=True),
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("field", String(40), nullable=False),
    Column("message", String(200), nullable=False),
)

# Delivery (issue 16; services/delivery.py): where messages go, and the transactional outbox.
delivery_destinations = Table(
    "delivery_destinations", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False, unique=True),
    Column("channel", String(10), nullable=False),  # webhook | file | email | sms
    Column("config", JSON, nullable=False),  # url, directory, address: no secret
    Column("kinds", String(400), nullable=False),  # comma-separated message kinds
    Column("insurer_id", Integer, nullable=True),
    Column("organisation_id", Integer, nullable=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("secrets_enc", Text, nullable=False),  # webhook signing secrets, sealed with the platform's key
    Column("created_at", UtcDateTime, nullable=False),
)

outbox_messages = Table(
    "outbox_messages", metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(64), nullable=False, unique=True),  # the receiver's idempotency key
    Column("destination_id", ForeignKey("delivery_destinations.id"), nullable=False),
    Column("kind", String(60), nullable=False),
    Column("ordering_key", String(80), nullable=False),  # one invoice's messages stay in order
    Column("key_owner", Integer, nullable=False),  # whose key seals the payload (0: the platform's)
    Column("payload_enc", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("state", String(10), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("leased_by", String(60), nullable=True),  # the relay holding it, until leased_until
    Column("leased_until", UtcDateTime, nullable=True),
    Column("last_error", String(300), nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("generation", Integer, nullable=False, default=0),  # replays: a new transport id each
    Column("acknowledged_at", UtcDateTime, nullable=True),  # by the destination (sent_at: handed over)
    Index("ix_outbox_due", "destination_id", "state", "next_attempt_at"),
    Index("ix_outbox_order", "destination_id", "ordering_key", "state", "id"),
    Index("ix_outbox_ordering_key", "ordering_key"),
)

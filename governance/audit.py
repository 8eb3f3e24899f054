"""The governance database (SQLite under `$SIHUB_HOME/governance/` by default, any SQLAlchemy
URL through `SIHUB_GOVERNANCE_DB`, its password apart in `SIHUB_GOVERNANCE_DB_PASSWORD`): the
agreements register as loaded, and the audit log.

The audit log records what DPA 2018 s.62 asks of logging: collection, alteration,
consultation, disclosure, combination and erasure of personal data, with who (OS user), when,
why (purpose or command), what, how many and to whom. The application only appends. An
auditor can rely on it because:
- every entry carries a keyed HMAC over its fields and the previous entry's hash: an edit,
  a deletion or a recomputed chain shows unless the audit key (`SIHUB_AUDIT_KEY`, else
  `$SIHUB_HOME/secrets/audit.key`, owner-only; never the pseudonymisation key) was used;
- after every run the entry count and the chain's head are anchored, appended to
  `$SIHUB_HOME/governance/audit_anchors.jsonl` and put in the run's Dagster metadata, so
  cutting off the latest entries or emptying the log shows too;
- appends are serialised (SQLite: an immediate write transaction; PostgreSQL: an advisory
  lock), so writers at once never fork the chain.
`sihub audit verify` checks chain and anchors (`check`).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from sqlalchemy import URL, event, make_url, text
from sqlmodel import Field, Session, SQLModel, create_engine, select

from governance.agreements import Register
from sihub.core.paths import HubPaths

ACTIONS = ("collection", "alteration", "consultation", "disclosure", "combination", "erasure")
GENESIS = "0" * 64


class AgreementRecord(SQLModel, table=True):
    __tablename__ = "agreements"
    id: str = Field(primary_key=True)
    partner: str
    datasets: str
    lawful_basis: str
    special_category_basis: str
    purposes: str
    valid_from: dt.date
    valid_to: dt.date
    retention_years: int
    national_data_opt_out: bool
    contact: str


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    seq: int | None = Field(default=None, primary_key=True)
    at: str
    who: str
    action: str
    why: str
    what: str
    how_many: int
    recipient: str = ""
    prev_hash: str
    hash: str


KEY_ENV = "SIHUB_AUDIT_KEY"
URL_ENV, PASSWORD_ENV = "SIHUB_GOVERNANCE_DB", "SIHUB_GOVERNANCE_DB_PASSWORD"
ANCHORS = "audit_anchors.jsonl"
_engines: dict[str, object] = {}


def _url() -> URL | None:
    """`SIHUB_GOVERNANCE_DB`, with the password from `SIHUB_GOVERNANCE_DB_PASSWORD` when set
    (kept out of the URL, so no character in it needs encoding and no part of it can surface in
    an error about the URL), and PostgreSQL on the driver the lock installs."""
    configured = os.environ.get(URL_ENV)
    if configured is None:
        return None
    url = make_url(configured)
    if (password := os.environ.get(PASSWORD_ENV)) is not None:
        url = url.set(password=password)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg2")
    return url


def engine_for(home: Path):
    url = _url()
    if url is None:
        db = HubPaths(home).governance_db
        db.parent.mkdir(parents=True, exist_ok=True)
        url = make_url(f"sqlite:///{db}")
    cached = url.render_as_string(hide_password=False)
    if cached in _engines:
        return _engines[cached]
    sqlite = url.get_backend_name() == "sqlite"
    engine = create_engine(url, connect_args={"timeout": 60} if sqlite else {}, pool_pre_ping=True)
    if sqlite:
        # one writer at a time: the read of the chain's head and the append happen in one
        # immediate transaction (pysqlite's own BEGIN would start it deferred)
        @event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    SQLModel.metadata.create_all(engine)
    _engines[cached] = engine
    return engine


def ready(home: Path) -> None:
    """Raise unless the governance database can be written to: checked before a stage acts on
    personal data, so an act is never done that its audit entry could then fail to record."""
    with engine_for(home).connect() as connection:
        connection.execute(text("SELECT 1"))


class AuditKeyMissing(Exception):
    """The log has entries but the key that signs them is gone."""


def _key(home: Path, create: bool = True) -> bytes:
    """The audit key: its own secret, made owner-only on first use when none is configured
    (only by a writer: checking never makes one)."""
    if value := os.environ.get(KEY_ENV):
        return value.strip().encode()
    path = HubPaths(home).secrets / "audit.key"
    if not path.exists() and not create:
        raise AuditKeyMissing(f"the audit key ({KEY_ENV} or {path}) is missing: the log cannot be checked")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip().encode()


def load_agreements(home: Path, register: Register) -> int:
    """Replace the agreements table with the register (the YAML is the source)."""
    with Session(engine_for(home)) as session:
        for old in session.exec(select(AgreementRecord)).all():
            session.delete(old)
        for a in register.agreements:
            session.add(AgreementRecord(
                id=a.id, partner=a.partner, datasets=",".join(a.datasets), lawful_basis=a.lawful_basis,
                special_category_basis=a.special_category_basis, purposes="; ".join(a.purposes),
                valid_from=a.valid_from, valid_to=a.valid_to, retention_years=a.retention_years,
                national_data_opt_out=a.national_data_opt_out, contact=a.contact,
            ))  # fmt: skip
        session.commit()
    return len(register.agreements)


def _digest(entry: AuditEntry, key: bytes) -> str:
    fields = ("seq", "at", "who", "action", "why", "what", "how_many", "recipient", "prev_hash")
    body = {k: getattr(entry, k) for k in fields}  # its place too: renumbering shows
    return hmac.new(key, json.dumps(body, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def _mark_mac(mark: dict, key: bytes) -> str:
    body = {k: mark[k] for k in ("at", "run_id", "entries", "head")}
    return hmac.new(key, b"anchor:" + json.dumps(body, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def record(home: Path, action: str, why: str, what: str, how_many: int, recipient: str = "") -> AuditEntry:
    """Append one entry (counts and descriptions only: never an identifier)."""
    if action not in ACTIONS:
        raise ValueError(f"audit action must be one of {', '.join(ACTIONS)}")
    key = _key(home)
    engine = engine_for(home)
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":  # held to the end of the transaction
            session.exec(text("SELECT pg_advisory_xact_lock(hashtext('sihub audit log'))"))
        last = session.exec(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
        entry = AuditEntry(
            seq=(last.seq + 1) if last else 1,
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), who=getpass.getuser(), action=action,
            why=why, what=what, how_many=how_many, recipient=recipient,
            prev_hash=last.hash if last else GENESIS, hash="",
        )  # fmt: skip
        entry.hash = _digest(entry, key)
        session.add(entry)
        session.commit()
        session.refresh(entry)
        return entry


def entries(home: Path) -> list[AuditEntry]:
    with Session(engine_for(home)) as session:
        return list(session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all())


def verify(home: Path) -> int | None:
    """The sequence number of the first entry whose chain is broken, or None when intact."""
    return _first_broken(entries(home), _key(home, create=False))


def _first_broken(log: list[AuditEntry], key: bytes) -> int | None:
    previous = GENESIS
    for entry in log:
        if entry.prev_hash != previous or not hmac.compare_digest(_digest(entry, key), entry.hash):
            return entry.seq
        previous = entry.hash
    return None


def _anchor_file(home: Path) -> Path:
    return HubPaths(home).governance / ANCHORS


def _anchors(home: Path) -> list[dict]:
    path = _anchor_file(home)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def anchor(home: Path, run_id: str) -> dict:
    """Append the chain's entry count and head to the anchor file; returns what was anchored
    (for the run's Dagster metadata)."""
    log = entries(home)
    mark = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
        "entries": len(log),
        "head": log[-1].hash if log else GENESIS,
    }
    mark["mac"] = _mark_mac(mark, _key(home))  # rewriting an anchor needs the key too
    path = _anchor_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(mark) + "\n")
    return mark


def check(home: Path, elsewhere: list[dict] | None = None) -> str | None:
    """What is wrong with the audit log, in one line (the first bad entry, or the first anchor
    the log no longer matches), or None when chain and anchors hold. `elsewhere`: anchors kept
    out of the writer's reach (the runs' Dagster metadata), so that deleting or rewriting the
    anchor file does not hide a truncated log."""
    log, marks = entries(home), _anchors(home)
    try:
        key = _key(home, create=False)
    except AuditKeyMissing as missing:
        return str(missing) if log or marks else None
    if (bad := _first_broken(log, key)) is not None:
        return f"audit log entry {bad} does not follow the chain (edited, inserted or the one before it deleted)"
    for mark in marks:
        if not hmac.compare_digest(mark.get("mac", ""), _mark_mac(mark, key)):
            return f"the audit anchor of run {mark.get('run_id')} ({mark.get('at')}) was not written by the hub"
    for mark in [*marks, *(elsewhere or [])]:
        if mark["entries"] > len(log):
            return (
                f"the audit log has {len(log)} entries but {mark['entries']} entries were anchored after run "
                f"{mark['run_id']} ({mark['at']}): entries were deleted"
            )
        if mark["entries"] and log[mark["entries"] - 1].hash != mark["head"]:
            seq = log[mark["entries"] - 1].seq
            return f"audit log entry {seq} is not the one anchored after run {mark['run_id']} ({mark['at']})"
    return None

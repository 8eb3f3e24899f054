"""The governance database (SQLite under `$SIHUB_HOME/governance/` by default, any SQLAlchemy
URL through `SIHUB_GOVERNANCE_DB`): the agreements register as loaded, and the audit log.

The audit log records what DPA 2018 s.62 asks of logging: collection, alteration,
consultation, disclosure, combination and erasure of personal data, with who (OS user), when,
why (purpose or command), what, how many and to whom. The application only appends; every
entry carries the hash of the one before, so an edit or a deletion breaks the chain and
`verify()` says where.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from pathlib import Path

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


def engine_for(home: Path):
    url = os.environ.get("SIHUB_GOVERNANCE_DB")
    if url is None:
        db = HubPaths(home).governance_db
        db.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{db}"
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    return engine


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


def _digest(entry: AuditEntry) -> str:
    body = {k: getattr(entry, k) for k in ("at", "who", "action", "why", "what", "how_many", "recipient", "prev_hash")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def record(home: Path, action: str, why: str, what: str, how_many: int, recipient: str = "") -> AuditEntry:
    """Append one entry (counts and descriptions only: never an identifier)."""
    if action not in ACTIONS:
        raise ValueError(f"audit action must be one of {', '.join(ACTIONS)}")
    with Session(engine_for(home)) as session:
        last = session.exec(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
        entry = AuditEntry(
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), who=getpass.getuser(), action=action,
            why=why, what=what, how_many=how_many, recipient=recipient,
            prev_hash=last.hash if last else GENESIS, hash="",
        )  # fmt: skip
        entry.hash = _digest(entry)
        session.add(entry)
        session.commit()
        session.refresh(entry)
        return entry


def entries(home: Path) -> list[AuditEntry]:
    with Session(engine_for(home)) as session:
        return list(session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all())


def verify(home: Path) -> int | None:
    """The sequence number of the first entry whose chain is broken, or None when intact."""
    previous = GENESIS
    for entry in entries(home):
        if entry.prev_hash != previous or _digest(entry) != entry.hash:
            return entry.seq
        previous = entry.hash
    return None

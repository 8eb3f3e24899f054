"""Governance registers: agreements and the tamper-evident audit log."""

import datetime as dt
import sqlite3
from pathlib import Path

from governance import audit
from governance.agreements import Agreement, Register, expiring, in_use, load_register
from sihub.core.contracts import load_contracts


def agreement(valid_to: dt.date, datasets=("contacts",)) -> Agreement:
    return Agreement(
        id="A1", partner="childrens_services", datasets=datasets, lawful_basis="Art 6(1)(e)",
        purposes=("safeguarding",), valid_from=dt.date(2021, 4, 1), valid_to=valid_to, retention_years=7,
        contact="IG",
    )  # fmt: skip


def test_every_contract_flows_under_a_live_agreement_in_the_register() -> None:
    register = load_register()
    for contract in in_use(load_contracts(), register)[0]:
        found, reason = register.covering(contract.partner, contract.dataset, dt.date.today())
        assert found is not None, reason
        assert found.lawful_basis and found.purposes and found.retention_years


def test_expiring_agreements_are_those_within_60_days() -> None:
    day = dt.date(2026, 1, 1)
    soon, later = agreement(dt.date(2026, 2, 28)), agreement(dt.date(2026, 3, 31))
    assert expiring(Register(agreements=(soon,)), day) == [soon]
    assert expiring(Register(agreements=(later,)), day) == []
    assert Register(agreements=(soon,)).covering("childrens_services", "cp_plans", day) == (
        None,
        "no data-sharing agreement covers childrens_services/cp_plans",
    )


def test_the_audit_log_is_hash_chained_and_edits_show(tmp_path: Path) -> None:
    for i in range(3):
        audit.record(tmp_path, "collection", "refresh", f"dataset {i}", i)
    assert audit.verify(tmp_path) is None
    db = tmp_path / "governance" / "governance.db"
    with sqlite3.connect(db) as con:
        con.execute("UPDATE audit_log SET how_many = 99 WHERE seq = 2")
    assert audit.verify(tmp_path) == 2
    with sqlite3.connect(db) as con:
        con.execute("UPDATE audit_log SET how_many = 1 WHERE seq = 2")
        con.execute("DELETE FROM audit_log WHERE seq = 2")
    assert audit.verify(tmp_path) == 3
    entry = audit.entries(tmp_path)[0]
    assert entry.who and entry.at and entry.action == "collection"

"""The `sihub` command line: what an analyst types to run the hub."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from sihub.core.paths import HubPaths, project

if TYPE_CHECKING:
    from sihub.privacy.tiers import Tier

app = typer.Typer(
    help="Safeguarding Intelligence Hub: land, validate, govern, link and publish the "
    "partnership's data. All data lives under $SIHUB_HOME (default ./data).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


class Scale(StrEnum):
    small = "small"
    county = "county"
    national = "national"


def _generate(scale: Scale, seed: int, out: Path | None, defect_rate: float, statutory: bool = False) -> None:
    from sihub.synthetic.generate import generate  # heavy imports only when asked for

    paths = HubPaths.from_env()
    with console.status(f"Generating {scale.value} synthetic partner extracts…") as status:
        result = generate(
            scale.value,
            seed,
            out or paths.landing,
            defect_rate=defect_rate,
            progress=lambda step: status.update(f"Generating {scale.value}: {step}"),
            statutory=statutory,
        )
    table = Table(title=f"Synthetic extracts ({scale.value}, seed {seed})")
    table.add_column("partner/dataset")
    table.add_column("rows", justify="right")
    for key, rows in result.rows.items():
        table.add_row(key, f"{rows:,}")
    console.print(table)
    console.print(
        f"{result.children:,} children, {result.files} files, {result.bytes / 1e6:.1f} MB, "
        f"{result.defects:,} planted defects in {result.seconds:.1f} s\n"
        f"Partner extracts: {result.out}\n"
        f"Truth and defect manifest (never read by the pipeline): {result.truth}"
    )


SCALE_HELP = "small: a few thousand children (seconds); county: ~200,000 children, five years; national: 50x county."
ScaleOption = Annotated[Scale, typer.Option(help=SCALE_HELP)]
SeedOption = Annotated[int, typer.Option(help="Same seed, same bytes.")]


@app.command()
def generate(
    scale: ScaleOption = Scale.small,
    seed: SeedOption = 1,
    out: Annotated[Path | None, typer.Option(help="Folder for the extracts (default: $SIHUB_HOME/landing).")] = None,
    defect_rate: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of rows given a planted defect.")] = 0.01,
    statutory: Annotated[
        bool, typer.Option(help="Also write the council's statutory returns: SSDA903, CIN census, Annex A, pupils.")
    ] = False,
) -> None:
    """Write synthetic partner extracts (CSV and Excel) with their truth and defect manifest."""
    with _locked(HubPaths.from_env(), "sihub generate"):  # never under a run reading landing
        _generate(scale, seed, out, defect_rate, statutory)


class _StageProgress:
    """The refresh's progress in the terminal: a bar per stage, the running dataset beside it."""

    def __init__(self, progress) -> None:
        self.progress = progress
        self.starting = progress.add_task("Starting the refresh (loading contracts and Dagster)", total=None)
        self.bars: dict = {}
        self.left: dict = {}

    def plan(self, steps: list) -> None:
        from assets.keys import stage_of

        self.progress.remove_task(self.starting)
        for stage in sorted({stage_of(k) for k in steps}, key=lambda s: s.order):
            self.left[stage] = sum(stage_of(k) == stage for k in steps)
            self.bars[stage] = self.progress.add_task(f"{stage:<9}", total=self.left[stage])

    def step(self, event, key) -> None:
        from dagster import DagsterEventType

        from assets.keys import dataset_of, stage_of

        stage = stage_of(key)
        if event == DagsterEventType.STEP_START:
            self.progress.update(self.bars[stage], description=f"{stage:<9}  {dataset_of(key) or key.path[-1]}")
        elif event in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_SKIPPED):
            self.progress.advance(self.bars[stage])
            self.left[stage] -= 1
            if not self.left[stage]:
                self.progress.update(self.bars[stage], description=f"{stage:<9}  done")

    def warning(self, message: str) -> None:
        self.progress.console.print(f"[yellow]warning[/]: {message}")


def _refresh(paths: HubPaths) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipelines.refresh import run_refresh
    from sihub.privacy.keys import PseudonymKeyError, load_key

    try:
        load_key(paths.home)  # fail before any work, with what to do
    except PseudonymKeyError as err:
        console.print(f"[red]error[/]: {err}")
        raise typer.Exit(1) from None

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        outcome = run_refresh(paths.home, _StageProgress(progress))
    if not outcome.success:
        console.print(
            f"[red]error[/]: the refresh could not publish: {outcome.reason}", soft_wrap=True, highlight=False
        )
        raise typer.Exit(1)
    if outcome.reason:  # published, then a later step (retention, the audit chain) failed
        console.print(f"[red]error[/]: published, but a later step failed: {outcome.reason}", soft_wrap=True)
        raise typer.Exit(2)
    if (outcome.summary or {}).get("run_id") != outcome.run_id:
        console.print(
            f"Nothing new since run {(outcome.summary or {}).get('run_id', '-')}: the published outputs "
            f"are unchanged (snapshot {(outcome.summary or {}).get('snapshot', '-')})."
        )
        return
    _print_summary(outcome.summary or {}, paths)


def summary_table(summary: dict) -> Table:
    """The refresh's datasets by partner: a partner's name heads its datasets, so the widest
    cell is a dataset's own name and the table stays whole in an 80-column terminal (a name
    too long for it wraps; it is never cut short)."""
    table = Table(title="Refresh summary", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("dataset", overflow="fold")
    for col in ("files", "rows in", "loaded", "quarantined", "rejected"):
        table.add_column(col, justify="right", no_wrap=True)
    partner = None
    for d in summary.get("datasets", []):
        if d["partner"] != partner:
            partner = d["partner"]
            table.add_row(f"[bold]{partner}[/]", end_section=False)
        rejected = sum(f["status"] == "rejected" for f in d["files"])
        table.add_row(
            f"  {d['dataset']}",
            str(len(d["files"])),
            f"{d['rows_in']:,}",
            f"{d['rows_loaded']:,}",
            f"{d['rows_quarantined']:,}",
            str(rejected),
        )
    return table


def _column_notes(summary: dict) -> list[str]:
    """A line per delivery whose columns differ from its contract's."""
    notes = []
    for d in summary.get("datasets", []):
        for f in d["files"]:
            parts = [f"{k}: {', '.join(f.get(f'{k}_columns') or [])}" for k in ("missing", "unexpected")]
            parts = [p for p in parts if not p.endswith(": ")]
            if parts:
                notes.append(f"columns of {f['name']}: {'; '.join(parts)}")
    return notes


def _print_summary(summary: dict, paths: HubPaths) -> None:
    from sihub.privacy.tiers import load_tiers

    if summary.get("datasets"):
        console.print(summary_table(summary))
    for note in _column_notes(summary):
        console.print(f"[yellow]note[/]: {note}", highlight=False)
    for d in summary.get("datasets", []):
        for h in d.get("held", []):
            console.print(
                f"[yellow]held[/]: {d['partner']}/{d['dataset']} delivery {h['sha256'][:12]} (since {h['since'][:10]}) "
                f"stays out of the shared store: {h['reason']}. Fix the contract and `sihub revalidate`, or "
                f"`sihub release {d['partner']}/{d['dataset']} --sha {h['sha256'][:12]}`.",
                highlight=False,
            )
    held_back = summary.get("metrics_held_back", [])
    kept = {"stale": "keep their last published values", "withheld": "are not published (none were before)"}
    for status, reason in sorted({(m["status"], m["reason"]) for m in held_back}):
        ids = [m["metric_id"] for m in held_back if (m["status"], m["reason"]) == (status, reason)]
        console.print(
            f"[yellow]held back[/]: {len(ids)} metric(s) ({', '.join(ids)}) {kept[status]}: "
            f"{reason.removeprefix('not updated: ')}. Fix the contract, then `sihub refresh`.",
            highlight=False,
        )
    if not summary.get("datasets"):
        console.print("No new deliveries in landing; outputs rebuilt from the stores.")
    published = paths.published
    home, *others = load_tiers()
    console.print(
        f"Published, {home.name} tier ({home.marking}; {home.policy.name} disclosure rule) "
        f"({', '.join(f'{k} {v:,}' for k, v in summary.get('outputs', {}).items())}):\n"
        f"  star schema (DuckDB): {published / 'metrics.duckdb'}\n"
        f"  Parquet tables:       {published / 'parquet'}\n"
        f"  Power BI project:     {published / 'powerbi' / 'SIHub.pbip'} (README: Connecting Power BI)\n"
        f"  SSAG Excel pack:      {published / 'ssag_pack.xlsx'}\n"
        f"  metric dictionary:    {published / 'metric_dictionary.html'}\n"
        f"  run summary:          {published / 'run_summary.json'} (snapshot {summary.get('snapshot', '-')})\n"
        f"For the data team (exact row counts, not for a tier's readers):\n"
        f"  deliveries and rows:  {paths.operations / 'run_summary.json'}\n"
        f"  data quality pages:   {paths.operations / summary.get('data_quality', 'data_quality')}\n"
        f"  alerts:               {paths.operations / 'alerts'}"
    )
    for tier in others:
        console.print(
            f"Published, {tier.name} tier ({tier.marking}; {tier.policy.name} disclosure rule): the same tables, "
            f"pack and dictionary in {tier.published(published)}"
        )


@contextmanager
def _locked(paths: HubPaths, what: str) -> Iterator[None]:
    """The home's run lock for a command that writes; refused at once, naming the holder."""
    from sihub.core.run_lock import RunLocked, run_lock

    try:
        with run_lock(paths, what):
            yield
    except RunLocked as err:
        console.print(f"[red]error[/]: {err}", highlight=False, soft_wrap=True)  # one line, however wide
        raise typer.Exit(1) from None


@contextmanager
def _anchored(paths: HubPaths, what: str) -> Iterator[None]:
    """Anchor the audit chain when a command that writes to it ends, however it ends: its
    entries (a subject access search, an erasure, a release) cannot then be cut from the log
    unnoticed before the next refresh anchors it again."""
    from governance import audit

    try:
        yield
    finally:
        audit.anchor(paths.home, what)


@app.command()
def refresh() -> None:
    """Run the nightly refresh now, in-process, over everything in landing."""
    paths = HubPaths.from_env()
    with _locked(paths, "sihub refresh"):
        _refresh(paths)


@app.command()
def demo(scale: ScaleOption = Scale.small, seed: SeedOption = 1) -> None:
    """Generate synthetic partner data, run the refresh on it and say where the outputs are."""
    import os

    from sihub.privacy.keys import ENV, create_key_file, key_file

    paths = HubPaths.from_env()
    with _locked(paths, "sihub demo"):
        if ENV not in os.environ and not key_file(paths.home).exists():
            console.print(f"Created a pseudonymisation key for the synthetic data: {create_key_file(paths.home)}")
        _generate(scale, seed, None, 0.01)
        _refresh(paths)


@app.command()
def revalidate(
    dataset: Annotated[str, typer.Argument(help="partner/dataset, e.g. police/missing_episodes")],
) -> None:
    """Re-validate a dataset's archived files under its current contract (after a contract
    fix; no re-delivery needed), then run the refresh."""
    from sihub.core.db import connect
    from sihub.intake import archive

    contract = _contract(dataset)
    paths = HubPaths.from_env()
    with _locked(paths, f"sihub revalidate {dataset}"):
        with connect(paths.personal_store) as con:
            files = archive.reopen(con, contract)
        console.print(f"{files} archived file(s) of {dataset} will be read again under the current contract.")
        _refresh(paths)


def _contract(dataset: str):
    """The contract for `partner/dataset`, or exit 2 saying there is none."""
    from sihub.core.contracts import load_contracts

    contract = next((c for c in load_contracts() if c.key == dataset), None)
    if contract is None:
        console.print(f"[red]error[/]: no data contract for {dataset!r} (see data_contracts/)")
        raise typer.Exit(2)
    return contract


@app.command()
def release(
    dataset: Annotated[str, typer.Argument(help="partner/dataset, e.g. police/exploitation_flags")],
    sha: Annotated[
        str | None, typer.Option(help="Release only the held delivery whose SHA-256 starts with this.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Release a dataset's held deliveries (held after failing a data-quality check): their rows
    go into the shared store and the published figures at the next refresh. Audited."""
    import getpass

    from governance import audit
    from sihub.core.db import connect
    from sihub.validation.holds import held_now
    from sihub.validation.holds import release as release_held

    contract = _contract(dataset)
    paths = HubPaths.from_env()
    with (
        _anchored(paths, "sihub release"),
        _locked(paths, f"sihub release {dataset}"),
        connect(paths.personal_store) as con,
    ):
        held = [h for h in held_now(con, contract) if sha is None or h.sha256.startswith(sha)]
        if not held:
            console.print(f"No held delivery of {dataset}{' matches ' + sha if sha else ''}.")
            raise typer.Exit(1)
        for h in held:
            console.print(f"  {h.sha256[:12]}  held since {h.since:%Y-%m-%d}: {h.reason}", highlight=False)
        if not (yes or typer.confirm(f"Release {len(held)} held deliver{'y' if len(held) == 1 else 'ies'}?")):
            raise typer.Exit(1)
        released = release_held(con, contract, sha, getpass.getuser())
        audit.record(
            paths.home,
            "alteration",
            "sihub release (held deliveries released by the analyst)",
            f"{dataset}: deliveries " + ", ".join(h.sha256[:12] for h in released),
            len(released),
        )
    console.print(f"Released {len(released)}; they stand from the next refresh (`sihub refresh`).")


@app.command()
def purge(
    as_of: Annotated[
        str | None, typer.Option(help="Judge retention as on this date (YYYY-MM-DD); default today.")
    ] = None,
) -> None:
    """Delete personal-zone records past their dataset's retention period (with their
    quarantine rows and fully expired raw files); counts go to the audit log."""
    import datetime as dt

    from governance.agreements import load_register
    from governance.retention import purge_all
    from sihub.core.contracts import load_contracts
    from sihub.core.db import connect

    paths = HubPaths.from_env()
    today = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    table = Table(title=f"Retention purge as on {today}")
    for col in ("partner/dataset", "kept from", "records", "quarantined", "raw files"):
        table.add_column(col, justify="left" if col == "partner/dataset" else "right")
    with _locked(paths, "sihub purge"), connect(paths.personal_store) as con:
        done = purge_all(con, load_contracts(), load_register(), today, paths.home, "sihub purge (retention)")
    for d in done:
        table.add_row(d.dataset, str(d.cutoff), f"{d.rows:,}", f"{d.quarantined:,}", str(d.files))
    console.print(table)
    console.print("The shared store and published outputs drop purged records at the next refresh.")


@app.command()
def rollback(
    to: Annotated[str | None, typer.Option(help="The snapshot to make current; default the one before.")] = None,
) -> None:
    """Make an earlier published snapshot current again (the stable paths under published/
    are switched atomically; the newer snapshots are kept). Every other disclosure tier goes
    back to its snapshot of the same run."""
    from sihub.core.snapshots import SnapshotError, current, snapshots
    from sihub.core.snapshots import rollback as roll_back
    from sihub.privacy.tiers import load_tiers

    paths = HubPaths.from_env()
    published = paths.published
    home, *others = load_tiers()
    try:
        with _locked(paths, "sihub rollback"), _anchored(paths, "sihub rollback"):
            name = roll_back(published, to)
            _audit_rollback(paths, home, name)
            run = name.rsplit("-", 1)[-1]
            for tier in others:
                folder = tier.published(published)
                same_run = [s.name for s in snapshots(folder) if s.name.endswith(f"-{run}")]
                if same_run:
                    _audit_rollback(paths, tier, roll_back(folder, same_run[-1]))
                else:
                    console.print(f"[yellow]note[/]: the {tier.name} tier has no snapshot of run {run}; left as it is")
    except SnapshotError as err:
        console.print(f"[red]error[/]: {err}")
        raise typer.Exit(1) from None
    console.print(f"Current snapshot: {name}")
    for snapshot in snapshots(published):
        console.print(("* " if snapshot.name == current(published) else "  ") + snapshot.name)


@app.command()
def quarantine(
    dataset: Annotated[str, typer.Argument(help="partner/dataset, e.g. childrens_services/contacts")],
) -> None:
    """Why a dataset's rows were quarantined: each rule broken, how many rows, and the first
    deliveries, rows and lines to look at. No value is shown (they stay in the personal zone)."""
    from sihub.core.db import connect
    from sihub.validation.quarantine_view import broken_rules

    contract = _contract(dataset)
    paths = HubPaths.from_env()
    if not paths.personal_store.exists():
        console.print("Nothing has been loaded yet: run `sihub refresh` first.")
        raise typer.Exit(1)
    with connect(paths.personal_store, read_only=True) as con:
        rules = broken_rules(con, contract)
    if not rules:
        console.print(f"No quarantined rows for {dataset}.")
        return
    table = Table(title=f"Quarantined rows of {dataset}, by the first rule each broke")
    for name, justify in (
        ("rule", "left"),
        ("rows", "right"),
        ("reason", "left"),
        ("first places (delivery, row, line)", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")
    for r in rules:
        places = "; ".join(f"{label} row {row} (line {line})" for label, row, line in r.places)
        table.add_row(r.rule_id, f"{r.rows:,}", r.reason, places)
    console.print(table)


@app.command()
def sar(
    nhs_number: Annotated[str | None, typer.Option(help="NHS number (spaces allowed).")] = None,
    upn: Annotated[str | None, typer.Option(help="Unique pupil number.")] = None,
    name: Annotated[str | None, typer.Option(help='"Forename Surname" (with --dob).')] = None,
    dob: Annotated[str | None, typer.Option(help="Date of birth YYYY-MM-DD (with --name).")] = None,
    erase: Annotated[bool, typer.Option(help="Erase the records found, after confirmation.")] = False,
    reviewed: Annotated[
        Path | None,
        typer.Option(
            help="With --erase: erase only the records kept in this reviewed export (rows deleted from it stay)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Subject access: find every record held about a person, through the hub's linkage,
    across all partners, the quarantine and unreadable lines; write them to a file for the IG
    officer, marked with how each was found; optionally erase them (all, or those kept in the
    reviewed file). Audited; erasure is registered so that it lasts."""
    import datetime as dt

    from governance.subject_access import Person
    from sihub.core.contracts import load_contracts

    forename, _, surname = (name or "").partition(" ")
    try:
        person = Person(nhs_number, upn, forename or None, surname or None, dt.date.fromisoformat(dob) if dob else None)
    except ValueError as err:
        console.print(f"[red]error[/]: {err}")
        raise typer.Exit(2) from None
    paths = HubPaths.from_env()
    contracts = load_contracts()
    with _anchored(paths, "sihub sar"):
        _subject_access(paths, contracts, person, erase, reviewed, yes)


def _subject_access(paths: HubPaths, contracts: list, person, erase: bool, reviewed: Path | None, yes: bool) -> None:
    """`sihub sar` once the person is known: search, export, and erase if asked."""
    from governance import audit
    from governance.subject_access import erase as erase_records
    from governance.subject_access import export, search
    from governance.subject_access import reviewed as kept_in
    from sihub.core.db import connect
    from sihub.privacy.keys import load_key

    with connect(paths.personal_store) as con:
        found = search(con, contracts, person)
    audit.record(
        paths.home, "consultation", "sihub sar (subject access search)",
        f"records found in {len(found.records)} place(s)", found.total,
    )  # fmt: skip
    if not found.records:
        console.print("No records found for that person.")
        return
    path = export(found, paths.subject_access)
    audit.record(
        paths.home, "disclosure", "sihub sar (subject access export)", "records written to a file", found.total,
        recipient="information-governance officer",
    )  # fmt: skip
    for place, rows in sorted(found.records.items()):
        console.print(f"  {place}: {len(rows)} record(s)")
    for how, n in sorted(found.by_how().items()):
        console.print(f"  found by {how}: {n}")
    console.print(f"{found.total} record(s) written to {path} (readable by its owner only). Review before disclosure.")
    if not erase:
        return
    everything = found.total
    if reviewed:
        try:
            found = kept_in(found, reviewed)
        except (OSError, ValueError) as err:
            console.print(f"[red]error[/]: {err}")
            raise typer.Exit(2) from None
    question = f"Erase {found.total} record(s), their links and the person's shared-store rows?"
    if found.total and (yes or typer.confirm(question)):
        with _locked(paths, "sihub sar --erase"):
            entry = audit.record(
                paths.home, "erasure", "sihub sar --erase",
                f"records of one person in {len(found.records)} place(s), their links and pseudonymous rows",
                found.total,
            )  # fmt: skip
            with connect(paths.personal_store) as personal, connect(paths.shared_store) as shared:
                whole = found.total == everything  # a reviewed part: the person's other records stay
                counts = erase_records(personal, shared, contracts, found, load_key(paths.home), entry.seq, whole)
        console.print(f"Erased {sum(counts.values())} row(s); the erasure register keeps them out of every rebuild.")


def _audit_rollback(paths: HubPaths, tier: Tier, snapshot: str) -> None:
    """A snapshot made current again is disclosed afresh to the tier's audience: on record as a
    publication is, with the rows of its tables (from the snapshot's own run summary)."""
    import json

    from governance import audit
    from sihub.core.snapshots import SNAPSHOTS

    summary = tier.published(paths.published) / SNAPSHOTS / snapshot / "run_summary.json"
    rows = sum(json.loads(summary.read_text(encoding="utf-8"))["outputs"].values())
    audit.record(
        paths.home,
        "disclosure",
        f"sihub rollback: an earlier publication made current again, {tier.name} tier ({tier.marking})",
        f"snapshot {snapshot}: the aggregate tables it published",
        rows,
        recipient=tier.audience,
    )


contracts_app = typer.Typer(help="Work with the data contracts in data_contracts/.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("check")
def contracts_check() -> None:
    """Validate every data contract; list each error with its file and field, and the contracts
    no agreement names (dormant: the refresh does not run them)."""
    from governance.agreements import in_use, load_register
    from sihub.core.contracts import check_contracts
    from sihub.validation.data_docs import expectation_errors

    contracts, errors = check_contracts()
    for contract in contracts:  # their raw Great Expectations expectations, made by GX itself
        errors += [f"{contract.file}: {error}" for error in expectation_errors(contract)]
    for error in errors:
        console.print(f"[red]error[/]: {error}", highlight=False)
    if errors:
        console.print(f"{len(errors)} error(s) in the data contracts.")
        raise typer.Exit(1)
    register = load_register()
    used, dormant = in_use(contracts, register)
    console.print(f"{len(contracts)} data contracts are valid; {len(used)} are named by a data-sharing agreement.")
    known = {(c.partner, c.dataset) for c in contracts}
    for a in register.agreements:
        for name in (d for d in a.datasets if (a.partner, d) not in known):
            console.print(
                f"[yellow]warning[/]: agreement {a.id} names {a.partner}/{name}, which has no contract "
                f"(data_contracts/{a.partner}/{name}.yaml)",
                highlight=False,
            )
    if dormant:
        console.print(
            f"{len(dormant)} dormant (no agreement entry in {project().agreements.name}, so not run): "
            + ", ".join(c.key for c in dormant),
            highlight=False,
        )


instance_app = typer.Typer(help="The Dagster instance of a production server.", no_args_is_help=True)
app.add_typer(instance_app, name="instance")


@instance_app.command("init")
def instance_init(
    folder: Annotated[Path, typer.Argument(help="The instance folder (DAGSTER_HOME), e.g. /var/lib/sihub/dagster")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace settings already there (an upgrade)")] = False,
) -> None:
    """Create a production Dagster instance (PostgreSQL storage) from the shipped template."""
    from pipelines.instance import InstanceExists, init_production

    try:
        settings = init_production(folder.resolve(), replace)
    except InstanceExists as exists:
        console.print(f"[red]error[/]: {exists}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(
        f"Instance settings written to {settings}.\n"
        f"Set DAGSTER_HOME={settings.parent} and DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_DB, "
        "DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD for the webserver, the daemon and sihub "
        "(README: Running in production).",
        highlight=False,
        soft_wrap=True,
    )


audit_app = typer.Typer(help="The audit log of every access to personal data.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's keyed chain and its anchors; exit 1 naming the first bad entry."""
    from assets.audit import dagster_anchors
    from governance import audit
    from pipelines.instance import hub_instance

    paths = HubPaths.from_env()
    problem = audit.check(paths.home, dagster_anchors(hub_instance(paths.home)))
    if problem:
        console.print(f"[red]error[/]: {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"The audit log holds: {len(audit.entries(paths.home)):,} entries, chain and anchors intact.")

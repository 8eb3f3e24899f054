"""The Power BI project (`powerbi/`: a `.pbip`, its semantic model in TMDL and an empty report)
and the `.pbids` data source file, generated from the published schema with every snapshot.

Why generated and not hand-made: the model is the published schema read by Power BI, so it
follows every change to `published_schema.yaml` (tables, types, relationships, formats,
measures) without anyone editing a model by hand. Each table reads its Parquet file through
one parameter, `FolderPath`, so the analyst points the whole model at the published share once.

Where the folder is: `SIHUB_POWERBI_FOLDER` names `published/` as the analysts reach it (a
UNC path such as `\\\\council-fs\\sihub\\published`, or a mapped drive). Unset, the path of
this machine's `published/` is written: right when Power BI runs where the hub does, and a
reminder to set the parameter otherwise. A tier beyond the partnership's own is read outside
the partnership, so its files name no folder of the partnership's: its parameter asks to be set.
Each tier's project has its own name (`SIHub`, `SIHub-public`) and identifiers, so the two
never replace each other in a workspace.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path, PurePosixPath, PureWindowsPath

from sihub.privacy.tiers import Tier
from sihub.publishing.star_schema import TableSchema, relationships

FOLDER_ENV = "SIHUB_POWERBI_FOLDER"
PROJECT = "SIHub"
PARAMETER = "FolderPath"
UNSET = "SET FolderPath TO THE FOLDER HOLDING THE PARQUET FILES"
# DuckDB's published types as the model's data types (see published_schema.yaml's header)
DATA_TYPES = {"VARCHAR": "string", "BIGINT": "int64", "INTEGER": "int64", "DOUBLE": "double",
              "BOOLEAN": "boolean", "DATE": "dateTime", "TIMESTAMP": "dateTime"}  # fmt: skip
DEFAULT_FORMATS = {"DATE": "dd mmm yyyy", "TIMESTAMP": "dd mmm yyyy hh:nn:ss", "BIGINT": "0", "INTEGER": "0"}
NAMESPACE = uuid.UUID("6f1c2a52-34a4-4a4e-9a55-0c3f2f5e1d11")  # stable identifiers across snapshots
SCHEMAS = "https://developer.microsoft.com/json-schemas/fabric"
PAGE = "0a1b2c3d4e5f60718293"  # Desktop accepts page ids of 20 lowercase hex digits only
# the folder with its separator, whichever way it was typed
FOLDER_M = (
    f'if Text.EndsWith({PARAMETER}, "\\") or Text.EndsWith({PARAMETER}, "/") then {PARAMETER} else {PARAMETER} & "\\"'
)


def project_name(tier: Tier) -> str:
    return PROJECT if tier.home else f"{PROJECT}-{tier.name}"


def parquet_folder(tier_folder: Path, tier: Tier) -> str:
    """The home tier's (stable) Parquet folder as Power BI should open it: below
    `SIHUB_POWERBI_FOLDER` (Windows rules when it looks like a Windows path; the quotes of
    Explorer's "Copy as path" dropped; a bare drive taken as its root) or, unset, this
    machine's `tier_folder`/parquet. Beyond the home tier, a request to set it."""
    if not tier.home:
        return UNSET
    configured = os.environ.get(FOLDER_ENV, "").strip().strip('"').strip()
    if not configured:
        return str(tier_folder / "parquet")
    windows = configured.startswith("\\\\") or configured[1:2] == ":" or "\\" in configured
    if windows and len(configured) == 2:
        configured += "\\"  # "S:" alone means the drive's current folder, not its root
    return str((PureWindowsPath if windows else PurePosixPath)(configured) / "parquet")


def write_pbids(folder: Path, parquet: str) -> None:
    """A Power BI data source file opening the Parquet folder (one Folder source: for a table
    per file, open the project instead)."""
    source = {"version": "0.1", "connections": [{"details": {"protocol": "folder", "address": {"path": parquet}}}]}
    (folder / "sihub_parquet.pbids").write_text(json.dumps(source, indent=2), encoding="utf-8")


def _name(name: str) -> str:
    """A TMDL object name: quoted when it is not a plain identifier."""
    return name if name.replace("_", "a").isalnum() and not name[0].isdigit() else "'" + name.replace("'", "''") + "'"


class _Writer:
    """The TMDL of one tier's model; identifiers derive from the project's name, so they stay
    the same from one snapshot to the next and differ between tiers."""

    def __init__(self, tier: Tier, schema: dict[str, TableSchema]):
        self.tier, self.schema, self.project = tier, schema, project_name(tier)

    def tag(self, *parts: str) -> str:
        return str(uuid.uuid5(NAMESPACE, "/".join((self.project, *parts))))

    def table(self, name: str, spec: TableSchema) -> str:
        lines = [f"/// {spec.description} ({self.tier.marking})", f"table {_name(name)}"]
        calendar = spec.key is not None and spec.columns[spec.key][0] == "DATE"
        lines += (["\tdataCategory: Time"] if calendar else []) + [f"\tlineageTag: {self.tag(name)}", ""]
        for column, (duck_type, meaning) in spec.columns.items():
            lines += [f"\t/// {meaning}", f"\tcolumn {_name(column)}", f"\t\tdataType: {DATA_TYPES[duck_type]}"]
            if calendar and column == spec.key:
                lines.append("\t\tisKey")  # marks the model's date table
            if fmt := spec.formats.get(column, DEFAULT_FORMATS.get(duck_type)):
                lines.append(f"\t\tformatString: {fmt}")
            if column in spec.hidden:
                lines.append("\t\tisHidden")
            lines += [f"\t\tlineageTag: {self.tag(name, column)}", "\t\tsummarizeBy: none"]
            lines.append(f"\t\tsourceColumn: {column}")
            if column in spec.sort_by:
                lines.append(f"\t\tsortByColumn: {_name(spec.sort_by[column])}")
            if duck_type == "DATE":
                lines += ["", "\t\tannotation UnderlyingDateTimeDataType = Date"]
            lines.append("")
        for measure, m in spec.measures.items():
            lines += [f"\t/// {m.description}", f"\tmeasure {_name(measure)} = {m.expression}"]
            lines.append(f"\t\tlineageTag: {self.tag(name, 'measure', measure)}")
            if m.format and m.dynamic_format:  # an object of its own, after the measure's properties
                lines += ["", "\t\tformatStringDefinition = " + m.format]
            elif m.format:
                lines.append(f"\t\tformatString: {m.format}")
            lines.append("")
        lines += [
            f"\tpartition {_name(name)} = m", "\t\tmode: import", "\t\tsource =", "\t\t\t\tlet",
            f"\t\t\t\t    Folder = {FOLDER_M},",
            f'\t\t\t\t    Source = Parquet.Document(File.Contents(Folder & "{name}.parquet"))',
            "\t\t\t\tin", "\t\t\t\t    Source", "",
        ]  # fmt: skip
        return "\n".join(lines)

    def model(self) -> str:
        lines = ["model Model", "\tculture: en-GB", "\tdefaultPowerBIDataSourceVersion: powerBI_V3",
                 "\tsourceQueryCulture: en-GB", "\tdataAccessOptions", "\t\tlegacyRedirects",
                 "\t\treturnErrorValuesAsNull", "",
                 # no hidden date tables of Power BI's own: dim_date is the calendar
                 "annotation __PBI_TimeIntelligenceEnabled = 0", ""]  # fmt: skip
        return "\n".join(lines + [f"ref table {_name(t)}" for t in self.schema] + [""])

    def relationships(self) -> str:
        lines = []
        for r in relationships(self.schema):
            lines += [
                f"relationship {self.tag(r.table, r.column, r.to_table, r.to_column)}",
                f"\tfromColumn: {_name(r.table)}.{_name(r.column)}",
                f"\ttoColumn: {_name(r.to_table)}.{_name(r.to_column)}",
                "",
            ]
        return "\n".join(lines)

    def parameter(self, parquet: str) -> str:
        value = '"' + parquet.replace('"', '""') + '"'
        return "\n".join([
            "/// The folder holding the published Parquet files: set it to the published share as you reach it.",
            f"expression {PARAMETER} = {value} "
            'meta [IsParameterQuery=true, Type="Text", IsParameterQueryRequired=true]',
            f"\tlineageTag: {self.tag('parameter', PARAMETER)}",
            "",
        ])  # fmt: skip

    def platform(self, kind: str) -> dict:
        return {
            "$schema": f"{SCHEMAS}/gitIntegration/platformProperties/2.0.0/schema.json",
            "metadata": {"type": kind, "displayName": self.project},
            "config": {"version": "2.0", "logicalId": self.tag("platform", kind)},
        }


def write_project(folder: Path, schema: dict[str, TableSchema], parquet: str, tier: Tier) -> Path:
    """`folder/powerbi/`: the tier's .pbip, its semantic model (TMDL) and its report (one empty
    page, PBIR); returns the .pbip file."""
    w = _Writer(tier, schema)
    root = folder / "powerbi"
    model, report = root / f"{w.project}.SemanticModel", root / f"{w.project}.Report"
    definition, pages = model / "definition", report / "definition" / "pages"
    files: dict[Path, str | dict] = {
        root / f"{w.project}.pbip": {
            "$schema": f"{SCHEMAS}/pbip/pbipProperties/1.0.0/schema.json",
            "version": "1.0", "artifacts": [{"report": {"path": report.name}}],
            "settings": {"enableAutoRecovery": True},
        },
        model / ".platform": w.platform("SemanticModel"),
        model / "definition.pbism": {
            "$schema": f"{SCHEMAS}/item/semanticModel/definitionProperties/1.0.0/schema.json",
            "version": "4.2", "settings": {},
        },
        definition / "database.tmdl": "database\n\tcompatibilityLevel: 1601\n\tcompatibilityMode: powerBI\n",
        definition / "model.tmdl": w.model(),
        definition / "relationships.tmdl": w.relationships(),
        definition / "expressions.tmdl": w.parameter(parquet),
        report / ".platform": w.platform("Report"),
        report / "definition.pbir": {
            "$schema": f"{SCHEMAS}/item/report/definitionProperties/2.0.0/schema.json",
            "version": "4.0", "datasetReference": {"byPath": {"path": f"../{model.name}"}},
        },
        report / "definition" / "version.json": {
            "$schema": f"{SCHEMAS}/item/report/definition/versionMetadata/1.0.0/schema.json", "version": "2.0.0",
        },
        report / "definition" / "report.json": {
            "$schema": f"{SCHEMAS}/item/report/definition/report/3.0.0/schema.json", "themeCollection": {},
        },
        pages / "pages.json": {
            "$schema": f"{SCHEMAS}/item/report/definition/pagesMetadata/1.0.0/schema.json",
            "pageOrder": [PAGE], "activePageName": PAGE,
        },
        pages / PAGE / "page.json": {
            "$schema": f"{SCHEMAS}/item/report/definition/page/2.0.0/schema.json",
            "name": PAGE, "displayName": "Page 1", "displayOption": "FitToPage", "height": 720, "width": 1280,
        },
    }  # fmt: skip
    files.update({definition / "tables" / f"{t}.tmdl": w.table(t, spec) for t, spec in schema.items()})
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        path.write_text(text, encoding="utf-8")  # UTF-8 without a byte-order mark, as Desktop expects
    return root / f"{w.project}.pbip"

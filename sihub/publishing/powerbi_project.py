"""The Power BI project (`powerbi/`: a `.pbip`, its semantic model in TMDL and an empty report)
and the `.pbids` data source file, generated from the published schema with every snapshot.

Why generated and not hand-made: the model is the published schema read by Power BI, so it
follows every change to `published_schema.yaml` (tables, types, relationships, formats,
measures) without anyone editing a model by hand. Each table reads its Parquet file through
one parameter, `FolderPath`, so the analyst points the whole model at the published share once.

Where the folder is: `SIHUB_POWERBI_FOLDER` names `published/` as the analysts reach it (a
UNC path such as `\\\\council-fs\\sihub\\published`, or a mapped drive); a tier's Parquet
folder is found below it the way it is below `published/` here. Unset, the path of this
machine's `published/` is written: right when Power BI runs where the hub does, and a
reminder to set the parameter otherwise.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path, PurePosixPath, PureWindowsPath

from sihub.privacy.tiers import HOME_FOLDER, Tier
from sihub.publishing.star_schema import TableSchema, relationships

FOLDER_ENV = "SIHUB_POWERBI_FOLDER"
PROJECT = "SIHub"
PARAMETER = "FolderPath"
# DuckDB's published types as the model's data types (see published_schema.yaml's header)
DATA_TYPES = {"VARCHAR": "string", "BIGINT": "int64", "INTEGER": "int64", "DOUBLE": "double",
              "BOOLEAN": "boolean", "DATE": "dateTime", "TIMESTAMP": "dateTime"}  # fmt: skip
DEFAULT_FORMATS = {"DATE": "dd mmm yyyy", "TIMESTAMP": "dd mmm yyyy hh:nn:ss", "BIGINT": "0", "INTEGER": "0"}
NAMESPACE = uuid.UUID("6f1c2a52-34a4-4a4e-9a55-0c3f2f5e1d11")  # stable lineage tags across snapshots


def parquet_folder(tier_folder: Path, tier: Tier) -> str:
    """The tier's (stable) Parquet folder as Power BI should open it: below
    `SIHUB_POWERBI_FOLDER` (Windows rules when it looks like a Windows path) or, unset, this
    machine's path (`tier_folder`/parquet)."""
    configured = os.environ.get(FOLDER_ENV, "").strip()
    if not configured:
        return str(tier_folder / "parquet")
    parts = ([] if tier.folder == HOME_FOLDER else [tier.folder]) + ["parquet"]
    windows = configured.startswith("\\\\") or (len(configured) > 1 and configured[1] == ":") or "\\" in configured
    return str((PureWindowsPath if windows else PurePosixPath)(configured).joinpath(*parts))


def write_pbids(folder: Path, parquet: str) -> None:
    """A Power BI data source file opening the Parquet folder (one Folder source: for a table
    per file, open the project instead)."""
    source = {"version": "0.1", "connections": [{"details": {"protocol": "folder", "address": {"path": parquet}}}]}
    (folder / "sihub_parquet.pbids").write_text(json.dumps(source, indent=2), encoding="utf-8")


def _name(name: str) -> str:
    """A TMDL object name: quoted when it is not a plain identifier."""
    return name if name.replace("_", "a").isalnum() and not name[0].isdigit() else "'" + name.replace("'", "''") + "'"


def _tag(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _table(name: str, spec: TableSchema, marking: str) -> str:
    lines = [f"/// {spec.description} ({marking})", f"table {_name(name)}", f"\tlineageTag: {_tag(name)}", ""]
    for column, (duck_type, meaning) in spec.columns.items():
        lines += [f"\t/// {meaning}", f"\tcolumn {_name(column)}", f"\t\tdataType: {DATA_TYPES[duck_type]}"]
        if fmt := spec.formats.get(column, DEFAULT_FORMATS.get(duck_type)):
            lines.append(f"\t\tformatString: {fmt}")
        if column in spec.hidden:
            lines.append("\t\tisHidden")
        lines += [f"\t\tlineageTag: {_tag(name, column)}", "\t\tsummarizeBy: none", f"\t\tsourceColumn: {column}"]
        if column in spec.sort_by:
            lines.append(f"\t\tsortByColumn: {_name(spec.sort_by[column])}")
        if duck_type == "DATE":
            lines += ["", "\t\tannotation UnderlyingDateTimeDataType = Date"]
        lines.append("")
    for measure, m in spec.measures.items():
        lines += [f"\t/// {m.description}", f"\tmeasure {_name(measure)} = {m.expression}"]
        lines.append(f"\t\tlineageTag: {_tag(name, 'measure', measure)}")
        if m.format and m.dynamic_format:  # an object of its own, after the measure's properties
            lines += ["", "\t\tformatStringDefinition = " + m.format]
        elif m.format:
            lines.append(f"\t\tformatString: {m.format}")
        lines.append("")
    source = f'Parquet.Document(File.Contents(Folder & "{name}.parquet"))'
    lines += [
        f"\tpartition {_name(name)} = m",
        "\t\tmode: import",
        "\t\tsource =",
        "\t\t\t\tlet",
        # the folder with its separator, whichever way it was typed
        f'\t\t\t\t    Folder = if Text.EndsWith({PARAMETER}, "\\") or Text.EndsWith({PARAMETER}, "/") '
        f'then {PARAMETER} else {PARAMETER} & "\\",',
        f"\t\t\t\t    Source = {source}",
        "\t\t\t\tin",
        "\t\t\t\t    Source",
        "",
    ]
    return "\n".join(lines)


def _model(schema: dict[str, TableSchema]) -> str:
    lines = ["model Model", "\tculture: en-GB", "\tdefaultPowerBIDataSourceVersion: powerBI_V3",
             "\tsourceQueryCulture: en-GB", "\tdataAccessOptions", "\t\tlegacyRedirects", "\t\treturnErrorValuesAsNull",
             ""]  # fmt: skip
    return "\n".join(lines + [f"ref table {_name(t)}" for t in schema] + [""])


def _relationships(schema: dict[str, TableSchema]) -> str:
    lines = []
    for r in relationships(schema):
        lines += [
            f"relationship {_tag(r.table, r.column, r.to_table, r.to_column)}",
            f"\tfromColumn: {_name(r.table)}.{_name(r.column)}",
            f"\ttoColumn: {_name(r.to_table)}.{_name(r.to_column)}",
            "",
        ]
    return "\n".join(lines)


def _parameter(parquet: str) -> str:
    value = '"' + parquet.replace('"', '""') + '"'
    return "\n".join([
        "/// The folder holding the published Parquet files: set it to the published share as you reach it.",
        f'expression {PARAMETER} = {value} meta [IsParameterQuery=true, Type="Text", IsParameterQueryRequired=true]',
        f"\tlineageTag: {_tag('parameter', PARAMETER)}",
        "",
    ])  # fmt: skip


SCHEMAS = "https://developer.microsoft.com/json-schemas/fabric"
PAGE = "0a1b2c3d4e5f60718293"  # Desktop accepts page ids of 20 lowercase hex digits only


def _platform(kind: str) -> dict:
    return {
        "$schema": f"{SCHEMAS}/gitIntegration/platformProperties/2.0.0/schema.json",
        "metadata": {"type": kind, "displayName": PROJECT},
        "config": {"version": "2.0", "logicalId": _tag("platform", kind)},
    }


def write_project(folder: Path, schema: dict[str, TableSchema], parquet: str, marking: str) -> Path:
    """`folder/powerbi/`: SIHub.pbip, SIHub.SemanticModel (TMDL) and SIHub.Report (one empty
    page, PBIR); returns the .pbip file."""
    root = folder / "powerbi"
    model, report = root / f"{PROJECT}.SemanticModel", root / f"{PROJECT}.Report"
    definition, pages = model / "definition", report / "definition" / "pages"
    files: dict[Path, str | dict] = {
        root / f"{PROJECT}.pbip": {
            "$schema": f"{SCHEMAS}/pbip/pbipProperties/1.0.0/schema.json",
            "version": "1.0", "artifacts": [{"report": {"path": f"{PROJECT}.Report"}}],
            "settings": {"enableAutoRecovery": True},
        },
        model / ".platform": _platform("SemanticModel"),
        model / "definition.pbism": {
            "$schema": f"{SCHEMAS}/item/semanticModel/definitionProperties/1.0.0/schema.json",
            "version": "4.2", "settings": {},
        },
        definition / "database.tmdl": "database\n\tcompatibilityLevel: 1601\n\tcompatibilityMode: powerBI\n",
        definition / "model.tmdl": _model(schema),
        definition / "relationships.tmdl": _relationships(schema),
        definition / "expressions.tmdl": _parameter(parquet),
        report / ".platform": _platform("Report"),
        report / "definition.pbir": {
            "$schema": f"{SCHEMAS}/item/report/definitionProperties/2.0.0/schema.json",
            "version": "4.0", "datasetReference": {"byPath": {"path": f"../{PROJECT}.SemanticModel"}},
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
    files.update({definition / "tables" / f"{t}.tmdl": _table(t, spec, marking) for t, spec in schema.items()})
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        path.write_text(text, encoding="utf-8")  # UTF-8 without a byte-order mark, as Desktop expects
    return root / f"{PROJECT}.pbip"

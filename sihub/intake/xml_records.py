"""Records out of an XML return (the CIN census and its like): one row per record element, a
column per path from it, every value as text, with the line each record starts on.

A contract names the record element by its path under the root (`Children/Child/CINdetails/
Section47`) and each column by a path from the record: `S47ActualStartDate`, `../../
ChildIdentifiers/UPN` (a step up per `..`), `AssessmentFactors/AssessmentFactor` (several
elements: their values joined with `, `), `@code` (an attribute), `.` (the record's own text),
or from the root (`/Header/CollectionDetails/ReferenceDate`, read once for every record).
Namespaces are ignored: tags are matched by their local name.

The file is streamed with expat: only the element holding one record and the ancestors its
columns reach is in memory at a time, so a large return reads in constant memory. A document
type declaration is refused outright (entity expansion and external entities are how XML
files attack their readers); a file that is not well formed is refused with the line and
column where it breaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import pyarrow as pa

LINE = "__line"  # the column of each record's line in the table read
JOIN = ", "


class XmlRejected(Exception):
    """The file cannot be read as the contract's XML; the message is one line, with no values."""


@dataclass(eq=False)
class _Node:
    tag: str
    attrs: dict[str, str]
    line: int
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def value(self) -> str | None:
        text = "".join(self.text).strip()
        return text or None


def _steps(path: str) -> list[str]:
    return [s for s in path.strip().split("/") if s]


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _follow(node: _Node, steps: list[str]) -> tuple[bool, list[str]]:
    """Whether a path from `node` reaches anything, and the values it reaches (blank ones
    left out), in document order."""
    nodes = [node]
    for step in steps:
        if step.startswith("@"):
            found = [n.attrs[step[1:]].strip() for n in nodes if step[1:] in n.attrs]
            return bool(found), [v for v in found if v]
        if step == "..":
            nodes = [n.parent for n in nodes if n.parent is not None]
        elif step != ".":
            nodes = [c for n in nodes for c in n.children if c.tag == step]
        if not nodes:
            return False, []
    return True, [v for n in nodes if (v := n.value()) is not None]


class _Records:
    """The expat handlers: builds one unit (the record's ancestor its columns reach) at a time
    and turns it into rows when it closes."""

    def __init__(self, record: str, columns: list[str]) -> None:
        self.record = _steps(record)
        self.columns = columns
        self.absolute = {c: _steps(c) for c in columns if c.strip().startswith("/")}
        relative = [_steps(c) for c in columns if c not in self.absolute]
        up = max((len([s for s in steps if s == ".."]) for steps in relative), default=0)
        self.unit = self.record[: max(1, len(self.record) - up)]  # the record's ancestor kept whole
        self.path: list[str] = []  # from the root's first child down
        self.node: _Node | None = None  # the element being built inside a unit
        self.context: dict[str, str | None] = {}  # values of absolute paths, from outside any unit
        self.context_text: list[str] | None = None
        self.rows: dict[str, list] = {LINE: [], **{c: [] for c in columns}}
        self.extra: dict[str, list] = {}  # leaf elements of a record that no column reads
        self.read = {s[0] for c in columns if c not in self.absolute and len(s := _steps(c)) == 1}
        self.seen: set[str] = set()  # columns whose path reached an element in some record
        self.depth = 0
        self.parent_seen = False  # the record's parent element met: no record there is an empty return

    def start(self, name: str, attrs: dict[str, str], line: int) -> None:
        tag = _local(name)
        if self.depth > 0:
            self.path.append(tag)
        self.depth += 1
        if self.path == self.record[:-1]:
            self.parent_seen = True
        if self.node is not None:
            child = _Node(tag, {_local(k): v for k, v in attrs.items()}, line, self.node)
            self.node.children.append(child)
            self.node = child
        elif self.path == self.unit:
            self.node = _Node(tag, {_local(k): v for k, v in attrs.items()}, line, None)
        elif any(steps[1:] == self.path for steps in self.absolute.values()):
            self.context_text = []

    def text(self, data: str) -> None:
        if self.node is not None:
            self.node.text.append(data)
        elif self.context_text is not None:
            self.context_text.append(data)

    def end(self, name: str) -> None:
        self.depth -= 1
        if self.node is not None:
            if self.node.parent is None:
                self._rows_of(self.node)
                self.node = None
            else:
                self.node = self.node.parent
        elif self.context_text is not None:
            text = "".join(self.context_text).strip()
            for column, steps in self.absolute.items():
                if steps[1:] == self.path and column not in self.context:
                    self.context[column] = text or None
            self.context_text = None
        if self.path:
            self.path.pop()

    def _rows_of(self, unit: _Node) -> None:
        records = [unit]
        for step in self.record[len(self.unit) :]:
            records = [c for n in records for c in n.children if c.tag == step]
        for record in records:
            n = len(self.rows[LINE])
            self.rows[LINE].append(record.line)
            for column in self.columns:
                if column in self.absolute:
                    reached, value = column in self.context, self.context.get(column)
                else:
                    reached, values = _follow(record, _steps(column))
                    value = JOIN.join(values) if values else None
                self.rows[column].append(value)
                if reached:
                    self.seen.add(column)
            for child in record.children:
                if not child.children and child.tag not in self.read:
                    self.extra.setdefault(child.tag, [None] * n)
            for tag, values in self.extra.items():
                values.append(next((c.value() for c in record.children if c.tag == tag), None))


def _refuse_dtd(*_args: object) -> None:
    raise XmlRejected("an XML document type declaration (DTD) is refused: a return needs none")


def read_records(path: Path, record: str, columns: list[str]) -> pa.Table:
    """The records of `path` as an Arrow table of text: `LINE` first, then each of `columns`
    that reaches an element in some record (one reaching none is missing from the file), then
    any leaf element of a record that no column reads (unexpected)."""
    records = _Records(record, list(dict.fromkeys(columns)))
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = lambda name, attrs: records.start(name, attrs, parser.CurrentLineNumber)
    parser.EndElementHandler = records.end
    parser.CharacterDataHandler = records.text
    try:
        with path.open("rb") as f:
            parser.ParseFile(f)
    except expat.ExpatError as err:
        reason = expat.errors.messages[err.code]
        raise XmlRejected(f"not well-formed XML at line {err.lineno}, column {err.offset + 1}: {reason}") from err
    if not records.rows[LINE] and not records.parent_seen:
        raise XmlRejected(f"no element at {record} (nor its parent): check the contract's source.record")
    found = {c: v for c, v in records.rows.items() if c == LINE or c in records.seen}
    found |= {tag: v for tag, v in records.extra.items() if tag not in found}
    table = pa.table({name: pa.array(values, type=pa.int64() if name == LINE else pa.string())
                      for name, values in found.items()})  # fmt: skip
    return table

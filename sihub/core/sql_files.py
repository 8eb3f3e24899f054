"""Reading the SQL files of `sql/`: a header of `-- key: value` lines, then one query."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = re.compile(r"^--\s*([a-z_0-9]+)\s*:\s*(.*?)\s*$")


class SqlFileError(Exception):
    """A SQL file that cannot be used; the message names the file."""


def read_sql_file(path: Path, required: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """The header (keys in lower case) and the query, without its final semicolon."""
    header: dict[str, str] = {}
    body: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = HEADER.match(line)
        if match and not body:
            header[match.group(1)] = match.group(2)
        elif line.strip() or body:
            body.append(line)
    missing = [k for k in required if k not in header]
    if missing:
        raise SqlFileError(f"{path}: header lacks {', '.join(missing)}")
    return header, "\n".join(body).strip().rstrip(";")

"""Text files written whole: a reader (a browser on a Data Docs page, Power BI on
`current.json`, the data team on a run summary or an alert) sees the old file or the new one,
never half."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> Path:
    """Write `text` beside `path` under a hidden name, then rename it over `path` (one atomic
    rename on the same file system); returns `path`."""
    staged = path.with_name(f".{path.name}.partial")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, path)
    return path

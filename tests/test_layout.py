"""The layout holds: packages import only downwards, core <- privacy <- stages (each only the
stages before it) <- governance operations <- Dagster definitions <- CLI; and every stage
skips unchanged work through the one mechanism."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).parents[1]
# rank of each package; a module may import a module of lower rank, or of its own package
RANKS = {
    "sihub": 0,  # the package itself: an empty __init__
    "sihub.core": 0,
    "sihub.privacy": 1,
    "sihub.intake": 2,
    "sihub.validation": 3,
    "sihub.sharing": 4,
    "sihub.linkage": 5,
    "sihub.metrics": 6,
    "sihub.publishing": 7,
    "governance": 8,
    "sihub.synthetic": 8,  # the generator: beside governance, above every stage, used by the CLI
    "assets": 9,
    "pipelines": 10,
    "pipelines.cli": 11,
}


def package_of(module: str) -> str | None:
    """The longest package of RANKS that holds `module`."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANKS:
            return ".".join(parts[:n])
    return None


def modules() -> dict[str, Path]:
    found = {}
    for top in ("sihub", "governance", "assets", "pipelines"):
        for path in (REPO / top).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (lazy ones included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def upward_imports(found: dict[str, Path]) -> list[str]:
    wrong = []
    for module, path in sorted(found.items()):
        mine = package_of(module)
        assert mine is not None, f"{module} is in no layer: add its package to RANKS"
        for theirs in sorted({package_of(name) for name in imports(path)} - {None, mine}):
            if RANKS[theirs] >= RANKS[mine]:
                wrong.append(f"{module} ({mine}) imports {theirs}")
    return wrong


def test_packages_import_only_downwards() -> None:
    assert upward_imports(modules()) == []


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The check itself fails on planted upward imports: core importing a stage (lazily, in a
    function), and a stage importing a later one."""
    (tmp_path / "bad.py").write_text("def f():\n    from sihub.linkage.link import link\n")
    (tmp_path / "early.py").write_text("from sihub.publishing import publish\n")
    planted = {"sihub.core.bad": tmp_path / "bad.py", "sihub.validation.early": tmp_path / "early.py"}
    assert upward_imports({**modules(), **planted}) == [
        "sihub.core.bad (sihub.core) imports sihub.linkage",
        "sihub.validation.early (sihub.validation) imports sihub.publishing",
    ]


def test_no_stage_writes_its_fingerprint_by_hand() -> None:
    """Skipping unchanged work goes through `skip_if_unchanged` only: no asset reads or
    writes `stage_fingerprints` itself."""
    for path in (REPO / "assets").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "stage_fingerprints" not in text, path.name
    users = [p.name for p in (REPO / "assets").glob("*.py") if "skip_if_unchanged" in p.read_text(encoding="utf-8")]
    assert sorted(users) == ["governed.py", "linked.py", "metrics.py", "published.py"]


def test_a_stage_fingerprints_the_code_it_imports_wherever_it_lives() -> None:
    """Each stage's code fingerprint covers the files its asset module reaches through
    imports (and the YAML beside them), not folder names: linkage's covers the linkage code
    and not publishing's; publication's covers the pack writer and the published schema."""
    from sihub.core.change_tracking import code_files

    linked = {p.relative_to(REPO).as_posix() for p in code_files("assets.linked")}
    published = {p.relative_to(REPO).as_posix() for p in code_files("assets.published")}
    assert {"assets/linked.py", "sihub/linkage/link.py", "sihub/linkage/views.py", "sihub/core/db.py"} <= linked
    assert not any(p.startswith("sihub/publishing/") for p in linked)
    assert {
        "sihub/publishing/ssag_pack.py",
        "sihub/publishing/published_schema.yaml",
        "sihub/privacy/disclosure.py",
    } <= published
    assert "sihub/linkage/link.py" not in published

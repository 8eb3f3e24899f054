"""The `sihub` command line: what an analyst types to run the hub."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.paths import HubPaths

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


def _generate(scale: Scale, seed: int, out: Path | None, defect_rate: float) -> None:
    from synthetic.generate import generate  # heavy imports only when asked for

    paths = HubPaths.from_env()
    with console.status(f"Generating {scale.value} synthetic partner extracts…") as status:
        result = generate(
            scale.value,
            seed,
            out or paths.landing,
            defect_rate=defect_rate,
            progress=lambda step: status.update(f"Generating {scale.value}: {step}"),
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


SCALE_HELP = (
    "small: a few thousand children (seconds); county: ~200,000 children, five years; national: 50x county."
)
ScaleOption = Annotated[Scale, typer.Option(help=SCALE_HELP)]
SeedOption = Annotated[int, typer.Option(help="Same seed, same bytes.")]


@app.command()
def generate(
    scale: ScaleOption = Scale.small,
    seed: SeedOption = 1,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the extracts (default: $SIHUB_HOME/landing).")
    ] = None,
    defect_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of rows given a planted defect.")
    ] = 0.01,
) -> None:
    """Write synthetic partner extracts (CSV and Excel) with their truth and defect manifest."""
    _generate(scale, seed, out, defect_rate)


@app.command()
def demo(scale: ScaleOption = Scale.small, seed: SeedOption = 1) -> None:
    """Run the hub end to end on synthetic data and say where everything is."""
    _generate(scale, seed, None, 0.01)

"""The metric dictionary, generated for each snapshot.

`metric_dictionary.md` / `.html`: every metric's definition from the catalogue's headers,
the disclosure-control rule in force, and every published table's columns from the
documented schema, so that what readers see is what the code does.
"""

from __future__ import annotations

import html
from pathlib import Path

from sihub.metrics.catalogue import Metric
from sihub.privacy.disclosure import Policy
from sihub.privacy.tiers import Tier
from sihub.publishing.star_schema import TableSchema, relationships


def _rest(m: Metric) -> str:
    """What the rest of the denominator is, and whether it is protected as a count."""
    if m.complement:
        return f"{m.complement} (protected like the numerator)"
    if m.denominator_type == "count":
        return "not protected on its own (rows of data, or the numerator is no part of the denominator)"
    return "not a count (the denominator is a population estimate)"


def _history(m: Metric) -> str:
    if not m.history_months:
        return "none: each month's figure reads that month's records only"
    return (
        f"{m.history_months} months before the period; earlier periods are 'no data' (their count "
        "could not see its whole window)"
    )


def _metric_lines(m: Metric, policy: Policy) -> list[tuple[str, str]]:
    thresholds = f"amber at {m.thresholds.amber:g}, red at {m.thresholds.red:g}" if m.thresholds else "none"
    counts = {"population": "numerator", "count": "numerator and denominator"}[m.denominator_type]
    if m.complement:  # a complement needs a counted denominator (`catalogue._complement`)
        counts = "numerator, denominator and their difference"
    return [
        ("Definition", m.description),
        ("Unit", m.unit),
        ("Numerator", m.numerator),
        ("Denominator", f"{m.denominator} ({m.denominator_type})"),
        ("Denominator less numerator", _rest(m)),
        ("Value", f"numerator × {m.multiplier:g} / denominator"),
        ("Over a period", "the sum of its months" if m.aggregation == "flow" else "the last month's value"),
        ("History needed", _history(m)),
        ("Sources", ", ".join(m.sources)),
        ("Polarity", m.polarity),
        ("Thresholds (rag)", thresholds if m.thresholds else "none: districts and localities against the county"),
        ("Threshold source", m.thresholds.source if m.thresholds else "none"),
        ("Owner", m.owner),
        ("Suppression", f"{counts} from 1 to {policy.threshold} hidden, with complementary cells ({policy.name})"),
        ("SQL", f"sql/{m.path.name}"),
    ]


def write_dictionary(folder: Path, metrics: list[Metric], schema: dict[str, TableSchema], tier: Tier) -> None:
    """metric_dictionary.md and metric_dictionary.html in `folder`, under the tier's marking."""
    policy = tier.policy
    md = [f"**{tier.label}**", "", "# Metric dictionary", "", f"Disclosure control: {policy.description}", "",
          "## Metrics", ""]  # fmt: skip
    page = ["<!doctype html><meta charset='utf-8'><title>Metric dictionary</title>",
            f"<p><strong>{html.escape(tier.label)}</strong></p>", "<h1>Metric dictionary</h1>",
            f"<p>Disclosure control: {html.escape(policy.description)}</p>", "<h2>Metrics</h2>"]  # fmt: skip
    for theme in sorted({m.theme for m in metrics}):
        md += [f"### {theme}", ""]
        page.append(f"<h3>{html.escape(theme)}</h3>")
        for m in (m for m in metrics if m.theme == theme):
            lines = _metric_lines(m, policy)
            md += [f"#### {m.title} (`{m.id}`)", ""] + [f"- **{k}**: {v}" for k, v in lines] + [""]
            rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in lines)
            page.append(f"<h4 id='{m.id}'>{html.escape(m.title)} <code>{m.id}</code></h4><table>{rows}</table>")
    links = [str(r) for r in relationships(schema)]
    md += ["## Tables", "", "Relationships:", ""] + [f"- {r}" for r in links] + [""]
    page += ["<h2>Tables</h2><ul>"] + [f"<li>{html.escape(r)}</li>" for r in links] + ["</ul>"]
    for table, spec in schema.items():
        md += [f"### {table}", "", spec.description, "", "| column | type | meaning |", "| --- | --- | --- |"]
        md += [f"| {c} | {t} | {meaning} |" for c, (t, meaning) in spec.columns.items()] + [""]
        rows = "".join(f"<tr><td>{c}</td><td>{t}</td><td>{html.escape(meaning)}</td></tr>"
                       for c, (t, meaning) in spec.columns.items())  # fmt: skip
        page.append(f"<h3>{table}</h3><p>{html.escape(spec.description)}</p><table>{rows}</table>")
    (folder / "metric_dictionary.md").write_text("\n".join(md), encoding="utf-8")
    (folder / "metric_dictionary.html").write_text("\n".join(page), encoding="utf-8")

"""The Safeguarding Intelligence Hub's library: a small core, the privacy building blocks, and one
package per stage of the data flow (intake, validation, sharing, linkage, metrics, publishing).
Nothing here imports Dagster; `assets/` and `pipelines/` put it on the Dagster graph."""

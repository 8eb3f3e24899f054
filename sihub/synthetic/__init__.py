"""Synthetic partner extracts: one population of children drives every partner's files.

Real partner data can never be in the repository, so tests, the demo and benchmarks run on
these files. They come with the truth (which record is which child) and a manifest of the
defects planted in them, written outside the landing area.
"""

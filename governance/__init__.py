"""Information-governance operations over the stages' data: the data-sharing agreements
register, the audit log, retention and subject access. The privacy building blocks the
stages use (pseudonymisation, identifiers, disclosure control, leak guard) are `sihub.privacy`."""

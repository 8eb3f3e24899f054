"""Information governance: classification, identifiers, pseudonymisation, agreements, audit."""

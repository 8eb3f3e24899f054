"""Core of the Safeguarding Intelligence Hub: paths, reference data and shared machinery."""

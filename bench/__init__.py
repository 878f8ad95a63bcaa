"""Load generators for the ALPR server; see bench/README.md."""

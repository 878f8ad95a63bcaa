"""Pure, dependency-free helpers shared across the ALPR server (plates, regions)."""

"""Small datasets for examples and tests (offline)."""

"""Wrappers for other libraries' APIs (scikit-learn)."""

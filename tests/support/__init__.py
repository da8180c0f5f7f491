"""Helpers, harnesses and handler plugins shared by the tests (nothing here is collected)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The project's root: README.md, examples/, deploy/ ..."""

"""Helpers for scripts/bench (standard library only, except chart.py, which runs in the bench venv)."""

"""A realistic small Django site for scripts/bench's scenario 9 (memory and replacement speed).

The contrib apps (admin, auth, contenttypes, sessions, messages, staticfiles), templates with
inheritance, a form with CSRF, the admin's login page, and ORM views on SQLite. The database
is created and filled at import (wsgi.py), once per file: see db.py.

Run it (the parent folder, scripts/bench-apps, on the import path):
  ebb --http-socket :8000 --pythonpath scripts/bench-apps --module djsite.wsgi:application
  uwsgi --http-socket :8000 --pythonpath scripts/bench-apps --module djsite.wsgi:application
  gunicorn --chdir scripts/bench-apps djsite.wsgi:application
"""

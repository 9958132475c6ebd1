"""WSGI entry point: djsite.wsgi:application (the database is made ready first)."""

import os

from djsite import db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")
db.database_path()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
db.ensure_database()

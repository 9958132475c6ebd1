"""Stand-in for a Django project's WSGI module (fixture for tests/config/ini/django-nginx.ini)."""

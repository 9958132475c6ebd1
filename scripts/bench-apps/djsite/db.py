"""The site's SQLite database: created and filled at startup, once per file.

Under a lock on FILE.lock, so that workers importing the site at the same moment (a server that
imports the app in each worker) create it once; the others find it ready. The connection is
closed afterwards: a server that imports the app once and forks its workers must not hand one
open SQLite connection to all of them.
"""

import datetime
import fcntl
import os
import tempfile


def database_path():
    """BENCH_DJSITE_DB, or a file in a new temporary folder (set in the environment, so that
    settings.py reads it)."""
    path = os.environ.get("BENCH_DJSITE_DB")
    if not path:
        path = os.path.join(tempfile.mkdtemp(prefix="djsite-"), "db.sqlite3")
        os.environ["BENCH_DJSITE_DB"] = path
    return path


def ensure_database():
    from django.core.management import call_command
    from django.db import connection, connections

    path = os.environ["BENCH_DJSITE_DB"]
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if "djsite_article" not in connection.introspection.table_names():
                call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)
                _fill()
        finally:
            connections.close_all()
            fcntl.flock(lock, fcntl.LOCK_UN)


WORDS = ("worker process memory fork import server request thread recycle reload queue "
         "socket signal drain ready master python django template model view").split()


def _fill():
    from django.contrib.auth.models import User
    from django.db import transaction

    from .models import Article, Author

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    with transaction.atomic():
        user = User(username="admin", email="admin@example.com", is_staff=True,
                    is_superuser=True)
        user.set_unusable_password()       # hashing a password would take half a second
        user.save()
        authors = [Author.objects.create(name="Author %d" % i, email="a%d@example.com" % i)
                   for i in range(8)]
        for i in range(120):
            words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(60)]
            Article.objects.create(
                author=authors[i % len(authors)], title=" ".join(words[:6]).capitalize(),
                slug="article-%d" % i, body=" ".join(words) + ".",
                published=start + datetime.timedelta(hours=7 * i), views=(i * 37) % 1000)

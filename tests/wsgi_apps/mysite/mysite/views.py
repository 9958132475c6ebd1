import os

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse(
        "hello from django settings=%s lang=%s pid=%d\n"
        % (settings.SETTINGS_NAME, os.environ.get("LANG", ""), os.getpid()),
        content_type="text/plain",
    )


@csrf_exempt
def form(request):
    if request.method != "POST":
        return HttpResponse("POST a form here\n", status=405, content_type="text/plain")
    fields = " ".join("%s=%s" % (k, request.POST[k]) for k in sorted(request.POST))
    return HttpResponse("posted %s\n" % fields, content_type="text/plain")


def protected(request):
    """Not csrf-exempt: a POST without a token is refused by Django (403)."""
    return HttpResponse("should not get here on a POST without a CSRF token\n",
                        content_type="text/plain")

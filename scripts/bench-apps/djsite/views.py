"""The site's views: a template page, ORM pages (list, detail, JSON), a form with CSRF, and
/pid (which worker answered, in plain text)."""

import os

from django import forms
from django.contrib import messages
from django.db.models import Count, Sum
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from .models import Article, Author

FEATURES = [
    {"name": name, "score": (i * 37) % 100, "tags": ["tag%d" % (i % 5), "tag%d" % (i % 7)],
     "description": "The %s feature keeps the %s running while workers come and go." % (
         name, ("site", "shop", "blog", "API")[i % 4])}
    for i, name in enumerate(("recycling", "draining", "reloading", "job tracking", "harakiri",
                              "watchdog", "static files", "access log", "stats", "metrics",
                              "control socket", "master fifo", "systemd notify", "touch reload",
                              "uwsgi protocol", "process titles", "log rotation", "scaling",
                              "max surge", "lost-work log"))
]


def index(request):
    return render(request, "djsite/index.html", {"features": FEATURES, "title": "ebb bench"})


def articles(request):
    items = Article.objects.select_related("author")[:25]
    stats = Article.objects.aggregate(total=Count("id"), views=Sum("views"))
    authors = Author.objects.annotate(n=Count("articles")).order_by("name")
    return render(request, "djsite/articles.html",
                  {"articles": items, "stats": stats, "authors": authors, "title": "Articles"})


def article(request, slug):
    item = get_object_or_404(Article.objects.select_related("author"), slug=slug)
    return render(request, "djsite/article.html", {"article": item, "title": item.title})


def api_articles(request):
    rows = list(Article.objects.values("id", "title", "slug", "views", "author__name")[:30])
    return JsonResponse({"count": len(rows), "articles": rows})


class ContactForm(forms.Form):
    name = forms.CharField(max_length=100)
    email = forms.EmailField()
    topic = forms.ChoiceField(choices=[("bug", "Bug"), ("idea", "Idea"), ("other", "Other")])
    message = forms.CharField(widget=forms.Textarea, max_length=2000)


def contact(request):
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        messages.success(request, "Thank you, %s." % form.cleaned_data["name"])
    return render(request, "djsite/contact.html", {"form": form, "title": "Contact"})


def pid(request):
    return HttpResponse("%d\n" % os.getpid(), content_type="text/plain")

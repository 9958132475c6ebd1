from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("articles/", views.articles, name="articles"),
    path("articles/<slug:slug>/", views.article, name="article"),
    path("api/articles.json", views.api_articles, name="api-articles"),
    path("contact/", views.contact, name="contact"),
    path("pid", views.pid, name="pid"),
    path("admin/", admin.site.urls),
]

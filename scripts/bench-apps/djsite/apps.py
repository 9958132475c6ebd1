from django.apps import AppConfig


class DjsiteConfig(AppConfig):
    name = "djsite"
    default_auto_field = "django.db.models.BigAutoField"

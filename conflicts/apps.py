from django.apps import AppConfig


class ConflictsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'conflicts'

from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'channels'

    def ready(self):
        from . import checks  # noqa: F401 (registers the deployment checks)

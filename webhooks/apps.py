from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"
    verbose_name = "Shopify webhooks"

    def ready(self) -> None:
        from outbox.kinds import outbox_kind_register

        from . import admin  # noqa: F401
        from .inbox import WEBHOOK_BACKGROUND_EVENT, WEBHOOK_EVENT

        outbox_kind_register(kind=WEBHOOK_EVENT)  # order topics: the order lane (``webhooks``)
        outbox_kind_register(kind=WEBHOOK_BACKGROUND_EVENT)  # every other topic: the ``default`` lane
        # The app's own lifecycle topic: the shop uninstalled the app, so its connection is disabled. The apps
        # above register their topics (inventory: orders and stock; conflicts: products) in their ready().
        from .topics import webhook_topic_register
        from .uninstall import app_uninstalled_handle

        webhook_topic_register(topic="app/uninstalled", handler=app_uninstalled_handle)
        # A bulk operation ended: the bulk publish run that started it steps now (issue 17).
        from .bulk_finish import bulk_operations_finish_handle

        webhook_topic_register(topic="bulk_operations/finish", handler=bulk_operations_finish_handle)

from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "channels"

    def ready(self) -> None:
        from pim.admin_extensions import product_admin_extend

        from .product_admin import extension

        product_admin_extend(extension=extension())

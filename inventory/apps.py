from django.apps import AppConfig


class InventoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from channels.selectors import HEALTH_SECTIONS

        from .selectors import inventory_health_section

        if inventory_health_section not in HEALTH_SECTIONS:
            HEALTH_SECTIONS.append(inventory_health_section)

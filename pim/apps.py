from django.apps import AppConfig


class PimConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pim"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "PIM for Shopify"
        admin.site.site_title = "PIM"
        admin.site.index_title = "Catalog, stores and sync"
        # The PIM has no public site of its own: "View site" would lead to a 404.
        admin.site.site_url = None

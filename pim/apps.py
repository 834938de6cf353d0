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

        # Categories (issue 19) add an inline, a column, a filter and bulk actions to the product admin.
        from .admin_extensions import product_admin_extend
        from .categories_admin import extension

        product_admin_extend(extension=extension())

"""URL routes: the admin, the django-rq dashboard and the Shopify webhook endpoint."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "PIM for Shopify"
admin.site.site_title = "PIM admin"
admin.site.index_title = "Catalog, stores and sync"

urlpatterns = [
    path("shopify/", include("webhooks.urls")),
    path("admin/rq/", include("config.rq_urls")),
    path("admin/", admin.site.urls),
]

"""Routes of the inventory app (the Shopify webhook endpoint, mounted under ``shopify/``)."""

from django.urls import path

from . import views

app_name = "inventory"

urlpatterns = [
    path("webhooks/", views.shopify_webhook, name="shopify_webhook"),
]

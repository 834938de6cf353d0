"""Routes of the webhooks app (the Shopify webhook endpoint, mounted under ``shopify/``)."""

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks/", views.shopify_webhook, name="shopify_webhook"),
]

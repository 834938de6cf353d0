"""Routes of the inventory app (the Shopify webhook endpoint)."""

from django.urls import path

urlpatterns: list = []

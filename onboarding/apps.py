from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    """Top layer: reconcile a store's existing Shopify catalog with the PIM, import CSV exports and extras."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "onboarding"
    verbose_name = "Onboarding"

"""What translations add to the admin (issue 19): the product page's per-store fallback panel, the stores'
locales and the translation jobs (read-only, with replay)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from outbox.admin import OutboxRowAdmin
from pim.admin_extensions import ProductAdminExtension

from .models import StoreLocale, TranslationSyncJob
from .translations import product_translation_fallbacks


def translations_panel(request, product) -> str:
    """Per store: the enabled locales where the product shows the default language (missing translations)."""
    if product.pk is None:
        return ""
    rows = product_translation_fallbacks(product=product)
    if not rows:
        return ""
    items = format_html_join("", "<li>{} · {}: {} fall back to the default language</li>",
                             ((store, locale, ", ".join(missing)) for store, locale, missing in rows))
    return format_html("<h2>Translations</h2><ul>{}</ul>", items)


def extension() -> ProductAdminExtension:
    return ProductAdminExtension(name="translations", panel=translations_panel)


@admin.register(StoreLocale)
class StoreLocaleAdmin(admin.ModelAdmin):
    list_display = ("store", "locale", "name", "primary", "published", "fetched_at")
    list_filter = ("store", "published")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TranslationSyncJob)
class TranslationSyncJobAdmin(OutboxRowAdmin):
    outbox_kind = "translation_job"
    replay_permission = "channels.replay_syncjob"
    list_display = ("id", "store", "product", "status", "attempts", "registered", "result", "created_at")
    list_filter = ("status", "store")
    list_select_related = ("store", "product")


from django.apps import AppConfig


class ConflictsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "conflicts"
    verbose_name = "Conflicts"

    def ready(self) -> None:
        from django.urls import reverse

        from channels.hooks import DriftHooks, drift_hooks_register
        from outbox.periodic import periodic_task_register

        from . import recording
        from . import services as conflict_services
        from .collection_drift import collection_drift_check
        from .compare import publish_compare
        from .sweep import drift_sweep_schedule

        drift_hooks_register(hooks=DriftHooks(compare=publish_compare, decide=recording.policy_decide,
                                              record=recording.publish_policy_record,
                                              after_write=recording.drift_after_publish,
                                              collection_membership=collection_drift_check))
        periodic_task_register(name="nightly drift sweep",
                               task=lambda: "queued" if drift_sweep_schedule() else None)

        from webhooks.topics import webhook_topic_register

        webhook_topic_register(topic="products/update", handler=conflict_services.product_update_webhook_handle,
                               prefetch=conflict_services.product_update_webhook_prefetch)
        webhook_topic_register(topic="products/delete", handler=conflict_services.products_delete_webhook_handle)

        from pim.admin_extensions import (
            DashboardCounter,
            ProductAdminExtension,
            dashboard_counter_register,
            product_admin_extend,
        )

        from .admin import OpenConflictsFilter
        from .models import Conflict

        product_admin_extend(extension=ProductAdminExtension(name="conflicts", list_filters=(OpenConflictsFilter,)))

        def open_conflicts(request):
            if not request.user.has_perm("conflicts.view_conflict"):
                return None
            return Conflict.objects.filter(status__in=Conflict.OPEN_STATUSES).count()

        dashboard_counter_register(key="conflicts_open", counter=DashboardCounter(
            "Open conflicts (Shopify-side edits to review)", open_conflicts,
            lambda: reverse("admin:conflicts_conflict_changelist") + "?status__exact=open", order=10))

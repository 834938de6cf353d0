from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "channels"
    verbose_name = "Stores and publishing"

    def ready(self) -> None:
        from django.urls import reverse

        from pim.admin_extensions import DashboardCounter, dashboard_counter_register, product_admin_extend

        from . import checks  # noqa: F401 (registers the deployment checks)
        from .models import SyncJob
        from .product_admin import extension

        product_admin_extend(extension=extension())

        # The durable work of this app: publish jobs, collection membership jobs, translation jobs (issue 14).
        from outbox.kinds import outbox_kind_register

        from .collections import COLLECTION_JOB
        from .services import SYNC_JOB
        from .translations import TRANSLATION_JOB

        for kind in (SYNC_JOB, COLLECTION_JOB, TRANSLATION_JOB):
            outbox_kind_register(kind=kind)
        from outbox.periodic import periodic_task_register

        from .monitoring import alerts_check_when_due
        from .publish_modes import publish_batches_run

        periodic_task_register(name="alerts", task=alerts_check_when_due)
        periodic_task_register(name="scheduled publish batches",
                               task=lambda: f"{n} job(s) queued" if (n := publish_batches_run()) else None)

        from pim.hooks import catalog_changed_register

        from .services import sync_jobs_record_for_products

        catalog_changed_register(handler=sync_jobs_record_for_products)

        # Issue 19: category changes keep mapped collections in step.
        from pim.categories import category_changes_hook_register

        from .collections import collections_on_category_changes

        category_changes_hook_register(name="collections", hook=collections_on_category_changes)
        from .assignment_rules import assignment_rules_on_category_changes

        category_changes_hook_register(name="assignment_rules", hook=assignment_rules_on_category_changes)
        from pim.translations import translation_changes_hook_register

        from .translations import translations_on_change

        translation_changes_hook_register(name="translations", hook=translations_on_change)
        from . import assignment_rules_admin, bulk_publish_admin, collections_admin  # noqa: F401 (register their admins)
        from .translations_admin import extension as translations_extension

        product_admin_extend(extension=translations_extension())

        def dead_letters(request):
            if not request.user.has_perm("channels.view_syncjob"):
                return None
            return SyncJob.objects.filter(status=SyncJob.Status.DEAD).count()

        def waiting(request):
            if not request.user.has_perm("channels.view_syncjob"):
                return None
            return SyncJob.objects.filter(status__in=[SyncJob.Status.PENDING, SyncJob.Status.RUNNING]).count()

        dashboard_counter_register(key="sync_dead", counter=DashboardCounter(
            "Publish jobs dead-lettered (replay them)", dead_letters,
            lambda: reverse("admin:channels_syncjob_changelist") + "?status__exact=dead", order=20))
        dashboard_counter_register(key="sync_waiting", counter=DashboardCounter(
            "Publish jobs waiting", waiting,
            lambda: reverse("admin:channels_syncjob_changelist") + "?status__exact=pending", order=40,
            problem_when_nonzero=False))

from django.apps import AppConfig


class InventoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from webhooks.topics import webhook_topic_register

        from .selectors import ORDER_TOPICS
        from .topics import TOPIC_HANDLERS, TOPIC_PREFETCH

        for topic, handler in TOPIC_HANDLERS.items():  # orders, refunds, fulfillment orders, inventory levels
            # The order lane (issue 15): the order topics, and the stock level topics (no network: they only
            # note an echo or schedule a delayed check; processed late, a check would compare Shopify with the
            # PIM while later orders are still in flight).
            webhook_topic_register(topic=topic, handler=handler, prefetch=TOPIC_PREFETCH.get(topic),
                                   urgent=topic in ORDER_TOPICS or topic.startswith("inventory_levels/"))

        from channels.connect import connect_step_register
        from channels.health import health_provider_register
        from channels.monitoring import alert_check_register

        from .subscriptions import connect_steps, inventory_alerts_check, webhook_subscriptions_health_lines

        health_provider_register(name="webhook subscriptions", provider=webhook_subscriptions_health_lines)

        from .catchup import order_watermark_health_lines

        health_provider_register(name="order watermark", provider=order_watermark_health_lines)
        alert_check_register(name="inventory", check=inventory_alerts_check)
        connect_step_register(name="locations and webhooks", step=connect_steps)

        # The durable work of this app, on the ``inventory`` lane (issue 14): pushes, then reconciliation runs.
        from outbox.kinds import outbox_kind_register

        from .push_runs import INVENTORY_PUSH
        from .reconciliation import RECONCILIATION_RUN
        from .sync_sets import INVENTORY_SYNC_SET, inventory_sync_runs_finish

        # A full sync's sets are a kind of their own on ``default`` (issue 15: batches that yield to the order lane).
        for kind in (INVENTORY_PUSH, RECONCILIATION_RUN, INVENTORY_SYNC_SET):
            outbox_kind_register(kind=kind)
        from outbox.periodic import periodic_task_register

        from .catchup import order_watermarks_sweep
        from .reconciliation import reconciliation_health_lines, reconciliation_sweep_task
        from .subscriptions import webhook_subscriptions_sweep
        from .sweep import inventory_missing_sets_request

        periodic_task_register(name="inventory", also_once=True,
                               task=lambda: f"{n} set(s) queued" if (n := inventory_missing_sets_request()) else None)
        periodic_task_register(name="webhook subscriptions", also_once=True,
                               task=lambda: f"{n} store check(s) queued" if (n := webhook_subscriptions_sweep()) else None)
        periodic_task_register(name="orders", also_once=True,
                               task=lambda: f"{n} gap replay(s) queued" if (n := order_watermarks_sweep()) else None)
        periodic_task_register(name="full inventory syncs", also_once=True,
                               task=lambda: f"{n} run(s) finished" if (n := inventory_sync_runs_finish()) else None)
        periodic_task_register(name="inventory reconciliation", task=reconciliation_sweep_task)  # note: runs created
        health_provider_register(name="inventory reconciliation", provider=reconciliation_health_lines)

        from .product_admin import register_product_admin

        register_product_admin()

        from pim.admin_extensions import VariantAdminExtension, variant_admin_extend

        from .admin import StockLevelInline, variant_units_sold

        # The variant page shows its stock and units sold (the pim app does not know about inventory).
        variant_admin_extend(extension=VariantAdminExtension(name="inventory", inlines=(StockLevelInline,),
                                                             readonly_fields=(variant_units_sold,)))

        from channels.health import HealthLine

        from .selectors import inventory_health_section

        health_provider_register(name="inventory backlog", provider=lambda store: [
            HealthLine(label, value) for label, value in inventory_health_section(store)])

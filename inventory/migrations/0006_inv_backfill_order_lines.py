"""Link the order movements recorded before order lines existed to ``ShopifyOrderLine`` rows with the facts they
imply (units sold, refund lines, matched variant), so the next webhook of such an order reconciles against them
instead of booking the sale again."""

import re

from django.db import migrations

REF = re.compile(r"^shopify:(?P<shop>[^:]+):order:(?P<order>\d+):line:(?P<line>\d+):(?P<rest>.+)$")
RESTOCK = re.compile(r"^restock-(?P<type>[a-z_]+):(?P<refund>\d+):(?P<rli>\d+)$")


def backfill(apps, schema_editor):
    StockMovement = apps.get_model("inventory", "StockMovement")
    ShopifyOrder = apps.get_model("inventory", "ShopifyOrder")
    ShopifyOrderLine = apps.get_model("inventory", "ShopifyOrderLine")
    lines = {}
    movements = StockMovement.objects.filter(order_line__isnull=True, source_ref__startswith="shopify:").iterator()
    for movement in movements:
        match = REF.match(movement.source_ref)
        if not match:
            continue
        key = (match["shop"], match["order"], match["line"])
        line = lines.get(key)
        if line is None:
            order, _ = ShopifyOrder.objects.get_or_create(shop_domain=match["shop"], order_id=match["order"],
                                                          defaults={"store_id": movement.store_id})
            line, _ = ShopifyOrderLine.objects.get_or_create(
                order=order, line_id=match["line"],
                defaults={"store_id": movement.store_id, "variant_id": movement.variant_id, "match": "matched",
                          "quantity": 0, "in_create": True, "created_at": movement.created_at,
                          "sku": getattr(movement.variant, "sku", "")})
            lines[key] = line
        rest = match["rest"]
        if rest == "sale":
            line.quantity = (line.quantity or 0) - movement.quantity
        restock = RESTOCK.match(rest)
        if restock:
            line.refund_lines[restock["rli"]] = {"refund": restock["refund"], "quantity": movement.quantity,
                                                 "type": restock["type"], "location": ""}
        StockMovement.objects.filter(pk=movement.pk).update(order_line=line)
    for line in lines.values():
        line.save()


class Migration(migrations.Migration):
    dependencies = [("inventory", "0005_inv_orders_lines_settings")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

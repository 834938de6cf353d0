"""Drift snapshots keyed their variants by SKU, which breaks for several SKU-less (or shared-SKU) variants of one
product adopted from a store. Re-key every stored snapshot by the PIM variant id, keeping each variant's SKU inside
its entry (issue 14, field registry). A variant whose SKU matches no single variant of the product is dropped from
the snapshot (the next publish writes it again). The hash is recomputed when it was the hash of the old snapshot,
so an unchanged product is still skipped without a call."""

import hashlib
import json
from collections import Counter

from django.db import migrations


def _hash(snapshot, publications):
    value = {**snapshot, "_publications": publications} if publications else snapshot
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def rekey(apps, schema_editor):
    ChannelAssignment = apps.get_model("channels", "ChannelAssignment")
    Variant = apps.get_model("pim", "Variant")
    rows = ChannelAssignment.objects.exclude(published_snapshot={}).select_related("store")
    for assignment in rows.iterator(chunk_size=500):
        snapshot = assignment.published_snapshot or {}
        variants = snapshot.get("variants")
        if not isinstance(variants, dict) or all("sku" in entry for entry in variants.values()):
            continue
        pairs = list(Variant.objects.filter(product_id=assignment.product_id).values_list("sku", "pk"))
        counts = Counter(sku for sku, _ in pairs)
        by_sku = {sku: pk for sku, pk in pairs if sku and counts[sku] == 1}
        rekeyed = {}
        for sku, entry in variants.items():
            if sku in by_sku:
                rekeyed[str(by_sku[sku])] = {"sku": sku, **entry}
        publications = list(assignment.store.publications or [])
        was_current = assignment.published_hash == _hash(snapshot, publications)
        new = {**snapshot, "variants": rekeyed}
        ChannelAssignment.objects.filter(pk=assignment.pk).update(
            published_snapshot=new, published_hash=_hash(new, publications) if was_current else "")


def unkey(apps, schema_editor):
    ChannelAssignment = apps.get_model("channels", "ChannelAssignment")
    for assignment in ChannelAssignment.objects.exclude(published_snapshot={}).iterator(chunk_size=500):
        snapshot = assignment.published_snapshot or {}
        variants = snapshot.get("variants")
        if not isinstance(variants, dict):
            continue
        old = {}
        for entry in variants.values():
            entry = dict(entry)
            sku = entry.pop("sku", "")
            old[sku] = entry
        ChannelAssignment.objects.filter(pk=assignment.pk).update(
            published_snapshot={**snapshot, "variants": old}, published_hash="")


class Migration(migrations.Migration):
    dependencies = [("channels", "0009_cat_translations"), ("pim", "0007_cat_translations")]
    operations = [migrations.RunPython(rekey, unkey)]

"""Generate a realistic sample catalog with bulk inserts (used by seed_catalog, the demo and benchmarks)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from simple_history.utils import bulk_create_with_history

from .models import Product, ProductAttribute, ProductImage, Variant
from .services import handle_from_title

COLOURS = ["Black", "White", "Navy", "Heather Grey", "Forest Green", "Burgundy", "Sand", "Sky Blue", "Rust"]
SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
APPAREL = [
    ("T-Shirt", "Tees", Decimal("24.00")),
    ("Hoodie", "Hoodies", Decimal("59.00")),
    ("Crewneck Sweater", "Knitwear", Decimal("69.00")),
    ("Chino Shorts", "Shorts", Decimal("45.00")),
    ("Rain Jacket", "Outerwear", Decimal("129.00")),
    ("Rib Beanie", "Accessories", Decimal("19.00")),
]
SIMPLE = [
    ("Ceramic Mug", "Homeware", Decimal("16.00")),
    ("Canvas Tote", "Bags", Decimal("22.00")),
    ("Art Print", "Posters", Decimal("35.00")),
    ("Enamel Pin", "Accessories", Decimal("9.00")),
    ("Water Bottle", "Homeware", Decimal("28.00")),
]
ADJECTIVES = ["Classic", "Organic", "Heavyweight", "Relaxed", "Vintage", "Essential", "Coastal", "Alpine", "Urban"]
NOUNS = ["Harbor", "Summit", "Meadow", "Drift", "Ember", "Tidal", "Pine", "Granite", "Willow", "Aurora"]
VENDORS = ["Northwind Apparel", "Fjord & Co", "Lumen Goods", "Saltwater Supply", "Atlas Outfitters"]
MATERIALS = ["100% organic cotton", "80% cotton, 20% recycled polyester", "Merino wool", "Recycled nylon"]


@dataclass
class SeedResult:
    products: int
    variants: int
    images: int
    attributes: int


def catalog_seed(
    *,
    products: int,
    seed: int = 1,
    batch_size: int = 1000,
    workflow_state: str = Product.Workflow.READY,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Insert ``products`` generated products (about 4 variants each on average) with bulk inserts.

    Handles and SKUs never collide with what is already in the catalog, so the command can be run again.
    History rows are written in bulk too, with the change reason "Seeded".
    """
    rng = random.Random(seed)
    taken_handles = set(Product.objects.values_list("handle", flat=True))
    start = Product.objects.count()
    totals = SeedResult(0, 0, 0, 0)
    for batch_start in range(0, products, batch_size):
        count = min(batch_size, products - batch_start)
        with transaction.atomic():
            batch = _seed_batch(
                rng=rng,
                count=count,
                offset=start + batch_start,
                seed=seed,
                taken_handles=taken_handles,
                workflow_state=workflow_state,
            )
        totals.products += batch.products
        totals.variants += batch.variants
        totals.images += batch.images
        totals.attributes += batch.attributes
        if progress:
            progress(count)
    return totals


def _seed_batch(
    *, rng: random.Random, count: int, offset: int, seed: int, taken_handles: set[str], workflow_state: str
) -> SeedResult:
    product_rows: list[Product] = []
    plans: list[tuple[list[str], list[str], Decimal, bool]] = []
    for _ in range(count):
        apparel = rng.random() < 0.7
        name, ptype, base_price = rng.choice(APPAREL if apparel else SIMPLE)
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {name}"
        handle = base = handle_from_title(title=title)
        suffix = 1
        while handle in taken_handles:
            handle = f"{base}-{suffix}"
            suffix += 1
        taken_handles.add(handle)
        vendor = rng.choice(VENDORS)
        tags = sorted(rng.sample(["new", "bestseller", "sale", "eco", "gift", "summer", "winter"], k=rng.randint(1, 3)))
        colours = rng.sample(COLOURS, k=rng.randint(1, 2)) if apparel else []
        sizes = SIZES[rng.randint(0, 2) : rng.randint(3, 6)] if apparel else []
        product_rows.append(
            Product(
                title=title,
                handle=handle,
                description_html=f"<p>The {title.lower()} by {vendor}.</p><ul><li>{rng.choice(MATERIALS)}</li></ul>",
                vendor=vendor,
                product_type=ptype,
                tags=", ".join(tags),
                status=Product.Status.ACTIVE,
                workflow_state=workflow_state,
                seo_title=title[:70],
                seo_description=f"Shop the {title} from {vendor}."[:320],
                option1_name="Colour" if apparel else "",
                option2_name="Size" if apparel else "",
            )
        )
        plans.append((colours, sizes, base_price, apparel))
    products = bulk_create_with_history(product_rows, Product, batch_size=1000, default_change_reason="Seeded")
    if products and products[0].pk is None:  # backends that do not return ids
        products = list(Product.objects.filter(handle__in=[p.handle for p in product_rows]).order_by("id"))

    variants: list[Variant] = []
    images: list[ProductImage] = []
    attributes: list[ProductAttribute] = []
    for index, (product, (colours, sizes, base_price, apparel)) in enumerate(zip(products, plans, strict=True)):
        number = offset + index + 1
        combos = [(c, s) for c in colours for s in sizes] if apparel else [("", "")]
        for position, (colour, size) in enumerate(combos, start=1):
            sku = f"S{seed}-{number:06d}" + (f"-{colour[:3].upper()}-{size}" if apparel else "")
            price = base_price + Decimal(rng.choice([0, 0, 5, 10]))
            variants.append(
                Variant(
                    product=product,
                    sku=sku,
                    barcode=f"{rng.randrange(10**12, 10**13)}",
                    option1=colour,
                    option2=size,
                    price=price,
                    compare_at_price=price + Decimal("10.00") if rng.random() < 0.2 else None,
                    cost=(price * Decimal("0.4")).quantize(Decimal("0.01")),
                    weight=Decimal(rng.choice(["0.2", "0.35", "0.5", "0.8"])),
                    weight_unit=Variant.WeightUnit.KILOGRAMS,
                    position=position,
                )
            )
        for position in range(1, rng.randint(1, 3) + 1):
            images.append(
                ProductImage(
                    product=product,
                    src=f"https://cdn.example.com/catalog/{product.handle}-{position}.jpg",
                    alt=f"{product.title} view {position}",
                    position=position,
                )
            )
        attributes.append(
            ProductAttribute(product=product, namespace="pim", key="material", type="single_line_text_field",
                             value=rng.choice(MATERIALS))
        )
        attributes.append(
            ProductAttribute(product=product, namespace="pim", key="care_rating", type="number_integer",
                             value=str(rng.randint(1, 5)))
        )
    bulk_create_with_history(variants, Variant, batch_size=2000, default_change_reason="Seeded")
    bulk_create_with_history(images, ProductImage, batch_size=2000, default_change_reason="Seeded")
    bulk_create_with_history(attributes, ProductAttribute, batch_size=2000, default_change_reason="Seeded")
    return SeedResult(len(products), len(variants), len(images), len(attributes))

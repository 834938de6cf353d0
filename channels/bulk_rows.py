"""Update many rows with different values each, fast: one prepared ``UPDATE ... WHERE pk = %s`` sent for all rows.

Django's ``bulk_update`` builds a ``CASE WHEN pk = ... THEN ...`` expression per field and row and resolves every
one of them in Python: for the bulk publish's 500-row batches that was half of the PIM's time (profile of a
2,000-product run: 12.5 s of 24.8 s). ``rows_update`` prepares each value with its field (JSON, dates, foreign
keys as for ``save()``) and hands the rows to psycopg's ``executemany``, which pipelines them in one round trip.
No signals, no ``save()``, like ``update()`` and ``bulk_update``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, router
from django.db.models import Model


def rows_update(*, model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of each of ``objs`` (instances of ``model`` with a primary key) to its row; return how many
    rows were sent. Raises ValueError for an unknown field or an instance without a primary key."""
    if not objs:
        return 0
    meta = model._meta
    concrete = [meta.get_field(name) for name in fields]
    if any(not getattr(f, "concrete", False) or f.primary_key for f in concrete):
        raise ValueError(f"rows_update: {fields} must be concrete, non-key fields of {meta.label}")
    using = router.db_for_write(model)
    connection = connections[using]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = %s" for f in concrete)
    # Only quoted model metadata goes into the text; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    params = []
    for obj in objs:
        if obj.pk is None:
            raise ValueError(f"rows_update: a {meta.label} without a primary key")
        row = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in concrete]
        row.append(obj.pk)
        params.append(row)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)

"""Bulk query operations through the client: start, poll, download and group the JSONL result.

``BulkQueryApiMixin`` is the part of ``ShopifyClient`` that runs ``bulkOperationRunQuery``;
``group_bulk_lines`` streams a grouped result file into root objects with their children. Bulk
*mutations* live in ``bulk_mutation_api``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator

import requests

from . import queries
from .exceptions import ACCESS_DENIED, ShopifyBulkOperationError, ShopifyError, ShopifyNetworkError
from .ids import gid_resource
from .netguard import network_call_check
from .transport import ShopifyTransport

logger = logging.getLogger("channels.shopify")

# Where children of a bulk-export parent are grouped, by the GID resource type of the child line.
BULK_CHILD_KEYS: dict[str, str] = {
    "ProductVariant": "variants",
    "Metafield": "metafields",
    "MediaImage": "media",
    "Video": "media",
    "ExternalVideo": "media",
    "Model3d": "media",
    "Collection": "collections",
    "InventoryLevel": "inventoryLevels",
    "Product": "products",
    "Location": "locations",
}


def default_child_key(child: dict) -> str:
    """Return the key under which a bulk-result child line is grouped in its parent."""
    gid = child.get("id")
    if isinstance(gid, str):
        try:
            resource = gid_resource(gid)
        except ValueError:
            return "children"
        if resource in BULK_CHILD_KEYS:
            return BULK_CHILD_KEYS[resource]
        return resource[:1].lower() + resource[1:] + "s"
    return "children"


def group_bulk_lines(
    lines: Iterable[bytes | str], *, child_key: Callable[[dict], str] = default_child_key
) -> Iterator[dict]:
    """Yield each root object of a bulk-operation JSONL stream with its children grouped under it.

    Lines carrying ``__parentId`` are appended (without that key) to a list in their parent, keyed by
    ``child_key(child)``; grandchildren go into their child's dict. Relies on grouped output
    (``groupObjects: true``): a child arrives after its parent and before the next root object, so only
    one root group is ever held in memory. Raises ShopifyBulkOperationError if a child's parent isn't in
    the current group.
    """
    root: dict | None = None
    index: dict[str, dict] = {}
    for raw in lines:
        if not raw:
            continue
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        raw = raw.strip()
        if not raw:
            continue
        obj = json.loads(raw)
        parent_id = obj.pop("__parentId", None)
        if parent_id is None:
            if root is not None:
                yield root
            root = obj
            index = {obj["id"]: obj} if isinstance(obj.get("id"), str) else {}
            continue
        parent = index.get(parent_id)
        if parent is None:
            raise ShopifyBulkOperationError(
                f"bulk result is not grouped: parent {parent_id} of a child line is not the current object",
                retryable=False,
            )
        parent.setdefault(child_key(obj), []).append(obj)
        if isinstance(obj.get("id"), str):
            index[obj["id"]] = obj
    if root is not None:
        yield root


class BulkQueryApiMixin(ShopifyTransport):
    """Bulk query operations of ``ShopifyClient``."""

    def bulk_start(self, *, query: str) -> dict:
        """Start ``bulkOperationRunQuery`` (grouped output) and return ``{id, status, type, createdAt}``.

        Raises ShopifyBulkLimitReached (retryable) when the shop already runs its maximum of bulk
        operations, ShopifyUserError for an invalid bulk query, and the errors of ``execute``.
        """
        data = self.execute(queries.BULK_RUN_QUERY, {"query": query, "groupObjects": True})
        operation = (data.get("bulkOperationRunQuery") or {}).get("bulkOperation")
        if not operation:
            raise ShopifyError("bulkOperationRunQuery returned no operation", shop_domain=self.shop_domain)
        return operation

    def bulk_status(self, *, operation_id: str) -> dict | None:
        """Return the bulk operation's current state (status, errorCode, url, counts), or None if unknown.

        Raises the errors of ``execute``.
        """
        return self.execute(queries.BULK_OPERATION_STATUS, {"id": operation_id}).get("bulkOperation")

    def bulk_wait(self, *, operation_id: str, poll_interval: float = 2.0, timeout: float = 3600.0) -> dict:
        """Poll a bulk operation until it is COMPLETED and return its final state.

        Raises ShopifyBulkOperationError when it ends FAILED, CANCELED or EXPIRED (with its ``error_code``;
        retryable unless ACCESS_DENIED), or is still running after ``timeout`` seconds (retryable), and the
        errors of ``execute``.
        """
        deadline = time.monotonic() + timeout
        while True:
            operation = self.bulk_status(operation_id=operation_id)
            if operation is None:
                raise ShopifyBulkOperationError(
                    f"bulk operation {operation_id} not found",
                    operation_id=operation_id,
                    retryable=False,
                    shop_domain=self.shop_domain,
                )
            state = operation.get("status")
            if state == "COMPLETED":
                logger.info(
                    "shopify bulk operation %s completed shop=%s objects=%s bytes=%s",
                    operation_id,
                    self.shop_domain,
                    operation.get("objectCount"),
                    operation.get("fileSize"),
                )
                return operation
            if state in ("FAILED", "CANCELED", "CANCELING", "EXPIRED"):
                code = operation.get("errorCode")
                raise ShopifyBulkOperationError(
                    f"bulk operation {operation_id} ended {state} (errorCode={code})",
                    operation_id=operation_id,
                    bulk_status=state,
                    error_code=code,
                    retryable=code != ACCESS_DENIED,
                    shop_domain=self.shop_domain,
                )
            if time.monotonic() >= deadline:
                raise ShopifyBulkOperationError(
                    f"bulk operation {operation_id} still {state} after {timeout:.0f}s",
                    operation_id=operation_id,
                    bulk_status=state,
                    retryable=True,
                    shop_domain=self.shop_domain,
                )
            self.sleep(poll_interval)

    def bulk_download(
        self, *, url: str, child_key: Callable[[dict], str] = default_child_key
    ) -> Iterator[dict]:
        """Stream a bulk result file and yield its root objects with their children grouped.

        The URL is a signed storage URL: no Shopify token is sent to it. Raises ShopifyBulkOperationError
        if the file can't be fetched (e.g. expired after seven days) or isn't grouped, ShopifyNetworkError
        on connection problems.
        """
        network_call_check(what=f"bulk result download for {self.shop_domain}")
        try:
            response = self.session.get(url, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ShopifyNetworkError(
                f"cannot download the bulk result: {type(exc).__name__}",
                maybe_applied=False,
                shop_domain=self.shop_domain,
            ) from None
        with response:
            if response.status_code != 200:
                raise ShopifyBulkOperationError(
                    f"bulk result download failed with HTTP {response.status_code}",
                    retryable=True,
                    shop_domain=self.shop_domain,
                    status=response.status_code,
                )
            try:
                yield from group_bulk_lines(response.iter_lines(chunk_size=65536), child_key=child_key)
            except requests.RequestException as exc:
                raise ShopifyNetworkError(
                    f"bulk result download interrupted: {type(exc).__name__}",
                    shop_domain=self.shop_domain,
                ) from None

    def bulk_run_query(
        self,
        *,
        query: str,
        poll_interval: float = 2.0,
        timeout: float = 3600.0,
        child_key: Callable[[dict], str] = default_child_key,
    ) -> Iterator[dict]:
        """Run a bulk query and yield each root object with its children grouped, in constant memory.

        A generator: the operation starts at the first ``next()``. Children (lines with ``__parentId``) are
        grouped into lists keyed by ``child_key`` (``variants``, ``metafields``, ``media``, ... by GID type).
        Raises the errors of ``bulk_start``, ``bulk_wait`` and ``bulk_download``.
        """
        operation = self.bulk_start(query=query)
        logger.info("shopify bulk operation %s started shop=%s", operation["id"], self.shop_domain)
        final = self.bulk_wait(operation_id=operation["id"], poll_interval=poll_interval, timeout=timeout)
        if not final.get("url"):
            return  # no objects matched
        yield from self.bulk_download(url=final["url"], child_key=child_key)

    def bulk_export_products(self, *, poll_interval: float = 2.0, timeout: float = 3600.0) -> Iterator[dict]:
        """Yield every product of the shop (BULK_PRODUCTS_QUERY fields) with ``variants``, ``metafields``
        and ``media`` lists, streaming. Raises the errors of ``bulk_run_query``."""
        for product in self.bulk_run_query(
            query=queries.BULK_PRODUCTS_QUERY, poll_interval=poll_interval, timeout=timeout
        ):
            for key in ("variants", "metafields", "media"):
                product.setdefault(key, [])
            yield product

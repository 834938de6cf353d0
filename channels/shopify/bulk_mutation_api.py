"""Bulk mutations through the GraphQL Admin API (2026-07): stage a JSONL file, run it, read its result lines.

Shopify's flow (https://shopify.dev/docs/api/usage/bulk-operations/imports): ``stagedUploadsCreate`` with
resource ``BULK_MUTATION_VARIABLES`` gives a storage URL and form parameters; the file (one variables object per
line, at most ``MAX_UPLOAD_BYTES``) is POSTed there as multipart/form-data **without any Shopify credential**;
``bulkOperationRunMutation(mutation, stagedUploadPath = the "key" parameter)`` starts the run; the result file has
one object per input line with ``__lineNumber`` (0-based), in no guaranteed order. Five bulk mutations may run at
once per shop from 2026-01 (``LIMIT_REACHED`` → ShopifyBulkLimitReached, retryable).

Functions take a ``ShopifyClient`` so every GraphQL call goes through its transport, cost budget and typed errors.
Documents are validated against the 2026-07 schema by ``tests/shopify_client/test_bulk_mutation_api.py``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

import requests

from .exceptions import ShopifyBulkOperationError, ShopifyError, ShopifyNetworkError

# "Upload files up to 100MB (up from 20MB)" — https://shopify.dev/changelog/faster-bulk-operations
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
# "you can run up to five bulk mutation operations at a time per shop" (2026-01 and later; imports guide)
MAX_CONCURRENT_MUTATIONS = 5

STAGED_UPLOADS_CREATE = """
mutation StagedUploadsCreate($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}
"""

BULK_RUN_MUTATION = """
mutation BulkRunMutation($mutation: String!, $stagedUploadPath: String!, $clientIdentifier: String) {
  bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $stagedUploadPath,
                           clientIdentifier: $clientIdentifier) {
    bulkOperation { id status type createdAt }
    userErrors { field message code }
  }
}
"""

# The mutation each line of a bulk publish runs (its variables are one JSONL line). Variants come back with their
# inventory items so a line maps to bindings exactly as a per-call productSet does; products with more variants
# than one page are published per call.
BULK_PRODUCT_SET = """
mutation BulkProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
  productSet(input: $input, identifier: $identifier, synchronous: true) {
    product {
      id
      handle
      updatedAt
      variants(first: 250) { nodes { id sku position inventoryItem { id } } }
      media(first: 250) { nodes { id status } }
    }
    userErrors { field message code }
  }
}
"""
BULK_VARIANTS_PER_LINE = 250

BULK_METAFIELDS_SET = """
mutation BulkMetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id }
    userErrors { field message code }
  }
}
"""

BULK_PUBLISHABLE_PUBLISH = """
mutation BulkPublishablePublish($id: ID!, $input: [PublicationInput!]!) {
  publishablePublish(id: $id, input: $input) {
    userErrors { field message }
  }
}
"""

# A bulk query of every product's handle and SKUs: before a bulk publish, handles Shopify already has are checked
# (ours, with our SKUs: the upsert adopts it as a per-call publish would; someone else's: that product goes per call,
# which refuses it with PublishConflict instead of overwriting it).
BULK_HANDLES_QUERY = """
query BulkHandles {
  products { edges { node { id handle variants { edges { node { id sku } } } } } }
}
"""

DOCUMENTS = {
    "BULK_HANDLES_QUERY": BULK_HANDLES_QUERY,
    "STAGED_UPLOADS_CREATE": STAGED_UPLOADS_CREATE,
    "BULK_RUN_MUTATION": BULK_RUN_MUTATION,
    "BULK_PRODUCT_SET": BULK_PRODUCT_SET,
    "BULK_METAFIELDS_SET": BULK_METAFIELDS_SET,
    "BULK_PUBLISHABLE_PUBLISH": BULK_PUBLISHABLE_PUBLISH,
}


def jsonl_line(variables: dict[str, Any]) -> bytes:
    """One line of a variables file (compact JSON, newline-terminated)."""
    return json.dumps(variables, separators=(",", ":"), default=str).encode() + b"\n"


class _MultipartFile:
    """A multipart/form-data body streamed from an open file: ``requests`` sends it with a Content-Length and
    reads it in blocks, so a 100 MB upload never sits in memory."""

    def __init__(self, fields: list[tuple[str, str]], fh: BinaryIO, filename: str, size: int):
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields
        )
        head += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: text/jsonl\r\n\r\n").encode()
        self._parts: list[bytes | BinaryIO] = [head, fh, f"\r\n--{self.boundary}--\r\n".encode()]
        self.len = len(head) + size + len(self._parts[2])  # type: ignore[arg-type]
        self._index = 0
        self._offset = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        out = b""
        while self._index < len(self._parts) and (n < 0 or len(out) < n):
            part = self._parts[self._index]
            want = -1 if n < 0 else n - len(out)
            if isinstance(part, bytes):
                chunk = part[self._offset:] if want < 0 else part[self._offset:self._offset + want]
                self._offset += len(chunk)
                if self._offset >= len(part):
                    self._index, self._offset = self._index + 1, 0
            else:
                chunk = part.read() if want < 0 else part.read(want)
                if not chunk or want < 0:
                    self._index, self._offset = self._index + 1, 0
            out += chunk
        return out


def staged_upload(client, *, path: str, filename: str) -> str:
    """Stage and upload the JSONL file at ``path``; return its ``stagedUploadPath``.

    The storage URL gets the form parameters and the file only (never the shop's token). Raises ShopifyUserError
    (the file is refused, e.g. above the size limit), ShopifyNetworkError / ShopifyBulkOperationError (retryable)
    when the upload fails, and the errors of ``client.execute``.
    """
    size = os.path.getsize(path)
    data = client.execute(STAGED_UPLOADS_CREATE, {"input": [{
        "resource": "BULK_MUTATION_VARIABLES", "filename": filename, "mimeType": "text/jsonl",
        "httpMethod": "POST", "fileSize": str(size),
    }]})
    targets = (data.get("stagedUploadsCreate") or {}).get("stagedTargets") or []
    if not targets:
        raise ShopifyError("stagedUploadsCreate returned no target", shop_domain=client.shop_domain)
    target = targets[0]
    fields = [(p["name"], p["value"]) for p in target["parameters"]]
    key = next((value for name, value in fields if name == "key"), None)
    if not key:
        raise ShopifyError("the staged upload has no key parameter", shop_domain=client.shop_domain)
    with open(path, "rb") as fh:
        body = _MultipartFile(fields, fh, filename, size)
        try:
            # A plain request, not the client's session: that one carries the shop's access token.
            response = requests.post(target["url"], data=body, headers={"Content-Type": body.content_type},
                                     timeout=(10, 600), allow_redirects=False)
        except requests.RequestException as exc:
            raise ShopifyNetworkError(f"staged upload failed: {type(exc).__name__}",
                                      shop_domain=client.shop_domain) from None
    if response.status_code not in (200, 201, 204):
        raise ShopifyBulkOperationError(
            f"staged upload refused with HTTP {response.status_code}: {response.text[:200]}",
            retryable=response.status_code >= 500, shop_domain=client.shop_domain, status=response.status_code,
        )
    return key


def bulk_mutation_start(client, *, mutation: str, staged_path: str, client_identifier: str | None = None) -> dict:
    """Start ``bulkOperationRunMutation``; return ``{id, status, type, createdAt}``.

    Raises ShopifyBulkLimitReached (retryable) when the shop already runs its maximum of bulk mutations,
    ShopifyUserError (INVALID_MUTATION, NO_SUCH_FILE, INVALID_STAGED_UPLOAD_FILE), and the errors of ``execute``.
    """
    data = client.execute(BULK_RUN_MUTATION, {"mutation": mutation, "stagedUploadPath": staged_path,
                                              "clientIdentifier": client_identifier})
    operation = (data.get("bulkOperationRunMutation") or {}).get("bulkOperation")
    if not operation:
        raise ShopifyError("bulkOperationRunMutation returned no operation", shop_domain=client.shop_domain)
    return operation


def bulk_result_lines(client, *, url: str) -> Iterator[dict]:
    """Stream a bulk mutation's result file (``url`` or ``partialDataUrl``) and yield each line's object.

    A signed storage URL: no token is sent. Raises ShopifyBulkOperationError (retryable) when it can't be fetched,
    ShopifyNetworkError when the download breaks.
    """
    try:
        response = requests.get(url, stream=True, timeout=(10, 600), allow_redirects=False)
    except requests.RequestException as exc:
        raise ShopifyNetworkError(f"cannot download the bulk result: {type(exc).__name__}",
                                  shop_domain=client.shop_domain) from None
    with response:
        if response.status_code != 200:
            raise ShopifyBulkOperationError(f"bulk result download failed with HTTP {response.status_code}",
                                            retryable=True, shop_domain=client.shop_domain,
                                            status=response.status_code)
        try:
            for raw in response.iter_lines(chunk_size=65536):
                if raw.strip():
                    yield json.loads(raw)
        except requests.RequestException as exc:
            raise ShopifyNetworkError(f"bulk result download interrupted: {type(exc).__name__}",
                                      shop_domain=client.shop_domain) from None

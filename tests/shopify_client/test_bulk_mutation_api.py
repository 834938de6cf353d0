"""Bulk mutations (issue 17): documents valid against 2026-07 (no deprecated fields), upload streaming."""

from __future__ import annotations

import io

import pytest
from graphql import parse, validate
from graphql.validation import NoDeprecatedCustomRule

from channels.shopify import bulk_mutation_api as api

from .conftest import admin_schema, schema_errors


@pytest.mark.parametrize("name", sorted(api.DOCUMENTS))
def test_document_is_valid_and_not_deprecated(name):
    document = api.DOCUMENTS[name]
    assert schema_errors(document) == [], name
    assert validate(admin_schema(), parse(document), [NoDeprecatedCustomRule]) == []


def test_multipart_body_streams_the_file_with_its_exact_length():
    payload = b"".join(api.jsonl_line({"input": {"title": f"T{i}"}}) for i in range(1000))
    body = api._MultipartFile([("key", "tmp/x"), ("acl", "private")], io.BytesIO(payload), "v.jsonl", len(payload))
    out = b""
    while chunk := body.read(777):
        out += chunk
    assert len(out) == len(body)
    assert payload in out and out.endswith(f"--{body.boundary}--\r\n".encode())

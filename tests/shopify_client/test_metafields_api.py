"""The batched documents of issue 15 are valid against the pinned 2026-07 schema and use no deprecated field."""

from __future__ import annotations

import pytest
from graphql import parse, validate
from graphql.validation import NoDeprecatedCustomRule

from channels.shopify.metafields_api import METAFIELDS_SET_BATCH, _handles_document

from .conftest import admin_schema, schema_errors


@pytest.mark.parametrize("document", [METAFIELDS_SET_BATCH, _handles_document(1), _handles_document(50)])
def test_document_is_valid_and_not_deprecated(document):
    assert schema_errors(document) == []
    assert validate(admin_schema(), parse(document), [NoDeprecatedCustomRule]) == []

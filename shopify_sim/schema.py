"""Shopify Admin GraphQL schemas per API version, plus a cache of parsed and validated documents."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    build_client_schema,
    get_named_type,
    parse,
    specified_rules,
    type_from_ast,
    validate,
)

VERSION_RE = re.compile(r"^\d{4}-(01|04|07|10)$")
_FILE_RE = re.compile(r"^admin_(\d{4}-\d{2})\.json\.gz$")
GID_RE = re.compile(r"^gid://[A-Za-z0-9_-]+/[A-Za-z0-9_]+/[^\s/]+$")


def valid_gid(value: object) -> bool:
    """Shopify's ID scalar only accepts global ids (``gid://shopify/Product/123``)."""
    return isinstance(value, str) and GID_RE.match(value) is not None


class GlobalIdLiterals(ValidationRule):
    """Literal ``ID`` arguments must be global ids, like Shopify's ID scalar requires."""

    def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
        named = get_named_type(self.context.get_input_type())
        if named is not None and named.name == "ID" and not valid_gid(node.value):
            self.report_error(GraphQLError(f"Invalid global id `{node.value}`", node,
                                           extensions={"code": "argumentLiteralsIncompatible"}))


_RULES = [*specified_rules, GlobalIdLiterals]


def invalid_id_variables(schema: GraphQLSchema, op: OperationDefinitionNode, values: dict[str, object],
                         raw: dict[str, object]) -> list[dict[str, object]]:
    """INVALID_VARIABLE errors for ID values (anywhere inside the variables) that aren't global ids."""
    errors: list[dict[str, object]] = []
    for vdef in op.variable_definitions or ():
        name = vdef.variable.name.value
        if name not in values:
            continue
        problems: list[dict[str, object]] = []
        _check_ids(type_from_ast(schema, vdef.type), values[name], [], problems)
        if problems:
            where = ".".join(str(p) for p in problems[0]["path"])
            err: dict[str, object] = {
                "message": f"Variable ${name} of type {_type_str(vdef.type)} was provided invalid value"
                + (f" for {where}" if where else ""),
                "extensions": {"code": "INVALID_VARIABLE", "value": raw.get(name), "problems": problems},
            }
            if vdef.loc and vdef.loc.source:
                loc = vdef.loc.source.get_location(vdef.loc.start)
                err["locations"] = [{"line": loc.line, "column": loc.column}]
            errors.append(err)
    return errors


def _check_ids(t: object, value: object, path: list[object], problems: list[dict[str, object]]) -> None:
    if value is None or len(problems) >= 20:
        return
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    if isinstance(t, GraphQLList):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _check_ids(t.of_type, item, path + [i], problems)
        else:
            _check_ids(t.of_type, value, path, problems)
        return
    if isinstance(t, GraphQLInputObjectType):
        if isinstance(value, dict):
            for fname, fdef in t.fields.items():
                key = fdef.out_name or fname
                if key in value:
                    _check_ids(fdef.type, value[key], path + [fname], problems)
        return
    if getattr(t, "name", None) == "ID" and not valid_gid(value):
        msg = f"Invalid global id `{value}`"
        problems.append({"path": path, "explanation": msg, "message": msg})


def _type_str(t: object) -> str:
    kind = getattr(t, "kind", "")
    if kind == "non_null_type":
        return _type_str(t.type) + "!"  # type: ignore[attr-defined]
    if kind == "list_type":
        return "[" + _type_str(t.type) + "]"  # type: ignore[attr-defined]
    return t.name.value  # type: ignore[attr-defined]


def _candidate_dirs(explicit: str | None) -> list[Path]:
    dirs = []
    if explicit:
        dirs.append(Path(explicit))
    env = os.environ.get("SHOPIFY_SIM_SCHEMA_DIR")
    if env:
        dirs.append(Path(env))
    dirs.append(Path(__file__).resolve().parent / "schemas")
    dirs.append(Path(__file__).resolve().parents[2] / "shared" / "shopify" / "admin-graphql")
    return dirs


@dataclass
class VersionSchema:
    version: str
    schema: GraphQLSchema
    # (type, field) -> (any-of scopes, Shopify's "requiredAccess" text); type -> same
    field_scopes: dict[tuple[str, str], tuple[list[str], str]]
    type_scopes: dict[str, tuple[list[str], str]]


@dataclass
class PreparedDocument:
    """A parsed + validated document (cached by query text)."""

    query: str
    document: DocumentNode | None
    errors: list[dict[str, Any]]
    operations: dict[str | None, OperationDefinitionNode] = field(default_factory=dict)
    fragments: dict[str, Any] = field(default_factory=dict)
    # free-form per-document caches filled lazily by other modules (e.g. scope requirements per operation)
    cache: dict[Any, Any] = field(default_factory=dict)
    # whether the document uses anything deprecated (None: not computed yet)
    deprecated: bool | None = None

    def operation(self, name: str | None) -> tuple[OperationDefinitionNode | None, str | None]:
        """Pick the operation to run, like GraphQL's GetOperation. Returns (operation, error message)."""
        if name:
            op = self.operations.get(name)
            if op is None:
                return None, f'No operation named "{name}"'
            return op, None
        if len(self.operations) == 1:
            return next(iter(self.operations.values())), None
        if not self.operations:
            return None, "No operations in query document"
        return None, "An operation name is required"


class SchemaRegistry:
    """Loads Shopify's real Admin schemas lazily (one per version) and caches prepared documents."""

    def __init__(self, schema_dir: str | None = None, preload: str | None = "2026-07", doc_cache_size: int = 4000):
        self._files: dict[str, Path] = {}
        for d in _candidate_dirs(schema_dir):
            if not d.is_dir():
                continue
            for p in sorted(d.iterdir()):
                m = _FILE_RE.match(p.name)
                if m and m.group(1) not in self._files:
                    self._files[m.group(1)] = p
            if self._files:
                break
        if not self._files:
            raise RuntimeError(
                "shopify_sim: no admin_<version>.json.gz schema files found "
                f"(looked in {[str(d) for d in _candidate_dirs(schema_dir)]})"
            )
        self.versions = sorted(self._files)
        self._schemas: dict[str, VersionSchema] = {}
        self._lock = threading.Lock()
        self._docs: OrderedDict[tuple[str, str], PreparedDocument] = OrderedDict()
        self._doc_lock = threading.Lock()
        self._doc_cache_size = doc_cache_size
        if preload and preload in self._files:
            self.get(preload)

    # -- versions ---------------------------------------------------------------------------------------
    def resolve_version(self, requested: str, policy: str = "oldest") -> str | None:
        """Map a requested version to one we serve. None means 404."""
        if requested in self._files:
            return requested
        if requested == "unstable":
            return self.versions[-1]
        if policy == "404" or not VERSION_RE.match(requested or ""):
            return None
        return self.versions[0]

    def get(self, version: str) -> VersionSchema:
        vs = self._schemas.get(version)
        if vs is not None:
            return vs
        with self._lock:
            vs = self._schemas.get(version)
            if vs is None:
                vs = self._load(version)
                self._schemas[version] = vs
        return vs

    def _load(self, version: str) -> VersionSchema:
        with gzip.open(self._files[version], "rt", encoding="utf-8") as fh:
            raw = json.load(fh)
        schema = build_client_schema(raw["data"])
        field_scopes: dict[tuple[str, str], tuple[list[str], str]] = {}
        type_scopes: dict[str, tuple[list[str], str]] = {}
        items = (raw.get("offline_scopes") or {}).get("items") or []
        for it in items:
            scopes = it.get("offlineScopes") or []
            if not scopes:
                continue
            text = (it.get("requiredAccess") or "").split(" Also:")[0].strip()
            if it.get("type") == "field":
                field_scopes[(it["typeName"], it["fieldName"])] = (list(scopes), text)
            elif it.get("type") == "type":
                type_scopes[it["typeName"]] = (list(scopes), text)
        return VersionSchema(version, schema, field_scopes, type_scopes)

    # -- documents --------------------------------------------------------------------------------------
    def prepare(self, version: str, query: str) -> PreparedDocument:
        key = (version, query)
        with self._doc_lock:
            doc = self._docs.get(key)
            if doc is not None:
                self._docs.move_to_end(key)
                return doc
        doc = self._prepare(self.get(version).schema, query)
        with self._doc_lock:
            self._docs[key] = doc
            while len(self._docs) > self._doc_cache_size:
                self._docs.popitem(last=False)
        return doc

    def uses_deprecated(self, version: str, query: str) -> bool:
        """Whether a valid document selects a deprecated field, argument or enum value (cached per document)."""
        doc = self.prepare(version, query)
        if doc.document is None or doc.errors:
            return False
        if doc.deprecated is None:
            doc.deprecated = _uses_deprecated(self.get(version).schema, doc.document)
        return doc.deprecated

    @staticmethod
    def _prepare(schema: GraphQLSchema, query: str) -> PreparedDocument:
        try:
            document = parse(query)
        except GraphQLError as exc:
            return PreparedDocument(query, None, [format_validation_error(exc)])
        errors = validate(schema, document, _RULES)
        if errors:
            return PreparedDocument(query, document, [format_validation_error(e) for e in errors])
        ops: dict[str | None, OperationDefinitionNode] = {}
        frags: dict[str, Any] = {}
        for d in document.definitions:
            if isinstance(d, OperationDefinitionNode):
                ops[d.name.value if d.name else None] = d
            elif d.kind == "fragment_definition":
                frags[d.name.value] = d
        return PreparedDocument(query, document, [], ops, frags)


# -- error formatting (graphql-core messages -> graphql-ruby/Shopify style) -------------------------------
_UNDEFINED_FIELD = re.compile(r"^Cannot query field '([^']+)' on type '([^']+)'\.")
_UNKNOWN_ARG = re.compile(r"^Unknown argument '([^']+)' on field '([^'.]+)\.([^']+)'\.")
_MISSING_ARG = re.compile(r"^Field '([^']+)' argument '([^']+)' of type '([^']+)' is required, but it was not provided\.")
_UNDEFINED_INPUT_FIELD = re.compile(r"^Field '([^']+)' is not defined by type '([^']+)'\.")
_UNUSED_VAR = re.compile(r"^Variable '\$([^']+)' is never used(?: in operation '([^']+)')?\.")
_UNDEFINED_VAR = re.compile(r"^Variable '\$([^']+)' is not defined")
_INVALID_VAR = re.compile(r"^Variable '\$([^']+)' got invalid value (.*?)(?: at '([^']+)')?; (.*)$", re.S)
_REQUIRED_VAR = re.compile(r"^Variable '\$([^']+)' of (?:required|non-null) type '([^']+)' (?:was not provided|must not be null)\.")


def _locations(err: GraphQLError) -> list[dict[str, int]] | None:
    if err.locations:
        return [{"line": loc.line, "column": loc.column} for loc in err.locations]
    return None


def format_validation_error(err: GraphQLError) -> dict[str, Any]:
    """Render a graphql-core validation/parse error close to how Shopify (graphql-ruby) words it."""
    msg = err.message
    out: dict[str, Any] = {"message": msg}
    ext: dict[str, Any] = {}
    m = _UNDEFINED_FIELD.match(msg)
    if m:
        out["message"] = f"Field '{m.group(1)}' doesn't exist on type '{m.group(2)}'"
        ext = {"code": "undefinedField", "typeName": m.group(2), "fieldName": m.group(1)}
    elif (m := _UNKNOWN_ARG.match(msg)) is not None:
        out["message"] = f"Field '{m.group(3)}' doesn't accept argument '{m.group(1)}'"
        ext = {"code": "argumentNotAccepted", "name": m.group(3), "typeName": "Field", "argumentName": m.group(1)}
    elif (m := _UNDEFINED_INPUT_FIELD.match(msg)) is not None:
        out["message"] = f"InputObject '{m.group(2)}' doesn't accept argument '{m.group(1)}'"
        ext = {"code": "argumentNotAccepted", "name": m.group(2), "typeName": "InputObject",
               "argumentName": m.group(1)}
    elif (m := _MISSING_ARG.match(msg)) is not None:
        out["message"] = f"Field '{m.group(1)}' is missing required arguments: {m.group(2)}"
        ext = {"code": "missingRequiredArguments", "className": "Field", "name": m.group(1), "arguments": m.group(2)}
    elif (m := _UNUSED_VAR.match(msg)) is not None:
        op = m.group(2) or "anonymous query"
        out["message"] = f"Variable ${m.group(1)} is declared by {op} but not used"
        ext = {"code": "variableNotUsed", "variableName": m.group(1)}
    elif (m := _UNDEFINED_VAR.match(msg)) is not None:
        out["message"] = f"Variable ${m.group(1)} is used but not declared"
        ext = {"code": "variableNotDefined", "variableName": m.group(1)}
    elif msg.startswith("Syntax Error"):
        ext = {"code": "parseError"}
    locs = _locations(err)
    if locs:
        out["locations"] = locs
    if err.path:
        out["path"] = list(err.path)
    if ext:
        out["extensions"] = ext
    return out


def format_variable_error(err: GraphQLError, var_types: dict[str, str]) -> dict[str, Any]:
    """Render a variable coercion error like Shopify: code INVALID_VARIABLE with ``problems``."""
    msg = err.message
    m = _INVALID_VAR.match(msg)
    if m:
        name, value, path, explanation = m.group(1), m.group(2), m.group(3), m.group(4)
        problem_path: list[Any] = []
        if path:
            parts = path.split(".")
            for p in parts[1:]:
                for piece in re.split(r"\[(\d+)\]", p):
                    if piece == "":
                        continue
                    problem_path.append(int(piece) if piece.isdigit() else piece)
        try:
            parsed_value: Any = json.loads(value)
        except Exception:
            parsed_value = value
        out = {
            "message": f"Variable ${name} of type {var_types.get(name, '?')} was provided invalid value"
            + (f" for {'.'.join(str(p) for p in problem_path)}" if problem_path else ""),
            "extensions": {
                "code": "INVALID_VARIABLE",
                "value": parsed_value,
                "problems": [{"path": problem_path, "explanation": explanation}],
            },
        }
    elif (m := _REQUIRED_VAR.match(msg)) is not None:
        out = {
            "message": f"Variable ${m.group(1)} of type {m.group(2)} was provided invalid value",
            "extensions": {
                "code": "INVALID_VARIABLE",
                "value": None,
                "problems": [{"path": [], "explanation": "Expected value to not be null"}],
            },
        }
    else:
        out = {"message": msg, "extensions": {"code": "INVALID_VARIABLE"}}
    locs = _locations(err)
    if locs:
        out["locations"] = locs
    return out


def _uses_deprecated(schema: GraphQLSchema, document: DocumentNode) -> bool:
    """Walk ``document`` with type information and report any deprecated field, argument or enum value."""
    from graphql import TypeInfo, TypeInfoVisitor, Visitor, visit

    type_info = TypeInfo(schema)
    found: list[str] = []

    class _Deprecations(Visitor):
        def enter_field(self, node, *_args):
            fdef = type_info.get_field_def()
            if fdef is not None and fdef.deprecation_reason:
                found.append(node.name.value)

        def enter_argument(self, node, *_args):
            arg = type_info.get_argument()
            if arg is not None and getattr(arg, "deprecation_reason", None):
                found.append(node.name.value)

        def enter_object_field(self, node, *_args):
            parent = get_named_type(type_info.get_parent_input_type())
            if isinstance(parent, GraphQLInputObjectType):
                field_def = parent.fields.get(node.name.value)
                if field_def is not None and getattr(field_def, "deprecation_reason", None):
                    found.append(node.name.value)

        def enter_enum_value(self, node, *_args):
            value = type_info.get_enum_value()
            if value is not None and value.deprecation_reason:
                found.append(node.value)

    visit(document, TypeInfoVisitor(type_info, _Deprecations()))
    return bool(found)

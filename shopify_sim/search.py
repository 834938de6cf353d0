"""A small implementation of Shopify's search syntax (the ``query:`` argument of connections).

Supported: implicit AND, ``AND``, ``OR``, ``NOT``/``-`` negation, parentheses, ``field:value``,
``field:>v``, ``field:>=v``, ``field:<v``, ``field:<=v``, ``field:v*`` (prefix), ``field:*`` (exists),
comma lists (``status:active,draft``), quoted values, and bare terms (matched against a default text).
Unknown fields match nothing (Shopify ignores some unknown filters; matching nothing is the safer signal).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from .util import parse_gid, parse_time

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<lp>\()|(?P<rp>\))|
        (?P<term>-?(?:[A-Za-z_][\w.]*:)?(?:>=|<=|>|<|=)?(?:"[^"]*"|'[^']*'|[^\s()]+))
    )""",
    re.X,
)

Predicate = Callable[[Any], bool]


class Field:
    """How to read one searchable field from a record."""

    def __init__(self, getter: Callable[[Any], Any], kind: str = "text"):
        self.getter = getter
        self.kind = kind  # text | date | number | id


def _tokenize(q: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    q = q.strip()
    while pos < len(q):
        m = _TOKEN_RE.match(q, pos)
        if not m or m.end() == pos:
            # skip an unparseable character
            pos += 1
            continue
        pos = m.end()
        tokens.append(m.group("lp") or m.group("rp") or m.group("term"))
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], make_term: Callable[[str], Predicate]):
        self.t = tokens
        self.i = 0
        self.make_term = make_term

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def parse(self) -> Predicate:
        if not self.t:
            return lambda r: True
        p = self.parse_or()
        return p

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.i += 1
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda r: any(p(r) for p in parts)

    def parse_and(self) -> Predicate:
        parts = []
        while True:
            tok = self.peek()
            if tok is None or tok in (")", "OR"):
                break
            if tok == "AND":
                self.i += 1
                continue
            parts.append(self.parse_not())
        if not parts:
            return lambda r: True
        if len(parts) == 1:
            return parts[0]
        return lambda r: all(p(r) for p in parts)

    def parse_not(self) -> Predicate:
        tok = self.peek()
        if tok == "NOT":
            self.i += 1
            inner = self.parse_not()
            return lambda r: not inner(r)
        if tok == "(":
            self.i += 1
            inner = self.parse_or()
            if self.peek() == ")":
                self.i += 1
            return inner
        self.i += 1
        assert tok is not None
        if tok.startswith("-") and len(tok) > 1:
            inner = self.make_term(tok[1:])
            return lambda r: not inner(r)
        return self.make_term(tok)


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (list, tuple, set)):
        return list(v)
    return [v]


def _compare(a: Any, op: str, b: Any) -> bool:
    try:
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        return a == b
    except TypeError:
        return False


def _make_term_factory(fields: dict[str, Field], default_text: Callable[[Any], str]) -> Callable[[str], Predicate]:
    def make_term(tok: str) -> Predicate:
        if ":" in tok and re.match(r"^[A-Za-z_][\w.]*:", tok):
            name, raw = tok.split(":", 1)
            name = name.lower()
            op = "="
            for candidate in (">=", "<=", ">", "<", "="):
                if raw.startswith(candidate):
                    op = candidate
                    raw = raw[len(candidate):]
                    break
            value = _unquote(raw)
            fdef = fields.get(name)
            if fdef is None:
                return lambda r: False
            return _field_predicate(fdef, op, value)
        needle = _unquote(tok).lower().rstrip("*")
        if not needle:
            return lambda r: True
        return lambda r: needle in (default_text(r) or "").lower()

    return make_term


def _field_predicate(fdef: Field, op: str, value: str) -> Predicate:
    getter = fdef.getter
    if value == "*":
        return lambda r: any(x not in (None, "") for x in _as_list(getter(r)))
    if fdef.kind == "date":
        ts = parse_time(value)
        if ts is None:
            return lambda r: False
        date_only = re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()) is not None
        if op == "=" and date_only:
            return lambda r: any(x is not None and ts <= x < ts + 86400 for x in _as_list(getter(r)))
        if op == "<=" and date_only:
            return lambda r: any(x is not None and x < ts + 86400 for x in _as_list(getter(r)))
        if op == ">" and date_only:
            return lambda r: any(x is not None and x >= ts + 86400 for x in _as_list(getter(r)))
        return lambda r: any(x is not None and _compare(x, op, ts) for x in _as_list(getter(r)))
    if fdef.kind in ("number", "id"):
        nums = []
        for part in value.split(","):
            n = parse_gid(part.strip()) if fdef.kind == "id" else None
            if n is None:
                try:
                    n = float(part)
                except ValueError:
                    continue
            nums.append(n)
        if not nums:
            return lambda r: False
        if op == "=":
            wanted = set(nums)
            return lambda r: any(x in wanted for x in _as_list(getter(r)))
        n0 = nums[0]
        return lambda r: any(x is not None and _compare(x, op, n0) for x in _as_list(getter(r)))
    # text
    alternatives = [v.strip().lower() for v in value.split(",") if v.strip()] or [""]
    if op != "=":
        v0 = alternatives[0]
        return lambda r: any(x is not None and _compare(str(x).lower(), op, v0) for x in _as_list(getter(r)))

    def match(r: Any) -> bool:
        for x in _as_list(getter(r)):
            if x is None:
                continue
            s = str(x).lower()
            for alt in alternatives:
                if alt.endswith("*"):
                    if s.startswith(alt[:-1]):
                        return True
                elif s == alt:
                    return True
        return False

    return match


@functools.lru_cache(maxsize=512)
def _compile_cached(key: str, query: str) -> Predicate:
    fields, default_text = _REGISTRY[key]
    return _Parser(_tokenize(query), _make_term_factory(fields, default_text)).parse()


_REGISTRY: dict[str, tuple[dict[str, Field], Callable[[Any], str]]] = {}


def register(resource: str, fields: dict[str, Field], default_text: Callable[[Any], str]) -> None:
    _REGISTRY[resource] = (fields, default_text)
    _compile_cached.cache_clear()


def compile_query(resource: str, query: str | None) -> Predicate | None:
    """Compile ``query`` for a registered resource; None when there is nothing to filter."""
    if not query or not query.strip():
        return None
    return _compile_cached(resource, query)

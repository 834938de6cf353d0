"""Group commit for the webhook endpoint (issue 15): several requests' deliveries share one INSERT and one commit.

Under a threaded web server (gunicorn ``-k gthread``) the request threads of a worker process share a leader/follower
group commit: a request thread reads the shop's connections itself (one query on its own connection, so an unknown
shop is refused unread) and, once the signature is verified, queues its delivery. If no batch is being stored, it
leads: it takes every delivery queued (its own included) and stores them in one INSERT on its own connection (one
commit, one WAL flush), answers each request with its own outcome and hands the lead on; it wakes each lane once
(Redis) after its own answer is sent. Deliveries that queue meanwhile wait for the next leader, the first of them
to wake. Before taking its batch a leader waits up to GATHER_SECONDS for the deliveries of its process already past
their headers (a row's share of a statement's and a commit's cost falls with the batch); with none on its way it
does not wait, so a lone delivery costs what it did before, and a burst costs one commit per batch instead of one
per delivery. Durable before the 200: a request is answered only after
the commit of its row. A batch the database refuses is stored again one delivery at a time, so only the delivery
at fault is answered 500 (Shopify delivers it again; the webhook id makes a redelivery of a stored row a
duplicate).

(Until the second round of issue 15 two intake threads per process took the look-ups and the deliveries from the
request threads: each hand-off between threads cost a wake-up and a wait for the GIL, which is most of what a
delivery waited for; see bench/README.md.)

A request inside a transaction (a test's, or ``ATOMIC_REQUESTS``) stores its delivery itself in that transaction
(``webhooks.inbox.webhook_receive``), as does every request when ``WEBHOOK_INTAKE_BATCH_SIZE`` is 0.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from channels.endpoints import SHOP_DOMAIN_RE
from channels.models import Store
from outbox.handoff import outbox_dispatch_recorded

from .inbox import (
    WebhookReceipt,
    webhook_event_build,
    webhook_event_kind,
    webhook_not_stored,
    webhook_stored_receipt,
)
from .models import WebhookBodyClaim, WebhookEvent

logger = logging.getLogger(__name__)

# A request still waiting this long means the database hangs (Shopify itself gives up after 5 s): a 500 (Shopify
# delivers again; the webhook id deduplicates) frees the thread.
ANSWER_WAIT_SECONDS = 25.0
# How long a batch's leader waits at most for the deliveries of its process already past their headers (reading the
# shop, checking the signature): about one look-up's time on a busy machine.
GATHER_SECONDS = 0.003


class IntakeUnavailable(RuntimeError):
    """The batch of this delivery was not stored in time (the database hangs) or failed: the request answers 500
    and Shopify delivers again."""


@dataclass(eq=False)
class _Job:
    event: WebhookEvent
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None

    def finish(self, result: object = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


@functools.cache
def _insert_sql() -> tuple[str, tuple, str]:
    """The batch INSERT (fixed text: prepared once per connection), the event fields sent as JSON records and the
    body's column.

    Two parameters whatever the batch's size: the rows' fields as one JSON array of records (``json_to_recordset``
    types them; building it is one ``json.dumps`` in C, where an array per column went through psycopg's array
    dumpers in Python, ~0.5 ms a batch) and the bodies as one binary ``bytea[]``. Then the body claims first (the
    first shop to send a body owns it; a later row of the same body and shop in the batch passes too), then the
    events in arrival order (the first of two rows with one webhook id is stored, the other is a duplicate).
    """
    body = WebhookEvent._meta.get_field("raw_body")
    fields = tuple(f for f in WebhookEvent._meta.concrete_fields if not f.primary_key and f is not body)
    quote = connection.ops.quote_name
    typed = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
    columns = [quote(f.column) for f in fields] + [quote(body.column)]
    events, claims = WebhookEvent._meta.db_table, WebhookBodyClaim._meta.db_table
    sql = (
        f"WITH r AS (SELECT * FROM json_to_recordset(%b::json) AS r({typed}, body_sha256 varchar(64), ord bigint)), "  # noqa: S608
        "b AS (SELECT * FROM unnest(%b::bytea[]) WITH ORDINALITY AS b(body, ord)), "
        f"d AS (SELECT r.*, b.body AS {quote(body.column)} FROM r JOIN b USING (ord)), "
        f"claim AS (INSERT INTO {claims} (topic, body_sha256, shop_domain, first_seen_at) "
        "SELECT d.topic, d.body_sha256, d.shop_domain, d.received_at FROM d ORDER BY d.ord "
        "ON CONFLICT (topic, body_sha256) DO NOTHING RETURNING topic, body_sha256, shop_domain) "
        f"INSERT INTO {events} ({', '.join(columns)}) SELECT {', '.join('d.' + c for c in columns)} FROM d "
        "WHERE EXISTS (SELECT 1 FROM claim c WHERE c.topic = d.topic AND c.body_sha256 = d.body_sha256 "
        "AND c.shop_domain = d.shop_domain) "
        f"OR EXISTS (SELECT 1 FROM {claims} x WHERE x.topic = d.topic AND x.body_sha256 = d.body_sha256 "
        "AND x.shop_domain = d.shop_domain) "
        "ORDER BY d.ord ON CONFLICT DO NOTHING RETURNING id, webhook_id"
    )
    return sql, fields, body.attname


def _json_value(value):
    if isinstance(value, datetime):  # json_to_recordset reads ISO 8601 with its offset
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def webhook_events_insert(*, events: list[WebhookEvent]) -> list[int | None]:
    """INSERT ``events`` with their bodies' cross-shop claims in one autocommitted statement; return their ids.

    None for a row not stored: a duplicate (its webhook id, or its event id for the shop and topic, is already
    stored or earlier in ``events``) or a body another shop claimed first. Call outside any transaction: the
    statement's commit is what makes the rows durable. Raises DatabaseError (nothing is stored then).
    """
    if not events:
        return []
    sql, fields, body_name = _insert_sql()
    records, bodies = [], []
    for ord_, event in enumerate(events, start=1):
        record = {f.column: f.pre_save(event, add=True) for f in fields}
        body = bytes(getattr(event, body_name))
        record["body_sha256"], record["ord"] = hashlib.sha256(body).hexdigest(), ord_
        records.append(record)
        bodies.append(body)
    rows = json.dumps(records, default=_json_value)
    connection.ensure_connection()
    # Server-side binding (Django's cursors bind on the client): the bodies go as binary, not hex literals, and the
    # fixed statement is prepared once per connection.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:  # Django's errors
        cursor.execute(sql, (rows, bodies), prepare=True, binary=True)
        stored = {webhook_id: pk for pk, webhook_id in cursor.fetchall()}
    ids = []
    for event in events:  # the first row of a webhook id got it
        ids.append(stored.pop(event.webhook_id, None))
    return ids


class _GroupCommit:
    """A worker process's leader/follower group commit of deliveries.

    A request thread queues its delivery; if no batch is being stored it becomes the leader: it takes everything
    queued (its own delivery included), stores it on its own connection in one statement (one commit), answers
    every request of the batch and hands the lead on. Requests that arrive meanwhile wait, and the first of them
    to wake leads the next batch with everything that queued while the previous one ran (and, for up to
    GATHER_SECONDS, what was already on its way: ``coming_delivery``). No thread hand-off on the way in (a lone
    delivery is committed at once by its own thread) and none on the way out for the leader.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        lock = threading.Lock()
        self.cond = threading.Condition(lock)  # followers wait on it for their batch's end
        self.arrival = threading.Condition(lock)  # a gathering leader waits on it for the deliveries on their way
        self.queue: list[_Job] = []
        self.leading = False
        self.coming = 0  # requests of this process past their headers whose delivery is not queued yet
        self.pid = os.getpid()

    @contextlib.contextmanager
    def coming_delivery(self) -> Iterator[None]:
        """Count the calling request as a delivery on its way (reading the shop, checking the signature) until it
        queues it or leaves."""
        with self.cond:
            if self.pid != os.getpid():
                self._reset()
            self.coming += 1
            _arrival.queued = False
        try:
            yield
        finally:
            if not getattr(_arrival, "queued", True):
                with self.cond:
                    self.coming -= 1
                    _arrival.queued = True
                    self.arrival.notify_all()

    def submit(self, job: _Job) -> tuple[WebhookReceipt, Callable[[], None] | None]:
        """Store ``job``'s delivery, leading a batch if none is being stored; return its receipt and, for the
        leader, the wake of the batch's lanes (to call once the answer is sent: no request of the batch waits
        for Redis)."""
        deadline = time.monotonic() + ANSWER_WAIT_SECONDS
        wake = None
        with self.cond:
            if self.pid != os.getpid():  # a forked child starts with no batch in progress
                self._reset()
            self.queue.append(job)
            if not getattr(_arrival, "queued", True):
                self.coming -= 1
                _arrival.queued = True
                self.arrival.notify_all()
        while True:
            with self.cond:
                while not job.done.is_set() and self.leading:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self.cond.wait(left):
                        if job in self.queue:
                            self.queue.remove(job)
                        if not job.done.is_set():
                            raise IntakeUnavailable("the webhook intake did not answer in time")
                if job.done.is_set():
                    break
                self.leading = True
                size = max(1, settings.WEBHOOK_INTAKE_BATCH_SIZE)
                # Gather: deliveries of this process already on their way join this batch if they come within
                # GATHER_SECONDS (one statement's and one commit's CPU shared: the database's per row falls from
                # ~1 ms alone to ~0.5 ms in fours). A lone delivery (none on its way) does not wait.
                gather_until = time.monotonic() + GATHER_SECONDS
                while self.coming > 0 and len(self.queue) < size:
                    left = gather_until - time.monotonic()
                    if left <= 0:
                        break
                    self.arrival.wait(left)
                batch, self.queue[:size] = self.queue[:size], []
            woken: dict = {}
            try:
                woken = _deliveries_store(batch)
            finally:
                with self.cond:
                    self.leading = False
                    self.cond.notify_all()
            if woken:
                wake = functools.partial(_lanes_wake, woken=woken, previous=wake)
        if job.error is not None:  # a fresh exception per request: a batch's is shared by several threads
            if wake is not None:
                wake()
            raise IntakeUnavailable(f"the webhook intake's batch failed: {job.error!r}") from job.error
        if job.result is None:  # not stored: a duplicate or another shop's body, sorted out on this thread
            return webhook_not_stored(event=job.event, claim_body=True), wake
        return job.result, wake


def _lanes_wake(*, woken: dict, previous: Callable[[], None] | None = None) -> None:
    """Wake each lane of a stored batch (one Redis round trip per lane). The rows carry ``dispatched_at``: a wake
    that never comes (the process died) is sent by the sweep's stale re-send; Redis down clears it (sent at once)."""
    if previous is not None:
        previous()
    # One wake at a time per process: the lane's "a drain already waits" flag is set before its job exists, so two
    # wakes at once could both enqueue a drain (the intake thread made them one after another before).
    with _wake_lock:
        for kind, ids in woken.items():
            outbox_dispatch_recorded(kind=kind, ids=ids)


def _deliveries_store(batch: list[_Job]) -> dict:
    """Store ``batch`` in one statement and answer each job; return the ids to wake per lane.

    A statement of several deliveries the database refuses (not a lost connection) is tried once per delivery,
    so a delivery at fault fails (a 500) alone; a failed delivery's job gets the error.
    """
    try:
        ids = _retried(lambda: webhook_events_insert(events=[job.event for job in batch]))
    except DatabaseError as exc:
        if len(batch) == 1 or isinstance(exc, (OperationalError, InterfaceError)):  # or the database is away
            logger.exception("webhook intake: a batch of %d could not be stored", len(batch))
            for job in batch:
                job.finish(error=exc)
            return {}
        logger.warning("webhook intake: a batch of %d failed (%r); storing its deliveries one by one", len(batch), exc)
        woken: dict = defaultdict(list)
        for job in batch:
            for kind, kind_ids in _deliveries_store([job]).items():
                woken[kind].extend(kind_ids)
        return woken
    except BaseException as exc:  # noqa: BLE001 - every request of the batch gets the error (a 500)
        logger.exception("webhook intake: a batch of %d failed", len(batch))
        for job in batch:
            job.finish(error=exc)
        return {}
    woken = defaultdict(list)
    for job, pk in zip(batch, ids, strict=True):
        event = job.event
        event.pk = pk
        if pk is None:
            job.finish(None)
            continue
        event._state.adding = False
        if event.status == WebhookEvent.Status.RECEIVED:
            woken[webhook_event_kind(topic=event.topic)].append(pk)
        job.finish(webhook_stored_receipt(event))
    return woken


def _retried(statement):
    """Run ``statement`` once more on a fresh connection if the kept one was dropped (a database restart).

    Safe for the INSERT too: had its commit happened before the connection dropped, the second run finds the rows
    and answers them as duplicates (200); their ``dispatched_at`` is set, so the sweep's stale re-send wakes them.
    """
    try:
        return statement()
    except (OperationalError, InterfaceError):
        connection.close()
        return statement()
    except DatabaseError:
        connection.close()
        raise


_wake_lock = threading.Lock()
_arrival = threading.local()  # whether this thread's coming delivery is queued (or gone)
_deliveries = _GroupCommit()


def webhook_intake_active() -> bool:
    """Whether this request's delivery goes through the group commit (batching on, PostgreSQL, no transaction)."""
    return (settings.WEBHOOK_INTAKE_BATCH_SIZE > 0 and connection.vendor == "postgresql"
            and not connection.in_atomic_block)


# The columns ``webhooks.inbox.webhook_shops_connections`` loads: what verifying a signature and building the row use.
_LOOKUP_FIELDS = ("id", "name", "shop_domain", "auth_mode", "client_secret", "webhook_secret", "is_active")


@functools.cache
def _lookup_sql() -> tuple[str, tuple]:
    """The shop look-up's fixed text (prepared once per connection) and its fields in column order."""
    fields = tuple(Store._meta.get_field(name) for name in _LOOKUP_FIELDS)
    quote = connection.ops.quote_name
    sql = (f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(Store._meta.db_table)} "  # noqa: S608
           f"WHERE {quote('shop_domain')} = %s AND {quote('is_active')} ORDER BY {quote('id')}")
    return sql, fields


def webhook_intake_shop_connections(*, shop_domain: str) -> list[Store]:
    """Return the active connections of ``shop_domain``, oldest first, as ``webhook_shops_connections`` does (none
    for a malformed domain), in one prepared statement on this thread's connection.

    The ORM's query costs ~0.5 ms of CPU (compiling it) per request, more than the rest of the look-up; this path
    runs on every delivery. Raises DatabaseError (after one retry on a fresh connection if it was dropped).
    """
    domain = shop_domain.strip().lower()
    if not domain or not SHOP_DOMAIN_RE.fullmatch(domain):
        return []
    sql, fields = _lookup_sql()

    def read() -> list[tuple]:
        connection.ensure_connection()
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, (domain,), prepare=True)
            return cursor.fetchall()

    # Django's health check (CONN_HEALTH_CHECKS) runs for its own cursors only: a connection the server dropped
    # is found by this read, and the read is run again on a fresh one.
    rows = _retried(read)
    names = [f.attname for f in fields]
    converters = [getattr(f, "from_db_value", None) for f in fields]
    return [Store.from_db(connection.alias, names,
                          [convert(value, None, connection) if convert else value
                           for convert, value in zip(converters, row, strict=True)])
            for row in rows]


def webhook_intake_coming() -> contextlib.AbstractContextManager[None]:
    """Count this request as a delivery on its way to the group commit (from its headers' check until it queues
    its delivery or leaves), so a batch's leader can wait a moment for it (GATHER_SECONDS)."""
    return _deliveries.coming_delivery()


def webhook_intake_receive(*, store: Store, headers: dict[str, str],
                           raw_body: bytes) -> tuple[WebhookReceipt, Callable[[], None] | None]:
    """Store a delivery verified with ``store``'s secret together with other requests' (one commit); return when
    its row is durable, with the wake of the lanes this request owes (call it once the answer is sent; None: none
    owed; its batch was led by another request).

    The same outcomes as ``webhook_receive(claim_body=True)``: ``stored``, ``failed``, ``ignored``, ``duplicate``
    or ``refused``. Raises IntakeUnavailable when its batch is not stored within ANSWER_WAIT_SECONDS or the
    database refused its row (the delivery is not answered as stored then; Shopify delivers it again).
    """
    event = webhook_event_build(store=store, headers=headers, raw_body=raw_body)
    return _deliveries.submit(_Job(event=event))

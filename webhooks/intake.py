"""Group commit for the webhook endpoint (issue 15): several requests' reads and INSERTs share statements and commits.

Under a threaded web server (gunicorn ``-k gthread``) every worker process runs one *intake* thread with its own
database connection. A request thread hands it two small jobs and waits for each answer: the shop's connections
(read before the body, so an unknown shop is refused unread) and, once the signature is verified, the delivery.
The intake takes everything waiting at once: one SELECT for every shop asked about, one INSERT (one commit, one WAL
flush) for every delivery, one Redis wake per lane, then answers each request with its own outcome. A batch is
whatever queued while the previous one ran: no delay is added, so a lone delivery costs what it did before, and a
burst costs one commit per batch instead of one per delivery. Durable before the 200 as before: a request is
answered only after the commit of its row (an error of the batch is raised in every request of it: a 500, and
Shopify delivers again; the webhook id makes a redelivery of a stored row a duplicate).

The request thread's own connection is never used on this path. A request inside a transaction (a test's, or
``ATOMIC_REQUESTS``) stores its delivery itself in that transaction (``webhooks.inbox.webhook_receive``), as does
every request when ``WEBHOOK_INTAKE_BATCH_SIZE`` is 0.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.models import JSONField

from channels.models import Store
from outbox.handoff import outbox_dispatch_recorded

from .inbox import (
    WebhookReceipt,
    webhook_event_build,
    webhook_event_kind,
    webhook_not_stored,
    webhook_shops_connections,
    webhook_stored_receipt,
)
from .models import WebhookBodyClaim, WebhookEvent

logger = logging.getLogger(__name__)

# A request still waiting this long means the database hangs (Shopify itself gives up after 5 s): a 500 (Shopify
# delivers again; the webhook id deduplicates) frees the thread.
ANSWER_WAIT_SECONDS = 25.0
IDLE_CLOSE_SECONDS = 2.0  # an idle intake closes its connection (no connection held by a quiet worker)


class IntakeUnavailable(RuntimeError):
    """The intake did not answer in time (the database hangs) or its batch failed: the request answers 500 and
    Shopify delivers again."""


@dataclass(eq=False)
class _Job:
    shop_domain: str = ""
    event: WebhookEvent | None = None  # None: a shop look-up
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None

    def finish(self, result: object = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


@functools.cache
def _insert_sql() -> tuple[str, tuple]:
    """The batch INSERT (fixed text: prepared once per connection) and the event fields in parameter order.

    One array per column, unnested with each row's position: the body claims first (the first shop to send a
    body owns it; a later row of the same body and shop in the batch passes too), then the events in arrival order
    (the first of two rows with one webhook id is stored, the other is a duplicate).
    """
    fields = tuple(f for f in WebhookEvent._meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    arrays, columns, selected = [], [], []
    for f in fields:
        column = quote(f.column)
        columns.append(column)
        if isinstance(f, JSONField):  # sent as text, typed in the SELECT list
            arrays.append("%s::text[]")
            selected.append(f"d.{column}::jsonb")
        else:
            arrays.append(f"%s::{f.cast_db_type(connection)}[]")
            selected.append(f"d.{column}")
    arrays.append("%s::varchar(64)[]")  # the body's digest (the claim)
    events, claims = WebhookEvent._meta.db_table, WebhookBodyClaim._meta.db_table
    sql = (
        f"WITH d AS (SELECT * FROM unnest({', '.join(arrays)}) WITH ORDINALITY "  # noqa: S608
        f"AS d({', '.join(columns)}, body_sha256, ord)), "
        f"claim AS (INSERT INTO {claims} (topic, body_sha256, shop_domain, first_seen_at) "
        "SELECT d.topic, d.body_sha256, d.shop_domain, d.received_at FROM d ORDER BY d.ord "
        "ON CONFLICT (topic, body_sha256) DO NOTHING RETURNING topic, body_sha256, shop_domain) "
        f"INSERT INTO {events} ({', '.join(columns)}) SELECT {', '.join(selected)} FROM d "
        "WHERE EXISTS (SELECT 1 FROM claim c WHERE c.topic = d.topic AND c.body_sha256 = d.body_sha256 "
        "AND c.shop_domain = d.shop_domain) "
        f"OR EXISTS (SELECT 1 FROM {claims} x WHERE x.topic = d.topic AND x.body_sha256 = d.body_sha256 "
        "AND x.shop_domain = d.shop_domain) "
        "ORDER BY d.ord ON CONFLICT DO NOTHING RETURNING id, webhook_id"
    )
    return sql, fields


def webhook_events_insert(*, events: list[WebhookEvent]) -> list[int | None]:
    """INSERT ``events`` with their bodies' cross-shop claims in one autocommitted statement; return their ids.

    None for a row not stored: a duplicate (its webhook id, or its event id for the shop and topic, is already
    stored or earlier in ``events``) or a body another shop claimed first. Call outside any transaction: the
    statement's commit is what makes the rows durable. Raises DatabaseError (nothing is stored then).
    """
    if not events:
        return []
    sql, fields = _insert_sql()
    columns: list[list] = [[] for _ in range(len(fields) + 1)]
    for event in events:
        for i, f in enumerate(fields):
            value = f.pre_save(event, add=True)
            if isinstance(f, JSONField):
                columns[i].append(json.dumps(value))
            else:
                columns[i].append(f.get_db_prep_save(value, connection))
        columns[-1].append(hashlib.sha256(bytes(event.raw_body)).hexdigest())
    connection.ensure_connection()
    # Server-side binding (Django's cursors bind on the client): the bodies go as binary arrays, not hex literals,
    # and the fixed statement is prepared once per connection.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, columns, prepare=True, binary=True)
        stored = {webhook_id: pk for pk, webhook_id in cursor.fetchall()}
    ids = []
    for event in events:  # the first row of a webhook id got it
        ids.append(stored.pop(event.webhook_id, None))
    return ids


class _Intake:
    """One intake thread of a worker process, its queue of jobs and what it does with a batch of them."""

    def __init__(self, name: str, run_batch) -> None:
        self.name, self.run_batch = name, run_batch
        self.cond = threading.Condition()
        self.jobs: list[_Job] = []
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def ask(self, job: _Job) -> object:
        with self.cond:
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()  # a forked child starts its own thread
                self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self.thread.start()
            self.jobs.append(job)
            self.cond.notify()
        if not job.done.wait(ANSWER_WAIT_SECONDS):
            raise IntakeUnavailable("the webhook intake did not answer in time")
        if job.error is not None:  # a fresh exception per request: the batch's is shared by several threads
            raise IntakeUnavailable(f"the webhook intake's batch failed: {job.error!r}") from job.error
        return job.result

    def _run(self) -> None:
        while True:
            with self.cond:
                if not self.jobs and not self.cond.wait_for(lambda: self.jobs, timeout=IDLE_CLOSE_SECONDS):
                    connection.close()  # quiet: hold no connection (and keep no test database open)
                    continue
                size = max(1, settings.WEBHOOK_INTAKE_BATCH_SIZE)
                batch, self.jobs[:size] = self.jobs[:size], []
            try:
                self.run_batch(batch)
            except BaseException as exc:  # noqa: BLE001 - every waiting request gets the error (a 500)
                logger.exception("%s: a batch of %d failed", self.name, len(batch))
                connection.close()  # a broken connection is not reused
                for job in batch:
                    if not job.done.is_set():
                        job.finish(error=exc)


def _lookups_run(batch: list[_Job]) -> None:
    """Answer a batch of shop look-ups with one query."""
    found = _retried(lambda: webhook_shops_connections(shop_domains={job.shop_domain for job in batch}))
    for job in batch:
        job.finish(found.get(job.shop_domain, []))


def _deliveries_run(batch: list[_Job]) -> None:
    """Store a batch of deliveries in one statement, wake their lanes, answer each with its own outcome."""
    events = [job.event for job in batch]
    ids = _retried(lambda: webhook_events_insert(events=events))
    woken: dict = defaultdict(list)
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        if pk is not None:
            event._state.adding = False
            if event.status == WebhookEvent.Status.RECEIVED:
                woken[webhook_event_kind(topic=event.topic)].append(pk)
    for kind, kind_ids in woken.items():  # one Redis round trip per lane; Redis down: the sweep sends them
        outbox_dispatch_recorded(kind=kind, ids=kind_ids)
    for job in batch:
        if job.event.pk is not None:
            job.finish(webhook_stored_receipt(job.event))
    for job in batch:  # rare: duplicates and refusals, one by one
        if not job.done.is_set():
            job.finish(webhook_not_stored(event=job.event, claim_body=True))


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


# Two threads, each with its own connection: a look-up never waits behind a batch's commit.
_lookups = _Intake("webhook-intake-lookups", _lookups_run)
_deliveries = _Intake("webhook-intake-deliveries", _deliveries_run)


def webhook_intake_active() -> bool:
    """Whether this request's delivery goes through the intake thread (batching on, PostgreSQL, no transaction)."""
    return (settings.WEBHOOK_INTAKE_BATCH_SIZE > 0 and connection.vendor == "postgresql"
            and not connection.in_atomic_block)


def webhook_intake_shop_connections(*, shop_domain: str) -> list[Store]:
    """Return the active connections of ``shop_domain``, read by the intake with other requests' look-ups.

    Raises IntakeUnavailable when no answer comes within ANSWER_WAIT_SECONDS or the batch failed.
    """
    return _lookups.ask(_Job(shop_domain=shop_domain))


def webhook_intake_receive(*, store: Store, headers: dict[str, str], raw_body: bytes) -> WebhookReceipt:
    """Store a delivery verified with ``store``'s secret together with other requests' (one commit); return when
    its row is durable and its lane woken.

    The same outcomes as ``webhook_receive(claim_body=True)``: ``stored``, ``failed``, ``ignored``, ``duplicate``
    or ``refused``. Raises IntakeUnavailable when no answer comes within ANSWER_WAIT_SECONDS or the batch failed
    (the delivery is not answered as stored then; Shopify delivers it again).
    """
    event = webhook_event_build(store=store, headers=headers, raw_body=raw_body)
    return _deliveries.ask(_Job(shop_domain=event.shop_domain, event=event))

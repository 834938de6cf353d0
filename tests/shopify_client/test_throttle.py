"""The shared Redis cost budget: waiting, refunds, learning, and many workers staying inside one bucket."""

from __future__ import annotations

import threading
import time

import pytest

from channels.shopify.exceptions import ShopifyThrottled
from channels.shopify.throttle import CostBudget, CostInfo

from .conftest import cost_extensions, throttled_body


def status(available, maximum=100.0, rate=50.0, requested=10.0, actual=10.0) -> CostInfo:
    return CostInfo(requested, actual, maximum, available, rate)


@pytest.fixture
def budget(redis_conn, shop):
    slept: list[float] = []
    b = CostBudget(redis_conn, shop, sleep=slept.append)
    b.slept = slept
    return b


def test_empty_bucket_makes_callers_wait(budget):
    # Learn a small bucket that is empty right now.
    first = budget.acquire(10)
    budget.reconcile(first, status(available=0.0, maximum=100.0, rate=50.0))
    reservation = budget.acquire(50)
    # 50 points at 50 points/s: about one second of waiting.
    assert budget.slept and budget.slept[-1] == pytest.approx(1.0, abs=0.05)
    assert reservation.cost == 50
    # The next caller queues behind the first one (the bucket went into debt): about two seconds.
    budget.acquire(50)
    assert budget.slept[-1] == pytest.approx(2.0, abs=0.05)


def test_full_bucket_does_not_wait(budget):
    first = budget.acquire(10)
    budget.reconcile(first, status(available=100.0))
    budget.acquire(50)
    assert budget.slept == []


def test_refund_of_requested_minus_actual(budget):
    first = budget.acquire(10)
    budget.reconcile(first, status(available=100.0, maximum=100.0, rate=1.0))
    r = budget.acquire(80)
    assert budget.snapshot()["avail"] == pytest.approx(20.0, abs=0.1)
    # Shopify charged only 30 of the 80 requested and now reports 70 available: refund 50.
    budget.reconcile(r, status(available=70.0, maximum=100.0, rate=1.0, requested=80, actual=30))
    assert budget.snapshot()["avail"] == pytest.approx(70.0, abs=0.1)


def test_mirror_is_clamped_to_shopify_minus_other_inflight(budget):
    first = budget.acquire(10)
    budget.reconcile(first, status(available=100.0, maximum=100.0, rate=1.0))
    mine = budget.acquire(20)
    other = budget.acquire(30)  # still in flight
    # Shopify says only 40 left after charging mine (someone else used the bucket): 40 - 30 in flight.
    budget.reconcile(mine, status(available=40.0, maximum=100.0, rate=1.0, requested=20, actual=20))
    assert budget.snapshot()["avail"] == pytest.approx(10.0, abs=0.1)
    budget.reconcile(other, status(available=10.0, maximum=100.0, rate=1.0, requested=30, actual=30))
    assert budget.snapshot()["avail"] == pytest.approx(10.0, abs=0.1)


def test_too_long_a_wait_raises_throttled(budget):
    first = budget.acquire(10)
    budget.reconcile(first, status(available=0.0, maximum=1000.0, rate=1.0))
    with pytest.raises(ShopifyThrottled) as info:
        budget.acquire(500, max_wait=5)
    assert info.value.retry_after == pytest.approx(500, abs=1)
    assert budget.slept == []


def test_unknown_bucket_allows_one_probe_in_flight(redis_conn, shop):
    slept: list[float] = []
    b = CostBudget(redis_conn, shop, sleep=slept.append, max_wait=0.35)
    probe = b.acquire(10)
    # While the probe is out and the bucket is unknown, others wait for it ...
    with pytest.raises(ShopifyThrottled):
        b.acquire(10)
    assert slept and all(s == pytest.approx(0.1) for s in slept)
    # ... and once its answer taught the bucket, they go.
    b.reconcile(probe, status(available=1990.0, maximum=2000.0, rate=100.0))
    slept.clear()
    b.acquire(10)
    assert slept == []
    snap = b.snapshot()
    assert snap["max"] == 2000 and snap["rate"] == 100 and snap["learned"] == 1


def test_block_for_makes_everyone_wait(budget):
    first = budget.acquire(10)
    budget.reconcile(first, status(available=100.0))
    budget.block_for(3.0)
    budget.acquire(1)
    assert budget.slept[-1] == pytest.approx(3.0, abs=0.1)


def test_expired_reservations_stop_counting(redis_conn, shop):
    b = CostBudget(redis_conn, shop, sleep=lambda s: None, inflight_ttl=0.0)
    first = b.acquire(10)
    b.reconcile(first, status(available=100.0, maximum=100.0, rate=1.0))
    b.acquire(30)  # a worker that crashed and never reconciled
    time.sleep(0.02)
    mine = b.acquire(10)
    b.reconcile(mine, status(available=90.0, maximum=100.0, rate=1.0))
    assert redis_conn.hlen(b.inflight_key) == 0


def test_estimates_learn_requested_cost_per_operation(fake, make_client, redis_conn):
    fake.on("Ping", {"data": {"shop": {"id": "1"}}, "extensions": cost_extensions(requested=7)})
    fake.on("Bump", {"data": {"shopLocaleEnable": None}, "extensions": cost_extensions(requested=13)})
    client = make_client()
    assert client.budget.estimate("Ping", is_mutation=False) == 50  # default for queries
    assert client.budget.estimate("Bump", is_mutation=True) == 10  # default for mutations
    client.execute("query Ping { shop { id } }")
    client.execute('mutation Bump { shopLocaleEnable(locale: "de") { userErrors { field message } } }')
    assert client.budget.estimate("Ping", is_mutation=False) == 7
    assert client.budget.estimate("Bump", is_mutation=True) == 13
    # Learned costs are shared through Redis with other clients of the shop.
    assert float(redis_conn.hget(f"shopify:{fake.shop}:costs", "Ping")) == 7
    other = make_client()
    assert other.budget.estimate("Ping", is_mutation=False) == 7


def test_product_set_estimate_adds_the_input_dependent_part(fake, make_client):
    from channels.shopify.products_api import estimate_product_set_cost

    product_input = {
        "title": "T",
        "variants": [{"optionValues": [], "metafields": [{}, {}]}] * 10,
        "files": [{}, {}],
        "metafields": [{}],
    }
    base = estimate_product_set_cost(product_input)
    assert base == pytest.approx(0.2 * 10 + 0.4 * 20 + 1.9 * 2 + 0.4 * 1)
    fake.on(
        "ProductSet",
        lambda req: {
            "data": {
                "productSet": {
                    "product": {
                        "id": "gid://shopify/Product/1",
                        "legacyResourceId": "1",
                        "handle": "t",
                        "status": "DRAFT",
                        "updatedAt": "2026-01-01T00:00:00Z",
                        "variants": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}},
                    },
                    "userErrors": [],
                }
            },
            "extensions": cost_extensions(
                requested=round(30 + estimate_product_set_cost(req.variables["input"])
                                + 3 * req.variables["variants"] + req.variables["media"], 1)
            ),
        },
    )
    client = make_client()
    client.product_set(input=product_input)
    # Learned the fixed part (30); a bigger product gets a bigger estimate.
    assert client.budget.estimate("ProductSet", is_mutation=True) == pytest.approx(30, abs=0.1)
    assert client.budget.estimate("ProductSet", is_mutation=True, base=base) == pytest.approx(
        30 + base, abs=0.1
    )  # (the client adds the sized selection, 3 per variant row + 1 per media row, to the base it passes)


def test_metafields_set_estimate_adds_each_distinct_owners_weight(fake, make_client):
    """metafieldsSet costs 10 + 4 per distinct product owner since 2026-09-15: the client learns the base and
    adds the owners of each call, so a 25-product call never reserves what a one-product call cost."""
    from channels.shopify.metafields_api import metafields_set_batch, metafields_set_owner_cost

    def mf(owner, key="k1"):
        return {"ownerId": owner, "namespace": "pim", "key": key, "type": "single_line_text_field", "value": "v"}

    def answer(req):
        owners = {m["ownerId"] for m in req.variables["metafields"]}
        return {"data": {"metafieldsSet": {"metafields": [], "userErrors": []}},
                "extensions": cost_extensions(requested=10 + 4 * len(owners))}

    fake.on("MetafieldsSetBatch", answer)
    one = [mf("gid://shopify/Product/1", f"k{i}") for i in range(3)]
    many = [mf(f"gid://shopify/Product/{i}") for i in range(25)]
    assert metafields_set_owner_cost(one) == 4
    assert metafields_set_owner_cost(many) == 100
    assert metafields_set_owner_cost([mf("gid://shopify/Product/1"), mf("gid://shopify/ProductVariant/2"),
                                      mf("gid://shopify/Location/3")]) == 4 + 2 + 0
    client = make_client()
    metafields_set_batch(client, metafields=one)
    assert client.budget.estimate("MetafieldsSetBatch", is_mutation=True) == pytest.approx(10)
    assert client.budget.estimate("MetafieldsSetBatch", is_mutation=True,
                                  base=metafields_set_owner_cost(many)) == pytest.approx(110)


class LeakyBucket:
    """Emulates Shopify's bucket: requested cost must be available, then refunded to actual."""

    def __init__(self, maximum: float, rate: float, requested: float, actual: float) -> None:
        self.maximum, self.rate, self.requested, self.actual = maximum, rate, requested, actual
        self.available = maximum
        self.at = time.monotonic()
        self.lock = threading.Lock()
        self.throttled = 0
        self.served = 0
        self.lowest = maximum

    def __call__(self, request):
        with self.lock:
            now = time.monotonic()
            self.available = min(self.maximum, self.available + (now - self.at) * self.rate)
            self.at = now
            if self.available + 1e-6 < self.requested:
                self.throttled += 1
                return throttled_body(self.requested, self.available, self.maximum, self.rate)
            self.available -= self.actual
            self.lowest = min(self.lowest, self.available)
            self.served += 1
            return {
                "data": {"shop": {"id": "gid://shopify/Shop/1"}},
                "extensions": cost_extensions(
                    requested=self.requested,
                    actual=self.actual,
                    available=self.available,
                    maximum=self.maximum,
                    rate=self.rate,
                ),
            }


def test_threads_sharing_the_budget_never_exceed_the_bucket(fake, make_client):
    bucket = LeakyBucket(maximum=200.0, rate=1000.0, requested=60.0, actual=45.0)
    fake.on("Ping", bucket)
    fake.validate_requests = False  # speed: the document is validated elsewhere
    threads, calls = 5, 12
    errors: list[BaseException] = []
    clients = [make_client(real_sleep=True) for _ in range(threads)]

    def worker(client):
        try:
            for _ in range(calls):
                client.execute("query Ping { shop { id } }")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    elapsed = time.monotonic() - started
    assert not errors
    assert bucket.served == threads * calls
    assert bucket.throttled == 0, f"{bucket.throttled} THROTTLED answers"
    # The demand (60 x 45 = 2700 points) was far above the 200-point bucket, so the callers really had to
    # wait for the restore rate: at least (2700 - 200) / 1000 = 2.5 s.
    assert elapsed >= 2.3


def test_without_shared_budget_the_same_burst_is_throttled(fake, make_client, redis_conn):
    """Control for the test above: clients that don't share a budget do get throttled."""
    bucket = LeakyBucket(maximum=200.0, rate=1000.0, requested=60.0, actual=45.0)
    fake.on("Ping", bucket)
    fake.validate_requests = False
    clients = [make_client(real_sleep=True) for _ in range(5)]
    for i, client in enumerate(clients):  # each thinks it is alone: separate budget keys
        client.budget = CostBudget(redis_conn, f"{fake.shop}-alone-{i}", sleep=time.sleep)
        client.max_throttle_retries = 50

    def worker(client):
        for _ in range(6):
            client.execute("query Ping { shop { id } }")

    pool = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    for i in range(5):
        CostBudget(redis_conn, f"{fake.shop}-alone-{i}").reset()
    assert bucket.throttled > 0


def test_first_estimate_of_heavy_documents_is_precomputed(fake, make_client):
    client = make_client()
    assert client.budget.estimate("ProductById", is_mutation=False) == 660
    assert client.budget.estimate("SomethingNew", is_mutation=False) == 50

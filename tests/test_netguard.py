"""The guard against network calls inside database transactions (channels/shopify/netguard.py, on in the test
settings): it sees the transactions our code opens, not the one pytest-django wraps a ``db`` test in."""

from __future__ import annotations

import pytest
from django.db import transaction

from channels.shopify import netguard
from channels.shopify.netguard import NetworkInTransaction, network_call_check


@pytest.mark.django_db
def test_a_db_test_wrapping_transaction_does_not_count():
    network_call_check(what="a read outside our transactions")
    assert netguard.violations == []


@pytest.mark.django_db
def test_inside_a_transaction_of_ours_it_raises_and_is_recorded():
    with transaction.atomic(), pytest.raises(NetworkInTransaction, match="inside a database transaction"):
        network_call_check(what="a read")
    assert len(netguard.violations) == 1
    netguard.violations.clear()  # expected here; the autouse fixture fails any other test that leaves one


@pytest.mark.django_db(transaction=True)
def test_it_works_the_same_in_transactional_tests():
    network_call_check(what="outside")
    with transaction.atomic(), pytest.raises(NetworkInTransaction):
        network_call_check(what="inside")
    netguard.violations.clear()


def test_off_unless_the_setting_turns_it_on(settings, db):
    settings.NETWORK_IN_TRANSACTION_CHECK = False
    with transaction.atomic():
        network_call_check(what="unchecked")
    assert netguard.violations == []

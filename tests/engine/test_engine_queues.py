"""Which queue an order line joins (SPEC §3): three sources × their scope switch."""

import pytest

from rebate.errors import RebateError
from rebate.queues import queue_key_for
from rebate.settings import BaseSettings, OrderSource

ALL_SWITCHES = ("mall_queue_unified", "stores_queue_unified", "cashiers_queue_unified")


def base(**switches: bool) -> BaseSettings:
    return BaseSettings(**switches)


@pytest.mark.parametrize(
    ("source", "switch", "on", "off"),
    [
        (OrderSource.MALL, "mall_queue_unified", "mall", "product:7"),
        (OrderSource.STORE, "stores_queue_unified", "stores", "store:3"),
        (OrderSource.CASHIER, "cashiers_queue_unified", "cashiers", "cashier:3"),
    ],
)
@pytest.mark.parametrize("switch_on", [True, False])
def test_queue_scope_follows_its_own_switch(source, switch, on, off, switch_on):
    settings = base(**{switch: switch_on})
    key = queue_key_for(source, settings, product_id=7, store_id=3)
    assert key == (on if switch_on else off)


@pytest.mark.parametrize("source", list(OrderSource))
def test_other_sources_switches_do_not_change_a_sources_queue(source):
    own = {
        OrderSource.MALL: "mall_queue_unified",
        OrderSource.STORE: "stores_queue_unified",
        OrderSource.CASHIER: "cashiers_queue_unified",
    }[source]
    for own_value in (True, False):
        keys = set()
        for a in (True, False):
            for b in (True, False):
                others = [s for s in ALL_SWITCHES if s != own]
                settings = base(**{own: own_value, others[0]: a, others[1]: b})
                keys.add(queue_key_for(source, settings, product_id=7, store_id=3))
        assert len(keys) == 1


def test_unified_mall_queue_is_shared_by_every_product():
    settings = base(mall_queue_unified=True)
    assert {
        queue_key_for(OrderSource.MALL, settings, product_id=p, store_id=None) for p in (1, 2, 3)
    } == {"mall"}


def test_per_product_queues_are_distinct():
    settings = base(mall_queue_unified=False)
    keys = [queue_key_for(OrderSource.MALL, settings, product_id=p, store_id=None) for p in (1, 2)]
    assert keys == ["product:1", "product:2"]


def test_store_goods_and_cashier_of_one_store_never_share_a_queue():
    for unified in (True, False):
        settings = base(stores_queue_unified=unified, cashiers_queue_unified=unified)
        store = queue_key_for(OrderSource.STORE, settings, product_id=1, store_id=3)
        cashier = queue_key_for(OrderSource.CASHIER, settings, product_id=None, store_id=3)
        assert store != cashier


def test_per_store_queue_ignores_the_product():
    settings = base(stores_queue_unified=False)
    keys = {queue_key_for(OrderSource.STORE, settings, product_id=p, store_id=3) for p in (1, 2)}
    assert keys == {"store:3"}


def test_mall_line_without_product_is_refused_when_queues_are_per_product():
    with pytest.raises(RebateError) as caught:
        queue_key_for(
            OrderSource.MALL, base(mall_queue_unified=False), product_id=None, store_id=None
        )
    assert caught.value.field == "product_id"


@pytest.mark.parametrize("source", [OrderSource.STORE, OrderSource.CASHIER])
@pytest.mark.parametrize("unified", [True, False])
def test_store_or_cashier_order_without_store_is_refused_under_either_switch(source, unified):
    settings = base(stores_queue_unified=unified, cashiers_queue_unified=unified)
    with pytest.raises(RebateError) as caught:
        queue_key_for(source, settings, product_id=1, store_id=None)
    assert caught.value.field == "store_id"


def test_default_scopes_are_unified_mall_and_per_store_queues():
    settings = BaseSettings()
    assert queue_key_for(OrderSource.MALL, settings, product_id=1, store_id=None) == "mall"
    assert queue_key_for(OrderSource.STORE, settings, product_id=1, store_id=2) == "store:2"
    assert queue_key_for(OrderSource.CASHIER, settings, product_id=None, store_id=2) == "cashier:2"

"""Which queue an order line joins (SPEC §3, 队列范围)."""

from rebate.errors import RebateError
from rebate.settings import BaseSettings, OrderSource


def queue_key_for(
    source: OrderSource, base: BaseSettings, *, product_id: int | None, store_id: int | None
) -> str:
    """The queue key for a line, decided by the scope switches in force when it settles.

    mall → ``mall`` or ``product:<id>``; store → ``stores`` or ``store:<id>``;
    cashier → ``cashiers`` or ``cashier:<store id>``.
    """
    if source == OrderSource.MALL:
        if base.mall_queue_unified:
            return "mall"
        if product_id is None:
            raise RebateError("商城订单行缺少商品", field="product_id")
        return f"product:{product_id}"
    if store_id is None:
        raise RebateError("门店订单缺少门店", field="store_id")
    if source == OrderSource.STORE:
        return "stores" if base.stores_queue_unified else f"store:{store_id}"
    return "cashiers" if base.cashiers_queue_unified else f"cashier:{store_id}"

"""A deliberately simple reference model of settlement (SPEC §3, §4, §6), for the state machine.

Each queue is a plain Python list, scanned from its start on every extraction. No windows, no
batches, no counters kept on the side: every rule is written the way SPEC states it, so that
when this model and the database disagree, one of them breaks the rulebook.

Scope: reward ratios come only from a target's own default ratio or the base default (no member
levels, tiers, lottery or random return); no reward windows or limits.
"""

from dataclasses import dataclass, field

from rebate.settings import BaseSettings, DeductionMode, OrderSource, PayoutOrder, SettleOn


def floor_bp(amount_fen: int, ratio_bp: int) -> int:
    """floor(amount × ratio / 10000): rounding goes to the platform (SPEC §2)."""
    return amount_fen * ratio_bp // 10_000


def first_set(*values: int | None) -> int:
    return next(v for v in values if v is not None)


@dataclass
class MProduct:
    id: int
    kind: str  # self | supplier | store
    store_id: int | None
    price_fen: int
    extract_bp: int | None
    default_bp: int | None
    enabled: bool


@dataclass
class MStore:
    id: int
    extract_bp: int | None
    default_bp: int | None
    cashier_extract_bp: int | None
    cashier_default_bp: int | None
    product_ids: list[int] = field(default_factory=list)


@dataclass
class MLine:
    id: int
    order_id: int
    product_id: int | None
    paid_fen: int
    deduction_fen: int
    status: str = "open"  # open | settled | refunded


@dataclass
class MOrder:
    id: int
    member_id: int
    source: OrderSource
    store_id: int | None
    paid_fen: int
    deduction_fen: int
    line_ids: list[int]
    status: str = "created"  # created | paid | completed | refunded
    completed: bool = False  # reached 'completed' at some point (a later full refund keeps it)


@dataclass
class MEntry:
    line_id: int
    key: str
    member_id: int
    order_id: int
    base_fen: int
    ratio_bp: int
    entitlement: int
    paid: int = 0
    status: str = "waiting"  # waiting | completed | refunded

    @property
    def remaining(self) -> int:
        return self.entitlement - self.paid


@dataclass
class MExtraction:
    line_id: int
    key: str
    amount: int
    paid: int = 0
    withheld: int = 0
    unallocated: int = 0


@dataclass
class MQueue:
    key: str
    entries: list[MEntry] = field(default_factory=list)  # in queue order: the tail is appended
    extracted: int = 0
    paid: int = 0
    withheld: int = 0
    unallocated: int = 0

    @property
    def waiting(self) -> int:
        return sum(1 for e in self.entries if e.status == "waiting")


@dataclass(frozen=True)
class MPayout:
    extraction_line: int
    entry_line: int
    member_id: int
    amount: int


@dataclass
class LineRules:
    enabled: bool
    extract_bp: int
    ratio_bp: int
    key: str


class Refused(Exception):
    """The model refuses the action; ``kind`` names the domain error the service must raise."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class ReferenceModel:
    base: BaseSettings
    members: list[int] = field(default_factory=list)
    products: dict[int, MProduct] = field(default_factory=dict)
    stores: dict[int, MStore] = field(default_factory=dict)
    orders: dict[int, MOrder] = field(default_factory=dict)
    lines: dict[int, MLine] = field(default_factory=dict)
    queues: dict[str, MQueue] = field(default_factory=dict)
    entries: dict[int, MEntry] = field(default_factory=dict)  # line id → its entry
    extractions: dict[int, MExtraction] = field(default_factory=dict)  # line id → its extraction
    payouts: list[MPayout] = field(default_factory=list)
    cash: dict[int, int] = field(default_factory=dict)  # member → cash wallet

    # --- order lifecycle ------------------------------------------------------------------------

    def pay(self, order_id: int, paid_fen: int) -> None:
        order = self.orders[order_id]
        if order.status != "created":
            raise Refused("already_settled")
        if paid_fen != order.paid_fen:
            raise Refused("invalid_amount")
        order.status = "paid"
        if self.base.settle_on == SettleOn.PAID:
            self.settle(order)

    def complete(self, order_id: int) -> None:
        """Settles under 完成后结算 — and an order paid under ``completed`` whose lines are still
        open settles at completion even after a switch to ``paid``: every paid order settles."""
        order = self.orders[order_id]
        if order.status != "paid":
            raise Refused("not_allowed")
        order.status, order.completed = "completed", True
        unsettled = any(self.lines[i].status == "open" for i in order.line_ids)
        if self.base.settle_on == SettleOn.COMPLETED or unsettled:
            self.settle(order)

    def settle_now(self, order_id: int) -> None:
        """The operator's settle: any paid order with lines not settled yet."""
        order = self.orders[order_id]
        if order.status not in ("paid", "completed"):
            raise Refused("not_allowed")
        if not any(self.lines[i].status == "open" for i in order.line_ids):
            raise Refused("already_settled")
        self.settle(order)

    def refund(self, line_id: int) -> str:
        """SPEC §4: before settlement no queue effect; after it a waiting entry leaves the queue
        with its remainder forfeited, and everything already paid stays paid."""
        line = self.lines[line_id]
        if line.status == "refunded":
            raise Refused("already_settled")
        outcome = "before_settlement"
        if line.status == "settled":
            entry = self.entries.get(line_id)
            if entry is None:
                outcome = "after_settlement_no_entry"
            elif entry.status == "waiting":
                entry.status = "refunded"
                outcome = "after_settlement_left_queue"
            else:
                outcome = "after_settlement_entry_done"
        line.status = "refunded"
        order = self.orders[line.order_id]
        if all(self.lines[i].status == "refunded" for i in order.line_ids):
            order.status = "refunded"
        return outcome

    # --- settlement (SPEC §4) -------------------------------------------------------------------

    def settle(self, order: MOrder) -> None:
        base = self.base
        for line_id in order.line_ids:
            line = self.lines[line_id]
            if line.status != "open":
                continue
            line.status = "settled"
            rules = self.rules_for(order, line)
            if not base.enabled or not rules.enabled:
                continue  # master switch off / target disabled: nothing extracted, nothing joins
            queue = self.queues.setdefault(rules.key, MQueue(rules.key))
            extraction = MExtraction(line.id, rules.key, floor_bp(line.paid_fen, rules.extract_bp))
            self.extractions[line.id] = extraction
            self.pay_out(queue, extraction, order)
            entitlement = floor_bp(line.paid_fen, rules.ratio_bp)
            if self.joins(order) and entitlement > 0:
                entry = MEntry(
                    line.id,
                    rules.key,
                    order.member_id,
                    order.id,
                    line.paid_fen,
                    rules.ratio_bp,
                    entitlement,
                )
                queue.entries.append(entry)
                self.entries[line.id] = entry

    def joins(self, order: MOrder) -> bool:
        """抵扣订单开关: an order that used points / love value gets no entry under ``exclude``."""
        return not (order.deduction_fen > 0 and self.base.deduction == DeductionMode.EXCLUDE)

    def pay_out(self, queue: MQueue, x: MExtraction, order: MOrder) -> None:
        queue.extracted += x.amount
        if self.base.paused:
            x.withheld = x.amount
            queue.withheld += x.amount
            return
        left = x.amount
        for entry in queue.entries:  # from the head, every time
            if left == 0:
                break
            if not self.payable(entry, order):
                continue
            pay = min(left, entry.remaining)
            entry.paid += pay
            left -= pay
            if entry.remaining == 0:
                entry.status = "completed"
            self.cash[entry.member_id] = self.cash.get(entry.member_id, 0) + pay
            self.payouts.append(MPayout(x.line_id, entry.line_id, entry.member_id, pay))
            x.paid += pay
        x.unallocated = left
        queue.paid += x.paid
        queue.unallocated += left

    def payable(self, entry: MEntry, paying: MOrder) -> bool:
        if entry.status != "waiting" or entry.order_id == paying.id:
            return False
        if self.base.payout_order == PayoutOrder.COMPLETED_FIRST:
            return self.orders[entry.order_id].completed
        return True

    def rules_for(self, order: MOrder, line: MLine) -> LineRules:
        """SPEC §3 queue scope, §4 extraction ratio, §5 default step of each chain."""
        base = self.base
        base_default = base.ratios.default_bp
        if order.source == OrderSource.CASHIER:
            store = self.stores[order.store_id or 0]
            key = "cashiers" if base.cashiers_queue_unified else f"cashier:{store.id}"
            return LineRules(
                True,
                first_set(store.cashier_extract_bp, base.extract_bp),
                first_set(store.cashier_default_bp, base_default),
                key,
            )
        product = self.products[line.product_id or 0]
        if order.source == OrderSource.MALL:
            key = "mall" if base.mall_queue_unified else f"product:{product.id}"
            return LineRules(
                product.enabled,
                first_set(product.extract_bp, base.extract_bp),
                first_set(product.default_bp, base_default),
                key,
            )
        store = self.stores[order.store_id or 0]
        key = "stores" if base.stores_queue_unified else f"store:{store.id}"
        return LineRules(
            product.enabled,
            first_set(product.extract_bp, store.extract_bp, base.extract_bp),
            first_set(product.default_bp, store.default_bp, base_default),
            key,
        )

    # --- views the state machine compares with the database -------------------------------------

    def entry_order_completed(self, entry: MEntry) -> bool:
        return self.orders[entry.order_id].completed

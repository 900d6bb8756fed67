"""Persistence: tortoise-orm models. One tortoise app, label ``models``.

Every movement of value is an immutable ``Posting`` between two accounts (``ledger``); members'
wallets are cached balances of their accounts, and ``queue-rebate check`` proves the two agree
(SPEC §2).
"""

from models.audit import AuditLog, SettingDoc
from models.catalog import Cashier, Product, ProductKind, Store, Supplier
from models.config import RebateConfig
from models.distribution import (
    Commission,
    CommissionKind,
    CommissionStatus,
    DistributionConfig,
    DividendRun,
    DividendShare,
    TeamLevelChange,
    TeamStanding,
)
from models.jobs import JobRun, JobRunStatus, JobSetting
from models.ledger import Asset, Posting, Wallet
from models.lottery import LotteryDraw
from models.members import Member, MemberLevel, MemberLevelChange
from models.merchants import (
    ApplicationStatus,
    CreditKind,
    CreditStatus,
    GuardrailAck,
    Merchant,
    MerchantApplication,
    MerchantInvite,
    MerchantTransfer,
    Statement,
    StatementStatus,
    StoreCredit,
    TransferState,
)
from models.notifications import (
    DeliveryAttempt,
    DeliveryStatus,
    NotificationDelivery,
    NotifierCursor,
    OfficialAccountFollower,
    SubscribeConsent,
)
from models.operators import Operator, OperatorSession, OperatorToken
from models.orders import LineStatus, Order, OrderLine, OrderStatus
from models.outbox import OutboxEvent
from models.payments import (
    DoublePayment,
    DoublePaymentStatus,
    PaymentNotice,
    Refund,
    RefundStatus,
)
from models.queues import Entry, EntryStatus, Extraction, PendingSettlement, Queue
from models.transfers import PointsTransfer
from models.union_pool import PoolAcceleration, PoolConfig, PoolDay, PoolEntry, PoolEntryStatus
from models.withdrawals import Withdrawal, WithdrawalStatus

__all__ = [
    "ApplicationStatus",
    "Asset",
    "AuditLog",
    "Cashier",
    "Commission",
    "CommissionKind",
    "CommissionStatus",
    "CreditKind",
    "CreditStatus",
    "DeliveryAttempt",
    "DeliveryStatus",
    "DistributionConfig",
    "DividendRun",
    "DividendShare",
    "DoublePayment",
    "DoublePaymentStatus",
    "Entry",
    "EntryStatus",
    "Extraction",
    "GuardrailAck",
    "JobRun",
    "JobRunStatus",
    "JobSetting",
    "LineStatus",
    "LotteryDraw",
    "Member",
    "MemberLevel",
    "MemberLevelChange",
    "Merchant",
    "MerchantApplication",
    "MerchantInvite",
    "MerchantTransfer",
    "NotificationDelivery",
    "NotifierCursor",
    "OfficialAccountFollower",
    "Operator",
    "OperatorSession",
    "OperatorToken",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OutboxEvent",
    "PaymentNotice",
    "PendingSettlement",
    "PointsTransfer",
    "PoolAcceleration",
    "PoolConfig",
    "PoolDay",
    "PoolEntry",
    "PoolEntryStatus",
    "Posting",
    "Product",
    "ProductKind",
    "Queue",
    "RebateConfig",
    "Refund",
    "RefundStatus",
    "SettingDoc",
    "Statement",
    "StatementStatus",
    "Store",
    "StoreCredit",
    "SubscribeConsent",
    "Supplier",
    "TeamLevelChange",
    "TeamStanding",
    "TransferState",
    "Wallet",
    "Withdrawal",
    "WithdrawalStatus",
]

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ProductKind(StrEnum):
    SELF = "self"  # 商城自营
    SUPPLIER = "supplier"  # 供应商
    STORE = "store"  # 门店商品


class Store(Model):
    """门店. ``rebate`` is 门店排队返利设置 (a TargetSettings document, null when not configured)."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=64)
    commission_bp = fields.IntField(default=0)  # agreed commission / discount rate
    rebate_enabled = fields.BooleanField(default=True)
    rebate = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "store"


class Cashier(Model):
    """门店收银台: one per store. ``rebate`` is 收银台排队返利设置."""

    id = fields.BigIntField(primary_key=True)
    store = fields.OneToOneField("models.Store", related_name="cashier", on_delete=fields.CASCADE)
    rebate_enabled = fields.BooleanField(default=True)
    rebate = fields.JSONField(null=True)

    class Meta:
        table = "cashier"


class Supplier(Model):
    """供应商: whose goods the mall sells (supplier goods name one)."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=64)
    contact = fields.CharField(max_length=32, default="")
    phone = fields.CharField(max_length=32, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "supplier"


class Product(Model):
    """商品: self-operated, supplier, or a store's. ``rebate`` is 商品设置 / 门店商品设置.

    Prices in fen: ``cost_price_fen`` (成本价) and ``supply_price_fen`` (供货价, supplier goods)
    are for the union pool's margin and never shown to members. ``stock`` null: unlimited;
    otherwise orders reserve it. ``images``: a list of http(s) URLs (null: none)."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(ProductKind, max_length=16)
    store = fields.ForeignKeyField(
        "models.Store", related_name="products", null=True, on_delete=fields.RESTRICT
    )
    supplier = fields.ForeignKeyField(
        "models.Supplier", related_name="products", null=True, on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=128)
    price_fen = fields.BigIntField()
    cost_price_fen = fields.BigIntField(null=True)
    supply_price_fen = fields.BigIntField(null=True)
    external_code = fields.CharField(max_length=64, null=True, unique=True)  # 商品编码
    images = fields.JSONField(null=True)
    stock = fields.BigIntField(null=True)  # null: unlimited
    listed = fields.BooleanField(default=True)  # a delisted product's own queue never pays again
    rebate_enabled = fields.BooleanField(default=True)
    rebate = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "product"
        indexes = (("store_id",), ("supplier_id",))

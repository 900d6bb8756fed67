"""会员等级 (member levels) over plain values: the operator's ladder, its checks, and which level
a member's completed orders reach. The rank is the key ``level_bp`` uses (SPEC §5: the first
step of every ratio chain); rank 0 is "no level" and is never defined.

A level's upgrade conditions (升级条件): cumulative completed spend ``spend_fen`` and/or a
number of completed orders ``orders``, both counted within the last ``days`` days (``None``:
ever). With both set, ``match`` says whether both must be met (``all``, the default) or either
(``any``). A level with no condition is assigned by an operator only.

Levels rise by themselves and never fall by themselves: a member is raised to the highest
automatic level they reach when it is above the one they hold.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rebate.errors import InvalidSetting

MAX_RANK = 99
MAX_NAME_CHARS = 16
MAX_DAYS = 3660  # ten years
MAX_ORDERS = 1_000_000
MAX_SPEND_FEN = 100_000_000_00  # one hundred million yuan


class Match(StrEnum):
    ALL = "all"  # 全部满足
    ANY = "any"  # 满足任一


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: object, field: str, label: str, low: int, high: int) -> None:
    if not _whole(value) or not low <= value <= high:  # type: ignore[operator]
        raise InvalidSetting(f"{label}必须是 {low}–{high} 之间的整数", field=field)


@dataclass(frozen=True)
class Measured:
    """What a member's completed orders add up to within one window."""

    spend_fen: int = 0
    orders: int = 0


Window = int | None  # days; None: every completed order ever


@dataclass(frozen=True)
class LevelRule:
    """One 会员等级 as the operator defined it."""

    rank: int
    name: str
    spend_fen: int | None = None  # 累计消费（分）
    orders: int | None = None  # 完成订单数
    days: int | None = None  # 统计天数 (None: ever)
    match: Match = Match.ALL

    @property
    def automatic(self) -> bool:
        """A level with a condition is reached by itself; one without is only assigned."""
        return self.spend_fen is not None or self.orders is not None

    def check(self) -> None:
        _count(self.rank, "rank", "会员等级编号", 1, MAX_RANK)
        if not isinstance(self.name, str) or not 0 < len(self.name.strip()) <= MAX_NAME_CHARS:
            raise InvalidSetting(f"会员等级名称必须是 1–{MAX_NAME_CHARS} 个字", field="name")
        if self.spend_fen is not None:
            _count(self.spend_fen, "spend_fen", "累计消费金额（分）", 1, MAX_SPEND_FEN)
        if self.orders is not None:
            _count(self.orders, "orders", "完成订单数", 1, MAX_ORDERS)
        if self.days is not None:
            _count(self.days, "days", "统计天数", 1, MAX_DAYS)
            if not self.automatic:
                raise InvalidSetting("没有升级条件的等级不能设置统计天数", field="days")
        if self.match not in tuple(Match):
            raise InvalidSetting("match 必须是 all（全部满足）或 any（满足任一）", field="match")

    def reached_by(self, measured: Mapping[Window, Measured]) -> bool:
        """Whether what was measured in this level's window meets its conditions."""
        if not self.automatic:
            return False
        seen = measured.get(self.days, Measured())
        met = [
            seen.spend_fen >= self.spend_fen if self.spend_fen is not None else None,
            seen.orders >= self.orders if self.orders is not None else None,
        ]
        given = [m for m in met if m is not None]
        return all(given) if self.match == Match.ALL else any(given)


@dataclass(frozen=True)
class _Atom:
    kind: str  # spend | orders
    minimum: int
    days: Window


def _atoms(level: LevelRule) -> list[_Atom]:
    atoms = []
    if level.spend_fen is not None:
        atoms.append(_Atom("spend", level.spend_fen, level.days))
    if level.orders is not None:
        atoms.append(_Atom("orders", level.orders, level.days))
    return atoms


def _atom_implies(a: _Atom, b: _Atom) -> bool:
    """Meeting ``a`` means meeting ``b``: the same measure, at least as much, in a window that
    lies inside ``b``'s (spend in the last 30 days is at most spend in the last 90)."""
    inside = b.days is None or (a.days is not None and a.days <= b.days)
    return a.kind == b.kind and a.minimum >= b.minimum and inside


def _implies(a: LevelRule, b: LevelRule) -> bool:
    """Whoever meets ``a``'s conditions surely meets ``b``'s (so ``b`` is no harder)."""

    def a_implies(atom: _Atom) -> bool:
        found = [_atom_implies(x, atom) for x in _atoms(a)]
        return any(found) if a.match == Match.ALL or len(found) == 1 else all(found)

    if b.match == Match.ALL or len(_atoms(b)) == 1:
        return all(a_implies(atom) for atom in _atoms(b))
    if a.match == Match.ANY and len(_atoms(a)) > 1:
        return all(any(_atom_implies(x, y) for y in _atoms(b)) for x in _atoms(a))
    return any(a_implies(atom) for atom in _atoms(b))


def check_ladder(levels: Sequence[LevelRule]) -> None:
    """Each level valid; ranks and names unique; and every automatic level harder to reach than
    every automatic level below it — refused when meeting a lower level's conditions would
    already meet a higher one's (a higher rank with weaker or equal conditions). Levels with
    incomparable conditions (spend against a number of orders) are allowed."""
    for level in levels:
        level.check()
    ranks = [lv.rank for lv in levels]
    if len(set(ranks)) < len(ranks):
        raise InvalidSetting("会员等级编号重复", field="rank")
    names = [lv.name.strip() for lv in levels]
    if len(set(names)) < len(names):
        raise InvalidSetting("会员等级名称重复", field="name")
    auto = sorted((lv for lv in levels if lv.automatic), key=lambda lv: lv.rank)
    for i, low in enumerate(auto):
        for high in auto[i + 1 :]:
            if _implies(low, high):
                raise InvalidSetting(
                    f"等级 {high.rank}「{high.name}」的升级条件不高于等级 {low.rank}"
                    f"「{low.name}」：等级越高，升级条件必须越高",
                    field="spend_fen" if high.spend_fen is not None else "orders",
                )


def windows(levels: Iterable[LevelRule]) -> list[Window]:
    """The windows the automatic levels count in, each once (``None`` last)."""
    found = {lv.days for lv in levels if lv.automatic}
    return sorted(d for d in found if d is not None) + ([None] if None in found else [])


def level_reached(levels: Iterable[LevelRule], measured: Mapping[Window, Measured]) -> int:
    """The highest automatic rank whose conditions are met; 0 when none is."""
    return max((lv.rank for lv in levels if lv.reached_by(measured)), default=0)


def upgrade(levels: Iterable[LevelRule], current: int, measured: Mapping[Window, Measured]) -> int:
    """The rank a member holding ``current`` rises to, or ``current``: never lower."""
    return max(current, level_reached(levels, measured))


def next_level(levels: Iterable[LevelRule], current: int) -> LevelRule | None:
    """The lowest automatic level above ``current`` (what the member can work towards)."""
    above = [lv for lv in levels if lv.automatic and lv.rank > current]
    return min(above, key=lambda lv: lv.rank) if above else None

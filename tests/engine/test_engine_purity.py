"""The engine stays pure (STYLE: "the money rules live in one pure package"): stdlib only, no
I/O, no clock, no randomness of its own, no floats in money arithmetic."""

import ast
from pathlib import Path

import pytest

import rebate

ENGINE = Path(rebate.__file__).parent
MODULES = sorted(ENGINE.glob("*.py"))

ALLOWED = {
    "__future__",
    "abc",
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "heapq",
    "itertools",
    "math",
    "operator",
    "types",
    "typing",
    "rebate",
}
# Named so a failure says plainly what crept in; all are outside ALLOWED anyway.
FORBIDDEN = {
    "aiohttp",
    "tortoise",
    "redis",
    "wechatpy",
    "wechatpayv3",
    "asyncpg",
    "aiosqlite",
    "apscheduler",
    "requests",
    "httpx",
    "random",
    "secrets",
    "time",
    "os",
    "sys",
    "socket",
    "asyncio",
    "threading",
    "uuid",
    "logging",
    "importlib",
    "sqlite3",
    "decimal",
    "zoneinfo",
    "models",
    "services",
    "runtime",
    "bot",
    "miniapp_api",
    "jobs",
    "wechat",
}
CLOCK_CALLS = {
    "now",
    "utcnow",
    "today",
    "fromtimestamp",
    "utcfromtimestamp",
    "monotonic",
    "perf_counter",
    "time_ns",
}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_roots(module: ast.Module) -> set[str]:
    roots = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add("rebate" if node.level else (node.module or "").split(".")[0])
    return roots


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_the_engine_modules_are_all_found():
    names = {p.stem for p in MODULES}
    assert {
        "money",
        "settings",
        "queues",
        "ratios",
        "eligibility",
        "book",
        "random_return",
        "lottery",
        "settlement",
        "distribution",
        "distribution_settings",
        "store_commission",
    } <= names


@pytest.mark.parametrize("path", MODULES, ids=ids(MODULES))
def test_engine_imports_only_the_allowed_stdlib(path):
    roots = imported_roots(tree(path))
    assert not roots & FORBIDDEN, f"{path.name} imports {sorted(roots & FORBIDDEN)}"
    assert roots <= ALLOWED, f"{path.name} imports {sorted(roots - ALLOWED)}"


@pytest.mark.parametrize("path", MODULES, ids=ids(MODULES))
def test_engine_never_reads_the_clock(path):
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in CLOCK_CALLS, (
                f"{path.name}:{node.lineno} calls .{node.func.attr}(): take `now` as an argument"
            )
    text = path.read_text(encoding="utf-8")
    assert ".now(" not in text and "time.time" not in text


@pytest.mark.parametrize("path", MODULES, ids=ids(MODULES))
def test_engine_never_imports_dynamically(path):
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"__import__", "eval", "exec", "open"}, (
                f"{path.name}:{node.lineno} calls {node.func.id}()"
            )


@pytest.mark.parametrize("path", MODULES, ids=ids(MODULES))
def test_engine_has_no_float_arithmetic(path):
    """Money is integer fen and basis points: no float literals, float() or true division."""
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Constant):
            assert not isinstance(node.value, float), f"{path.name}:{node.lineno} float literal"
        if isinstance(node, ast.BinOp | ast.AugAssign):
            assert not isinstance(node.op, ast.Div), f"{path.name}:{node.lineno} uses `/`"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "float", f"{path.name}:{node.lineno} calls float()"


def test_purity_check_catches_a_forbidden_import():
    bad = ast.parse("import random\nfrom aiohttp import web\nfrom . import money\n")
    assert imported_roots(bad) == {"random", "aiohttp", "rebate"}

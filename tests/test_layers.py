"""Layers import downward only (docs/architecture.md).

From the bottom: the pure engine; the runtime (settings, database wiring); the adapters (tables,
WeChat clients); the ledger and the fake WeChat; the services; the HTTP plumbing the edges share;
the edges (mini-program API, operators' API and web console, chat bot, scheduler); the
composition root; the demo and the benchmarks; and the command line on top of everything (it
starts the demo too).

A module may import from its own package and from lower layers, never from a higher layer nor
from another package of its own layer (the mini-program API does not import the bot). Every
import counts, including those inside functions.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("rebate",),
    ("runtime",),
    ("models", "wechat"),
    ("ledger", "wechat_fake"),
    ("services",),
    ("web",),
    ("miniapp_api", "admin_api", "console", "bot", "jobs"),
    ("server",),
    ("demo", "bench"),
    ("server.cli",),
)
UNITS = {name for layer in LAYERS for name in layer}
PACKAGES = {name.split(".")[0] for name in UNITS}


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, unit): the most specific name of LAYERS that ``module`` is or is inside."""
    best: tuple[int, str] | None = None
    for index, layer in enumerate(LAYERS):
        for unit in layer:
            if module == unit or module.startswith(unit + "."):
                if best is None or len(unit) > len(best[1]):
                    best = (index, unit)
    if best is None:
        raise LookupError(module)
    return best


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in sorted(PACKAGES):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def imports(source: str, known: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a project package in ``source`` (the
    project uses absolute imports only). ``from a import b`` imports ``a.b`` when that is a
    unit of LAYERS or one of the ``known`` modules."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            # `from server import cli` imports server.cli, a unit of its own
            units = {f"{node.module}.{a.name}" for a in node.names} & (UNITS | known)
            names = [*sorted(units)] or [node.module or ""]
        else:
            continue
        out += [(node.lineno, name) for name in names if name.split(".")[0] in PACKAGES]
    return out


def violations(module: str, source: str) -> list[str]:
    here, unit = layer_of(module)
    found = []
    for line, target in imports(source):
        there, other = layer_of(target)
        if other != unit and there > here:
            found.append(f"{module}:{line} imports {target} (layer {there} > {here})")
        elif other != unit and there == here:
            found.append(f"{module}:{line} imports {target}, another package of layer {here}")
    return sorted(set(found))


MODULES = modules()


@pytest.mark.parametrize("name,path", MODULES, ids=[m for m, _ in MODULES])
def test_module_imports_only_downward(name, path):
    assert violations(name, path.read_text(encoding="utf-8")) == []


def test_every_project_package_has_a_layer():
    on_disk = {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and p.name not in {"tests", "migrations"}
    }
    assert on_disk == PACKAGES


def test_the_check_catches_an_upward_import():
    assert violations("services.orders.payments", "from bot.alerts import x\n") == [
        "services.orders.payments:1 imports bot.alerts (layer 6 > 4)"
    ]
    assert violations("runtime.config", "import services.clock\n") == [
        "runtime.config:1 imports services.clock (layer 4 > 1)"
    ]


def test_the_check_catches_a_sibling_import():
    assert violations("bot.routes", "from miniapp_api.views import orders\n") != []
    assert violations("models.orders", "from wechat.client import X\n") != []


def test_the_check_allows_downward_and_own_package_imports():
    source = "from services.clock import utcnow\nfrom rebate.money import apply_bp\n"
    assert violations("services.orders.payments", source) == []
    assert violations("server.cli", "from demo.live import run\nfrom server.app import x\n") == []
    assert violations("bot.routes", "from bot import handlers\nfrom web.keys import X\n") == []


def test_the_command_line_sits_above_the_demo_it_starts():
    assert violations("server.app", "from demo.live import run\n") != []
    assert violations("demo.story", "from server.cli import main\n") != []


def cycle_in(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (module → modules it imports), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return []


def test_no_import_cycles():
    """No module imports itself back through others."""
    names = frozenset(name for name, _ in MODULES)
    graph = {
        name: {t for _, t in imports(path.read_text(encoding="utf-8"), names) if t in names}
        for name, path in MODULES
    }
    assert cycle_in(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) == []

"""The console over HTTP: its pages and every shipped asset are served from the package with a
Content-Security-Policy that allows this origin only and a revalidation cache policy, and no
shipped file names anything outside this server (no CDN: the console loads in a network that
reaches nothing else)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.pages import STATIC
from tests.api.conftest import Api

ASSETS = sorted(p for p in STATIC.rglob("*") if p.is_file())
# any scheme-qualified or protocol-relative URL, or an @import / url() of one
EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import\s+url\(\s*['\"]?https?:", re.I)
ALLOWED = ("http://www.w3.org/2000/svg",)  # the SVG namespace: a name, never fetched


@pytest.fixture
async def sqlite_api(make_api: Callable[..., Any]) -> Api:
    started: Api = await make_api("sqlite", redis=False)
    return started


def csp_directives(header: str) -> dict[str, list[str]]:
    return {parts[0]: parts[1:] for parts in (d.split() for d in header.split(";") if d.strip())}


async def test_the_console_and_its_login_page_are_served_with_a_same_origin_policy(
    sqlite_api: Api,
) -> None:
    for path, marker in (("/admin/", "/admin/static/app.js"), ("/admin/login", "login.js")):
        response = await sqlite_api.client.get(path)
        assert response.status == 200, path
        assert response.content_type == "text/html" and response.charset == "utf-8"
        assert marker in await response.text()
        directives = csp_directives(response.headers["Content-Security-Policy"])
        assert directives["default-src"] == ["'self'"] and directives["script-src"] == ["'self'"]
        assert directives["connect-src"] == ["'self'"] and directives["object-src"] == ["'none'"]
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    moved = await sqlite_api.client.get("/admin", allow_redirects=False)
    assert moved.status == 308 and moved.headers["Location"] == "/admin/"


async def test_every_shipped_asset_is_served_with_its_type_and_revalidates(
    sqlite_api: Api,
) -> None:
    types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
    assert {p.suffix for p in ASSETS} <= set(types)
    for path in ASSETS:
        url = "/admin/static/" + path.relative_to(STATIC).as_posix()
        response = await sqlite_api.client.get(url)
        assert response.status == 200, url
        assert response.content_type in (types[path.suffix], "application/javascript"), url
        assert await response.read() == path.read_bytes()
        assert "Content-Security-Policy" in response.headers
        assert response.headers["Cache-Control"] == "no-cache"
        again = await sqlite_api.client.get(
            url, headers={"If-None-Match": response.headers["ETag"]}
        )
        assert again.status == 304, url
    missing = await sqlite_api.client.get("/admin/static/nothing.js")
    assert missing.status == 404
    escape = await sqlite_api.client.get("/admin/static/../pages.py")
    assert escape.status in (403, 404)


def test_no_shipped_asset_names_an_external_url() -> None:
    assert ASSETS, STATIC
    found = []
    for path in ASSETS:
        text = path.read_text(encoding="utf-8")
        for match in EXTERNAL.finditer(text):
            if not any(text.startswith(allowed, match.start()) for allowed in ALLOWED):
                found.append(f"{path.name}: {match.group(0)}")
    assert found == []


def test_every_module_a_page_imports_is_shipped() -> None:
    """Relative imports resolve to files of the package (a typo would fail only in a browser)."""
    for path in ASSETS:
        if path.suffix != ".js":
            continue
        for name in re.findall(r"from\s+'(\.{1,2}/[^']+)'", path.read_text(encoding="utf-8")):
            assert (path.parent / name).resolve().is_file(), f"{path.name} imports {name}"


def test_the_package_declares_its_assets_as_package_data() -> None:
    """A non-editable install ships console/static/ (pyproject's package-data globs)."""
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["console"]
    root = STATIC.parent
    covered = {p for pattern in globs for p in root.glob(pattern)}
    assert set(ASSETS) <= covered

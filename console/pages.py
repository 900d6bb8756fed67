"""The console's routes: ``/admin/`` (the single-page console), ``/admin/login`` and the files
under ``/admin/static/``, every response with a Content-Security-Policy that allows nothing
but this origin (no external script, style, font, image or connection: a page in China must
load when a foreign CDN does not) and a cache policy.

Assets keep their names (no build step, so no content hashes): they are served with
``Cache-Control: no-cache``, which lets the browser keep them and revalidate by ETag / Last-
Modified (a 304 when unchanged), so a new release is picked up on the next load.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/admin"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers={"Content-Type": "text/html; charset=utf-8"})


async def console_index(request: web.Request) -> web.StreamResponse:
    """The console itself; its pages are routed in the browser (``#/settings``…)."""
    return page("index.html")


async def console_login(request: web.Request) -> web.StreamResponse:
    return page("login.html")


async def to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(f"{PREFIX}/")


async def console_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The console's security and cache headers, on everything served under ``/admin``."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        response.headers.update(HEADERS)


def install(app: web.Application) -> None:
    """Serve the console from this package's files (``app.router``: pages, not API, so they
    are not in the OpenAPI document)."""
    app.router.add_get(PREFIX, to_console)
    app.router.add_get(f"{PREFIX}/", console_index)
    app.router.add_get(f"{PREFIX}/login", console_login)
    app.router.add_static(f"{PREFIX}/static", STATIC, append_version=False)
    app.on_response_prepare.append(console_headers)

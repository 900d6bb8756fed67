"""The operators' web console (运营后台), served under ``/admin/`` by the same aiohttp app.

A page of static files shipped inside this package (``console/static/``: HTML, one CSS file,
vanilla JavaScript modules — no build step, no CDN): the console works in a network that
reaches nothing but this server. It holds no business rule of its own: every action is a call
of the operators' HTTP API (``/api/admin/...``) made by ``static/api.js``; the server enforces
what a role may do, the console only hides what it may not.

``install(app)`` adds the routes and the response headers (``pages``).
"""

from console.pages import install

__all__ = ["install"]

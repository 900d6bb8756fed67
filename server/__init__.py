"""The server: the composition root (``server.app.create_app``), the command line
(``server.cli``), the WeChat clients built from the settings (``server.wechat_clients``) and the
operations endpoints (``server.ops``).

``create_app(settings)`` is the one composition root; ``queue-rebate serve`` runs it. The
endpoints, their inputs and their answers are listed at ``GET /api/openapi.json``, generated
from the route specs the server itself is built from (``web.registry``).

Choices, written down:

- Errors are JSON ``{"code", "message", "field"}``: ``code`` stable for programs, ``message``
  in Chinese for the member, ``field`` the offending input. Domain refusals map by code:
  not_found 404; invalid_amount / invalid_ratio / invalid_setting 400; not_allowed,
  already_settled, conflict 409 (the request clashes with the resource's current state or the
  mall's rules — none of them is a permission question). Anything unexpected is a 500 with a
  generic message; its traceback goes to the log under the request id.
- Another member's order answers 404, not 403: whether it exists is not the caller's business.
- Tokens are HMAC-SHA256 over ``v1|kind|subject|expiry``, one secret per kind (member, admin),
  the kind inside the signed payload; no JWT. An unset secret gets a random per-process one
  (logged): fine for the demo, useless across processes — set both in production.
- WeChat calls go through ``wechat.client`` over one shared aiohttp session (why not wechatpy's
  clients: see that module). The access token is the *stable* token, cached in Redis, so
  several processes never invalidate each other's token.
- Rate limits are fixed windows (``INCR`` + ``EXPIRE`` in one MULTI pipeline), shared through
  Redis, per process without it; a Redis failure lets the request through and is logged,
  ``/readyz`` reports it. Behind a reverse proxy list it in ``[server] trusted_proxies``.
- Point/love-value deduction at order time debits the wallet in the order's transaction, the
  wallet row locked (``services.orders.deduction``): a member cannot pay with balances they do
  not have.
- A refund request only records the request and asks WeChat Pay; the queues change when the
  refund notification arrives (``services.orders.refunds``, ``services.orders.payments``).
- Referral binding (SPEC §8) is ``services.distribution.referral``: the first referral code a member arrives
  through while they have no referrer binds it; refusals never fail the login.
- ``ApiOptions`` is what the app runs with: ``ApiOptions.from_settings`` takes the deployment
  knobs of the settings file (token lifetimes, rate limits, trusted proxies, the refund notify
  URL) and the process's role; the rest (the referral QR's page, the Redis key prefix) keep
  production defaults.
- A process is ``server.process.run_process``: SIGTERM stops it gracefully, SIGHUP re-reads the
  WeChat Pay platform key files; ``server.health`` answers ``/healthz`` and ``/readyz``.
"""

"""The HTTP plumbing every edge shares: route specs that drive routing, auth, validation and
the OpenAPI document (``registry``), tokens (``auth``), JSON errors (``errors``), middlewares,
metrics, the typed application keys (``keys``), query parameters and paging (``query``), and
the JSON shapes more than one edge answers with (``common``, ``schemas``).
"""

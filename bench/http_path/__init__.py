"""The payment path through HTTP: ``python -m bench.http_path`` (``make bench-http``).

Not named ``bench/http``: ``bench/`` is put first on ``sys.path`` when one of its files runs as
a script (``QR_BENCH_SETTLER=bench/statement_profile.py``), and a ``bench/http`` there would
shadow the standard library's ``http`` that aiohttp imports.
"""

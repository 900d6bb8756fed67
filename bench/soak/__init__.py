"""The soak: ``python -m bench.soak`` (``make soak``), a long steady run of the whole product.

It reuses the HTTP benchmark's machinery (``bench.http_path``: the fake WeChat in its own
process, real ``queue-rebate serve`` processes, members logging in and ordering over HTTP,
signed WeChat Pay notifications, the settled-once checks and ``queue-rebate check``) and adds
what a day in production has that a benchmark round does not: a steady rate for minutes,
WeChat Pay's retries (duplicate notifications), an operator changing settings and running
jobs, the servers' own schedulers, and a notifier beside them. It reports memory growth per
process, errors, settlement lag and conservation.
"""

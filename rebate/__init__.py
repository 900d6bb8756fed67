"""The pure rebate engine (SPEC §2–§7).

Stdlib only: no I/O, no clock, no randomness of its own. Callers pass plain values
(settings, amounts, ``now``, a random source) and get plain results back.
"""

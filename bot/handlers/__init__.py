"""One router per feature. ``ROUTERS`` is the order they are registered in."""

from bot.handlers import balance, follow, help, lottery, progress, referral

ROUTERS = [
    follow.router,
    progress.router,
    balance.router,
    referral.router,
    lottery.router,
    help.router,
]

__all__ = ["ROUTERS"]

import io

from demo.engine import run_demo
from services.checks import check_conservation


async def test_demo_tells_the_seed_story_and_balances(db):
    out = io.StringIO()
    await run_demo(out, pause=0)
    text = out.getvalue()
    assert "¥218.40" in text and "¥109.20" in text  # the seed's 168.00 at 130% / 65%
    assert "已退款" in text and "随机返：转为 1500 积分" in text
    assert text.rstrip().splitlines()[-1].startswith("对账（queue-rebate check）：通过")
    assert await check_conservation() == []

"""Events as Chinese messages: pure formatting rules, no database."""

from bot.messages import percent, queue_label, render, template_data, yuan
from runtime.bot_settings import Names, Template
from tests.bot.conftest import T0


def test_amounts_are_whole_fen_shown_as_yuan_without_floats():
    assert [yuan(0), yuan(5), yuan(21840), yuan(-120)] == ["0.00", "0.05", "218.40", "-1.20"]


def test_progress_is_shown_in_percent_without_trailing_zeros():
    assert [percent(5000), percent(3333), percent(10000), percent(1250)] == [
        "50%",
        "33.33%",
        "100%",
        "12.5%",
    ]


def test_queue_keys_read_as_words():
    assert [queue_label(k) for k in ("mall", "product:7", "stores", "store:3", "cashier:3")] == [
        "商城队列",
        "商品#7队列",
        "门店队列",
        "门店#3队列",
        "收银台#3队列",
    ]


def test_custom_names_appear_in_every_member_message():
    names = Names(plugin="共享链", exchange="换购")
    joined = render(
        "entry_joined", {"queue": "mall", "position": 0, "entitlement_fen": 100}, names=names, at=T0
    )
    assert joined.member is not None and joined.member.text.startswith("【共享链】")
    assert joined.member.fields["position"] == "第1位" and joined.member.fields["rank"] == "1"
    exchanged = render("entry_exchanged", {"asset": "points", "amount": 30}, names=names, at=T0)
    assert exchanged.member is not None and exchanged.member.title == "换购成功"


def test_template_values_fit_wechat_limits_and_are_never_empty():
    message = render(
        "merchant_application_decided", {"approved": False, "name": "一" * 30}, names=Names(), at=T0
    ).member
    assert message is not None
    data = template_data(
        message, Template("T", {"thing1": "merchant", "phrase2": "result", "thing3": "reason"})
    )
    assert data == {"thing1": "一" * 19 + "…", "phrase2": "未通过", "thing3": "-"}


def test_kinds_nobody_is_told_about_render_nothing():
    assert render("something_new", {}, names=Names(), at=T0) == render(
        "operator_alert", {"text": ""}, names=Names(), at=T0
    )


def test_a_manual_adjustment_tells_the_member_what_moved_and_why():
    given = render(
        "balance_adjusted", {"balance": "cash", "amount": 1500, "reason": "客服补偿"},
        names=Names(), at=T0,
    ).member  # fmt: skip
    taken = render(
        "balance_adjusted", {"balance": "points", "amount": -30, "reason": "误发"},
        names=Names(), at=T0,
    ).member  # fmt: skip
    assert given is not None and "返现余额已由平台增加15.00元，原因：客服补偿" in given.text
    assert taken is not None and "积分已由平台扣减30，原因：误发" in taken.text


def test_a_member_level_change_says_the_new_level_and_for_a_change_by_hand_why():
    def told(payload):
        message = render("member_level_changed", payload, names=Names(), at=T0).member
        assert message is not None
        return message

    up = told(
        {"from_level": 0, "to_level": 2, "name": "金卡", "source": "auto", "reason": "达到升级条件"}
    )
    assert up.title == "会员升级" and "恭喜！您的会员等级已升级为金卡" in up.text
    down = told(
        {"from_level": 2, "to_level": 1, "name": "银卡", "source": "operator", "reason": "核对消费"}
    )
    assert "会员等级已由平台调整为银卡，原因：核对消费" in down.text
    gone = told(
        {"from_level": 1, "to_level": 0, "name": None, "source": "operator", "reason": "退出会员"}
    )
    assert "会员等级已由平台取消，原因：退出会员" in gone.text
    assert gone.fields["level"] == "-"


def test_a_points_transfer_tells_the_receiver_who_sent_how_many():
    named = render(
        "points_received",
        {"transfer_id": 1, "points": 300, "from_code": "AB12CD34", "from_nickname": "小王"},
        names=Names(), at=T0,
    ).member  # fmt: skip
    unnamed = render(
        "points_received", {"points": 5, "from_code": "AB12CD34", "from_nickname": ""},
        names=Names(), at=T0,
    ).member  # fmt: skip
    assert named is not None and named.title == "收到积分"
    assert "小王向您转让了300积分" in named.text and named.fields["detail"] == "收到300积分"
    assert unnamed is not None and "推荐码AB12CD34向您转让了5积分" in unnamed.text


def test_released_love_value_tells_the_member_it_can_be_used():
    told = render(
        "love_released", {"amount": 120, "love_available": 170}, names=Names(), at=T0
    ).member
    assert told is not None and told.title == "爱心值解冻"
    assert "您有120爱心值已解冻，现在可以使用。当前可用爱心值170。" in told.text

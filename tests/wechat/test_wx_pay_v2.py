"""Pay v2: the signing rule, notifications (each rejection on its own), refund req_info, the
unifiedorder exchange and wx.requestPayment parameters."""

import pytest
from wechatpy.crypto import WeChatRefundCrypto
from wechatpy.pay import WeChatPay

from tests.wechat.wxtest_constants import API_KEY, APPID, MCHID
from wechat import pay_v2
from wechat.errors import (
    BadCiphertext,
    BadSignature,
    ForbiddenXml,
    MalformedBody,
    OversizeBody,
    PaymentNotSuccessful,
    PayV2Error,
    ResponseSignatureInvalid,
    ReturnCodeFail,
    WrongMerchant,
)
from wechat.pay_v2 import MerchantV2
from wechat.xmlsafe import parse_flat_xml
from wechat_fake.notify import (
    build_v2_payment_notification,
    build_v2_refund_notification,
    encrypt_refund_req_info,
    signed_v2_xml,
    wechat_v2_sign,
)

# The worked example of WeChat Pay's "安全规范 / 签名算法" page
# (pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3).
DOC_PARAMS = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}
DOC_KEY = "192006250b4c09247ec02edce69f6a2d"
DOC_MD5 = "9A0A8659F005D6984697E2CA0A9CF3B7"
DOC_HMAC = "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"


def notification(**overrides) -> bytes:
    fields = {
        "api_key": API_KEY,
        "appid": APPID,
        "mch_id": MCHID,
        "out_trade_no": "Q202611250001",
        "total_fee": 16800,
        "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "transaction_id": "4200000000202611250000000001",
        "time_end": "20261125103000",
    }
    fields.update(overrides)
    return build_v2_payment_notification(**fields)


def verify(xml: bytes):
    return pay_v2.verify_payment_notification(xml, API_KEY, APPID, MCHID)


# --- signing rule ---------------------------------------------------------------------------


def test_md5_sign_matches_wechat_documented_example():
    assert pay_v2.sign(DOC_PARAMS, DOC_KEY) == DOC_MD5


def test_hmac_sha256_sign_matches_wechat_documented_example():
    assert pay_v2.sign(DOC_PARAMS, DOC_KEY, pay_v2.HMAC_SHA256) == DOC_HMAC


def test_empty_values_and_the_sign_itself_are_not_signed():
    noisy = {**DOC_PARAMS, "attach": "", "detail": None, "sign": "whatever"}
    assert pay_v2.sign(noisy, DOC_KEY) == DOC_MD5


def test_unknown_sign_type_is_refused():
    with pytest.raises(ValueError):
        pay_v2.sign(DOC_PARAMS, DOC_KEY, "SHA1")


@pytest.mark.parametrize("sign", [DOC_MD5, DOC_HMAC, DOC_MD5.lower()])
def test_verify_picks_the_algorithm_from_the_sign_length(sign):
    assert pay_v2.verify_sign({**DOC_PARAMS, "sign": sign}, DOC_KEY)


def test_verify_uses_declared_sign_type():
    params = {**DOC_PARAMS, "sign_type": "HMAC-SHA256"}
    params["sign"] = pay_v2.sign(params, DOC_KEY, "HMAC-SHA256")
    assert pay_v2.verify_sign(params, DOC_KEY)
    params["sign_type"] = "MD5"
    assert not pay_v2.verify_sign(params, DOC_KEY)


@pytest.mark.parametrize("sign", ["", "0" * 32, "0" * 64, DOC_MD5[:-1], "非ASCII" * 8])
def test_verify_refuses_wrong_signs(sign):
    assert not pay_v2.verify_sign({**DOC_PARAMS, "sign": sign}, DOC_KEY)


def test_verify_refuses_a_changed_value():
    assert not pay_v2.verify_sign({**DOC_PARAMS, "body": "test2", "sign": DOC_MD5}, DOC_KEY)


# --- payment notifications ------------------------------------------------------------------


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_signed_successful_notification_is_accepted(sign_type):
    notice = verify(notification(sign_type=sign_type))
    assert notice.out_trade_no == "Q202611250001"
    assert notice.transaction_id == "4200000000202611250000000001"
    assert notice.total_fen == 16800
    assert notice.payer_total_fen == 16800
    assert notice.openid == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert notice.paid_at.isoformat() == "2026-11-25T10:30:00+08:00"
    assert (notice.appid, notice.mchid) == (APPID, MCHID)


def test_bad_v2_sign_is_rejected():
    xml = notification().replace(b"<total_fee>16800</total_fee>", b"<total_fee>1</total_fee>")
    with pytest.raises(BadSignature) as info:
        verify(xml)
    assert info.value.reason == "bad_signature"


def test_notification_signed_with_another_key_is_rejected():
    with pytest.raises(BadSignature):
        verify(notification(api_key="another-merchant-key-000000000000"))


def test_result_code_fail_is_rejected_but_marked_authentic():
    with pytest.raises(PaymentNotSuccessful) as info:
        verify(notification(result_code="FAIL"))
    assert info.value.reason == "result_fail"
    assert info.value.authentic


def test_return_code_fail_is_rejected():
    xml = b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>busy</return_msg></xml>"
    with pytest.raises(ReturnCodeFail) as info:
        verify(xml)
    assert info.value.reason == "return_fail"
    assert not info.value.authentic


def test_notification_for_another_merchant_is_rejected():
    with pytest.raises(WrongMerchant):
        verify(notification(mch_id="1900000999"))


def test_xxe_payload_is_rejected():
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<xml><return_code>SUCCESS</return_code><attach>&x;</attach></xml>"
    )
    with pytest.raises(ForbiddenXml) as info:
        verify(xml)
    assert info.value.reason == "forbidden_xml"


def test_billion_laughs_payload_is_rejected():
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    xml = f"<!DOCTYPE xml [{entities}]><xml><attach>&l9;</attach></xml>".encode()
    with pytest.raises(ForbiddenXml):
        verify(xml)


def test_oversize_body_is_rejected():
    xml = notification(attach="x" * 70_000)
    with pytest.raises(OversizeBody) as info:
        verify(xml)
    assert info.value.reason == "oversize"


def test_garbage_body_is_rejected_as_malformed():
    with pytest.raises(MalformedBody):
        verify(b"return_code=SUCCESS")


def test_signed_notification_with_a_non_numeric_amount_is_rejected():
    fields = parse_flat_xml(notification())
    fields.pop("sign")
    fields["total_fee"] = "16800.00"
    with pytest.raises(MalformedBody):
        verify(signed_v2_xml(fields, API_KEY))


def test_replies_are_wechat_xml():
    assert parse_flat_xml(pay_v2.success_reply()) == {"return_code": "SUCCESS", "return_msg": "OK"}
    assert parse_flat_xml(pay_v2.fail_reply("bad sign")) == {
        "return_code": "FAIL",
        "return_msg": "bad sign",
    }


# --- refund notifications -------------------------------------------------------------------

REFUND_INFO = {
    "out_trade_no": "Q202611250001",
    "out_refund_no": "R202611250001",
    "refund_id": "50000000000000000000000000001",
    "refund_fee": "8400",
    "total_fee": "16800",
    "refund_status": "SUCCESS",
}


def test_refund_req_info_round_trip():
    req_info = encrypt_refund_req_info(REFUND_INFO, API_KEY)
    assert pay_v2.decrypt_refund_req_info(req_info, API_KEY) == REFUND_INFO


def test_refund_req_info_is_what_wechatpy_decrypts_too():
    req_info = encrypt_refund_req_info(REFUND_INFO, API_KEY)
    outer = {"appid": APPID, "mch_id": MCHID, "req_info": req_info}
    decrypted = WeChatRefundCrypto(API_KEY).decrypt_message(outer, APPID, MCHID)
    assert dict(decrypted) == REFUND_INFO


def test_refund_req_info_under_another_key_is_rejected():
    req_info = encrypt_refund_req_info(REFUND_INFO, "another-merchant-key")
    with pytest.raises((BadCiphertext, MalformedBody)):
        pay_v2.decrypt_refund_req_info(req_info, API_KEY)


@pytest.mark.parametrize("req_info", ["", "not base64!", "QUJD"])
def test_refund_req_info_that_is_not_ciphertext_is_rejected(req_info):
    with pytest.raises(BadCiphertext):
        pay_v2.decrypt_refund_req_info(req_info, API_KEY)


@pytest.mark.parametrize(
    ("wechat_status", "status"),
    [("SUCCESS", "SUCCESS"), ("REFUNDCLOSE", "CLOSED"), ("CHANGE", "ABNORMAL")],
)
def test_refund_notification_is_decrypted_and_normalised(wechat_status, status):
    xml = build_v2_refund_notification(
        api_key=API_KEY,
        appid=APPID,
        mch_id=MCHID,
        out_trade_no="Q202611250001",
        out_refund_no="R202611250001",
        refund_id="50000000000000000000000000001",
        total_fee=16800,
        refund_fee=8400,
        refund_status=wechat_status,
    )
    notice = pay_v2.verify_refund_notification(xml, API_KEY, APPID, MCHID)
    assert notice.status == status
    assert (notice.out_refund_no, notice.refund_fen, notice.total_fen) == (
        "R202611250001",
        8400,
        16800,
    )
    assert notice.succeeded_at is not None


# --- our requests and WeChat's answers ------------------------------------------------------


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_unifiedorder_request_is_signed_as_wechat_checks_it(sign_type):
    merchant = MerchantV2(APPID, MCHID, API_KEY, sign_type)
    xml = pay_v2.build_unifiedorder_request(
        merchant,
        body="Mall-168",
        out_trade_no="Q1",
        total_fee=16800,
        openid="o1",
        notify_url="https://mall.example/pay/v2/notify",
        spbill_create_ip="127.0.0.1",
    )
    fields = parse_flat_xml(xml)
    sign = fields.pop("sign")
    assert sign == wechat_v2_sign(fields, API_KEY, sign_type)
    assert fields["trade_type"] == "JSAPI"
    assert fields["total_fee"] == "16800"
    assert "attach" not in fields


def test_unifiedorder_answer_gives_the_prepay_id():
    answer = signed_v2_xml(
        {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "result_code": "SUCCESS",
            "appid": APPID,
            "mch_id": MCHID,
            "nonce_str": "n",
            "trade_type": "JSAPI",
            "prepay_id": "wx201410272009395522657a690389285100",
        },
        API_KEY,
    )
    prepay_id = pay_v2.parse_unifiedorder_response(answer, API_KEY)
    assert prepay_id == "wx201410272009395522657a690389285100"


def test_answer_with_a_bad_sign_is_not_trusted():
    answer = signed_v2_xml({"return_code": "SUCCESS", "result_code": "SUCCESS"}, "other-key")
    with pytest.raises(ResponseSignatureInvalid):
        pay_v2.parse_unifiedorder_response(answer, API_KEY)


def test_answer_with_return_code_fail_raises_with_wechat_message():
    answer = b"<xml><return_code>FAIL</return_code><return_msg>sign error</return_msg></xml>"
    with pytest.raises(PayV2Error) as info:
        pay_v2.parse_unifiedorder_response(answer, API_KEY)
    assert (info.value.return_code, info.value.return_msg) == ("FAIL", "sign error")


def test_answer_with_result_code_fail_carries_err_code():
    answer = signed_v2_xml(
        {
            "return_code": "SUCCESS",
            "result_code": "FAIL",
            "err_code": "ORDERNOTEXIST",
            "err_code_des": "order does not exist",
        },
        API_KEY,
    )
    with pytest.raises(PayV2Error) as info:
        pay_v2.parse_orderquery_response(answer, API_KEY)
    assert info.value.err_code == "ORDERNOTEXIST"


def test_jsapi_params_match_wechatpy(merchant_v2):
    ours = pay_v2.jsapi_params(merchant_v2, "wx2014", timestamp=1414561699, nonce_str="abc")
    reference = WeChatPay(APPID, API_KEY, MCHID).jsapi.get_jsapi_params(
        "wx2014", timestamp="1414561699", nonce_str="abc"
    )
    assert ours == reference
    assert set(ours) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}


def test_jsapi_params_hmac_sign_verifies():
    merchant = MerchantV2(APPID, MCHID, API_KEY, pay_v2.HMAC_SHA256)
    params = pay_v2.jsapi_params(merchant, "wx2014")
    assert params["signType"] == "HMAC-SHA256"
    assert len(params["paySign"]) == 64
    pay_sign = params.pop("paySign")
    assert pay_v2.verify_sign({**params, "sign": pay_sign}, API_KEY)

"""WeChat OA and WeCom callbacks over real HTTP, checked against wechatpy as an independent implementation."""

from __future__ import annotations

import base64
import time

import pytest
import xmltodict
from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto as OAPrpCrypto
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WeComPrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature as wechatpy_check_signature

from bot.channels.wechat.callback import ERROR_TEXT, setup
from bot.channels.wechat.crypto import (
    AppIdMismatch,
    DecryptError,
    InvalidAESKey,
    InvalidSignature,
    MessageCrypto,
    check_signature,
    signature,
)
from bot.channels.wechat.xml import (
    MAX_BODY_BYTES,
    BodyTooLarge,
    MalformedXML,
    UnsafeXML,
    cdata,
    cut_utf8,
    parse_message_xml,
    text_reply_xml,
)
from bot.config import ROOT, Settings
from bot.core.model import Incoming
from bot.service import Service, load_engine
from bot.state.store import Store
from tests.channels.wechat_kit import (
    AES_KEY,
    APPID,
    CORPID,
    GH,
    NOW,
    OPENID,
    TOKEN,
    WECOM_AES_KEY,
    WECOM_TOKEN,
    decrypt_reply,
    event_xml,
    media_xml,
    plain_query,
    post_plain,
    post_safe,
    reply_content,
    sign,
    text_xml,
)

# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine():
    return load_engine(ROOT / "knowledge", ROOT / "intents.yaml")


@pytest.fixture
def services(tmp_path, engine):
    settings = Settings(
        db=tmp_path / "bot.sqlite3",
        wechat_token=TOKEN,
        wechat_appid=APPID,
        wechat_aes_key=AES_KEY,
        wechat_mode="compat",  # these tests post both plaintext and encrypted messages
        wecom_corpid=CORPID,
        wecom_token=WECOM_TOKEN,
        wecom_aes_key=WECOM_AES_KEY,
    )
    store = Store(settings.db)
    yield Service(engine=engine, store=store, settings=settings, clock=lambda: NOW)
    store.close()


@pytest.fixture
async def client(aiohttp_client, services):
    app = web.Application()
    setup(app, services)
    return await aiohttp_client(app)


# -- crypto, checked against wechatpy -------------------------------------------------------


def test_signature_matches_wechatpy():
    sig = signature(TOKEN, "1632103200", "nonce")
    wechatpy_check_signature(TOKEN, sig, "1632103200", "nonce")  # raises if different
    assert signature(TOKEN, "1", "2", "ENC") == sign(TOKEN, "1", "2", "ENC")
    check_signature(TOKEN, sig, "1632103200", "nonce")
    with pytest.raises(InvalidSignature):
        check_signature(TOKEN, sig, "1632103201", "nonce")
    with pytest.raises(InvalidSignature):
        check_signature(TOKEN, "", "1632103200", "nonce")
    with pytest.raises(InvalidSignature):
        check_signature(TOKEN, "签名", "1632103200", "nonce")


def test_encrypt_decrypt_both_ways_with_wechatpy():
    ours = MessageCrypto(TOKEN, AES_KEY, APPID)
    key = base64.b64decode(AES_KEY + "=")
    for text in ["", "质量月", "x" * 27, "总结材料" * 300]:
        # ours -> wechatpy
        assert OAPrpCrypto(key).decrypt(ours.encrypt(text), APPID) == text
        # wechatpy -> ours
        assert ours.decrypt(OAPrpCrypto(key).encrypt(text, APPID).decode()) == text
    # wechatpy's enterprise flavour is the same wire format with the CorpID
    wecom = MessageCrypto(WECOM_TOKEN, WECOM_AES_KEY, CORPID)
    wkey = base64.b64decode(WECOM_AES_KEY + "=")
    assert wecom.decrypt(WeComPrpCrypto(wkey).encrypt("企业微信", CORPID).decode()) == "企业微信"


def test_decrypt_refuses_tampering():
    ours = MessageCrypto(TOKEN, AES_KEY, APPID)
    key = base64.b64decode(AES_KEY + "=")
    with pytest.raises(AppIdMismatch):
        ours.decrypt(OAPrpCrypto(key).encrypt("hi", "wxSomeoneElse").decode())
    with pytest.raises(DecryptError):
        ours.decrypt("not*base64!")
    with pytest.raises(DecryptError):
        ours.decrypt(base64.b64encode(b"short").decode())
    # right length, wrong key: garbage padding or garbage length, never an exception of another kind
    other = MessageCrypto(TOKEN, WECOM_AES_KEY, APPID).encrypt("hello")
    with pytest.raises((DecryptError, AppIdMismatch)):
        ours.decrypt(other)


@pytest.mark.parametrize(
    "key, hint",
    [("short", "43-character"), (AES_KEY + "A", "43-character"), (AES_KEY[:-1] + "!", "letters")],
)
def test_bad_aes_key_is_reported_clearly(key, hint):
    with pytest.raises(InvalidAESKey, match=hint):
        MessageCrypto(TOKEN, key, APPID, "BOT_WECHAT_AES_KEY")


async def test_bad_aes_key_stops_startup(aiohttp_client, services):
    bad = Service(
        engine=services.engine,
        store=services.store,
        settings=Settings(wechat_token=TOKEN, wechat_appid=APPID, wechat_aes_key="too-short"),
        clock=services.clock,
    )
    with pytest.raises(InvalidAESKey, match="BOT_WECHAT_AES_KEY"):
        setup(web.Application(), bad)


# -- XML ----------------------------------------------------------------------------------


def test_cut_utf8_respects_bytes_and_characters():
    assert cut_utf8("短句") == "短句"
    long = "质" * 1000  # 3000 bytes
    cut = cut_utf8(long)
    assert len(cut.encode("utf-8")) <= 2048
    assert cut.endswith("…") and long.startswith(cut[:-1])
    mixed = ("a" + "中" + "😀") * 400
    for limit in range(2040, 2049):
        out = cut_utf8(mixed, limit)
        assert len(out.encode("utf-8")) <= limit
        assert mixed.startswith(out[:-1])  # cut on a character boundary, nothing garbled
    exact = "a" * 2048
    assert cut_utf8(exact) == exact


def test_cdata_escapes_end_marker_round_trip():
    nasty = "before ]]> <Content>x</Content> ]]]]> after"
    xml = text_reply_xml(OPENID, GH, nasty, 1632103200)
    assert reply_content(xml) == nasty
    assert parse_message_xml(cdata("a]]>b").join(["<xml><C>", "</C></xml>"]))["C"] == "a]]>b"


@pytest.mark.parametrize(
    "body, error",
    [
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><A>&a;</A></xml>', UnsafeXML),
        ("<xml><!ENTITY a SYSTEM 'file:///etc/passwd'></xml>", UnsafeXML),
        ('<!doctype xml SYSTEM "http://example.invalid/x.dtd"><xml/>', UnsafeXML),
        ("<xml><A>unclosed</xml>", MalformedXML),
        ("<xml><A>&undefined;</A></xml>", MalformedXML),
        ("<html><A>1</A></html>", MalformedXML),
        (b"<xml><A>\xff\xfe</A></xml>", MalformedXML),
        ("", MalformedXML),
        ("<xml>" + "x" * MAX_BODY_BYTES + "</xml>", BodyTooLarge),
    ],
)
def test_hostile_xml_is_refused(body, error):
    with pytest.raises(error):
        parse_message_xml(body)


# -- GET verification -----------------------------------------------------------------------


async def test_wechat_verify_echoes_echostr(client):
    resp = await client.get("/wechat?" + plain_query() + "&echostr=5837397520381287634")
    assert resp.status == 200
    assert await resp.text() == "5837397520381287634"


async def test_wechat_verify_keeps_raw_plus(client):
    resp = await client.get("/wechat?" + plain_query() + "&echostr=ab+cd%2Bef")
    assert resp.status == 200
    assert await resp.text() == "ab+cd+ef"


async def test_wechat_verify_bad_signature_is_403(client):
    query = plain_query("1632103200", "nonce123").replace("timestamp=1632103200", "timestamp=1632103299")
    resp = await client.get("/wechat?" + query + "&echostr=123")
    assert resp.status == 403
    assert "123" not in await resp.text()


async def test_wecom_verify_decrypts_echostr_with_plus(client):
    wkey = base64.b64decode(WECOM_AES_KEY + "=")
    while True:  # find an echostr whose base64 has a '+', as WeCom's often do
        echostr = WeComPrpCrypto(wkey).encrypt("1616140317555161061", CORPID).decode()
        if "+" in echostr:
            break
    timestamp, nonce = "1632103200", "wecomnonce"
    msg_signature = sign(WECOM_TOKEN, timestamp, nonce, echostr)
    expected = WeComCrypto(WECOM_TOKEN, WECOM_AES_KEY, CORPID).check_signature(
        msg_signature, timestamp, nonce, echostr
    )
    query = f"msg_signature={msg_signature}&timestamp={timestamp}&nonce={nonce}&echostr={echostr}"
    resp = await client.get("/wecom?" + query)  # '+' sent raw, not as %2B
    assert resp.status == 200
    assert await resp.text() == expected == "1616140317555161061"
    bad = query.replace(msg_signature, sign(WECOM_TOKEN, timestamp, nonce, "other"))
    assert (await client.get("/wecom?" + bad)).status == 403


# -- messages ---------------------------------------------------------------------------------


async def test_plaintext_question_is_answered(client, services):
    resp = await post_plain(client, text_xml("总结材料什么时候截止"))
    assert resp.status == 200
    body = await resp.text()
    reply = parse_message(body)
    assert reply.target == OPENID and reply.source == GH
    assert "9月30日" in reply.content
    assert services.store.stats()["questions"] == 1


async def test_safe_mode_round_trip(client):
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    resp = await post_safe(client, text_xml("联系电话", msg_id="24000000000000002"), crypto)
    assert resp.status == 200
    body = await resp.text()
    assert "83133733" not in body  # the answer travels encrypted
    assert "83133733" in decrypt_reply(body, crypto)


async def test_compatible_mode_reply_is_encrypted(client):
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    xml = text_xml("总结材料什么时候截止", msg_id="24000000000000003")
    resp = await post_safe(client, xml, crypto, compatible=True)
    assert resp.status == 200
    body = await resp.text()
    assert "<Encrypt>" in body
    assert "9月30日" in decrypt_reply(body, crypto)


async def test_wecom_message_round_trip(client):
    crypto = WeComCrypto(WECOM_TOKEN, WECOM_AES_KEY, CORPID)
    xml = (
        f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName>"
        "<FromUserName><![CDATA[ZhangSan]]></FromUserName><CreateTime>1632103200</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[联系人叫什么名字]]></Content>"
        "<MsgId>1234567890123456</MsgId><AgentID>1000002</AgentID></xml>"
    )
    timestamp, nonce = str(int(time.time())), "wecomnonce"
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    body = (
        f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
        f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    )
    query = f"msg_signature={envelope['MsgSignature']}&timestamp={timestamp}&nonce={nonce}"
    resp = await client.post("/wecom?" + query, data=body)
    assert resp.status == 200
    text = await resp.text()
    inner = xmltodict.parse(text)["xml"]
    plain = crypto.decrypt_message(text, inner["MsgSignature"], inner["TimeStamp"], inner["Nonce"])
    reply = parse_message(plain)
    assert reply.target == "ZhangSan" and reply.source == CORPID
    assert "潘泽军" in reply.content
    # a WeCom message signed with the wrong token is refused
    wrong = WeComCrypto("not-the-token", WECOM_AES_KEY, CORPID)
    envelope = xmltodict.parse(wrong.encrypt_message(xml, nonce, timestamp))["xml"]
    query = f"msg_signature={envelope['MsgSignature']}&timestamp={timestamp}&nonce={nonce}"
    body = f"<xml><ToUserName>{CORPID}</ToUserName><Encrypt>{envelope['Encrypt']}</Encrypt></xml>"
    assert (await client.post("/wecom?" + query, data=body)).status == 403


async def test_subscribe_event_gets_welcome(client, engine):
    resp = await post_plain(client, event_xml("subscribe"))
    assert resp.status == 200
    assert reply_content(await resp.text()) == cut_utf8(engine.intent_reply("welcome"))


async def test_unsubscribe_forgets_the_user(client, services):
    await post_plain(client, text_xml("订阅截止提醒", msg_id="24000000000000010"))
    assert services.store.is_subscribed("wechat", OPENID)
    resp = await post_safe(client, event_xml("unsubscribe", create_time=1632103300))
    assert resp.status == 200
    assert await resp.text() == "success"
    assert not services.store.is_subscribed("wechat", OPENID)
    assert services.store.stats()["questions"] == 0  # their question went with the rest of their data


async def test_menu_click_asks_the_mapped_question(client, engine):
    question = engine.menu_question("CONTACT")
    assert question
    resp = await post_plain(client, event_xml("CLICK", key="CONTACT"))
    content = reply_content(await resp.text())
    assert "83133733" in content
    expected = engine.answer(Incoming(question, channel="wechat", user=OPENID, chat=OPENID), NOW)
    assert content == cut_utf8(expected.text)
    resp = await post_plain(client, event_xml("CLICK", key="NO_SUCH_KEY", create_time=1632103201))
    assert reply_content(await resp.text()) == cut_utf8(engine.intent_reply("help"))


async def test_image_asks_for_text(client):
    resp = await post_plain(client, media_xml("image"))
    assert resp.status == 200
    assert "请发送文字" in reply_content(await resp.text())


async def test_other_events_say_success(client):
    resp = await post_plain(client, event_xml("VIEW", key="https://example.invalid/"))
    assert await resp.text() == "success"


async def test_retry_gets_identical_reply_and_is_logged_once(client, services):
    xml = text_xml("联系人叫什么名字", msg_id="24000000000000020")
    first = reply_content(await (await post_plain(client, xml)).text())
    second = reply_content(await (await post_plain(client, xml)).text())
    third = decrypt_reply(
        await (await post_safe(client, xml)).text(), WeChatCrypto(TOKEN, AES_KEY, APPID)
    )
    assert "潘泽军" in first
    assert first == second == third
    assert services.store.stats()["questions"] == 1
    # a new MsgId is a new question
    await post_plain(client, text_xml("联系人叫什么名字", msg_id="24000000000000021"))
    assert services.store.stats()["questions"] == 2


async def test_long_answer_is_cut_to_2048_bytes(client):
    resp = await post_plain(client, text_xml("全部观摩项目有哪些", msg_id="24000000000000030"))
    content = reply_content(await resp.text())
    assert "腾讯广州总部大楼" in content
    assert len(content.encode("utf-8")) <= 2048


async def test_engine_failure_gets_polite_reply(client, services, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("index missing")

    monkeypatch.setattr(services.engine, "respond", broken)
    resp = await post_plain(client, text_xml("联系电话", msg_id="24000000000000040"))
    assert resp.status == 200
    assert reply_content(await resp.text()) == ERROR_TEXT


async def test_bad_requests_get_4xx_and_server_keeps_working(client):
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    # bad signature
    resp = await client.post(
        "/wechat?" + plain_query(nonce="nonce123").replace("nonce=nonce123", "nonce=other"), data=text_xml("hi")
    )
    assert resp.status == 403
    # DOCTYPE / ENTITY (billion laughs)
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        f"<xml><ToUserName>{GH}</ToUserName><FromUserName>{OPENID}</FromUserName>"
        "<MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>"
    )
    resp = await post_plain(client, laughs)
    assert resp.status == 400
    # malformed XML
    assert (await post_plain(client, "<xml><Content>oops</xml>")).status == 400
    # missing fields
    assert (await post_plain(client, "<xml><Content>hi</Content></xml>")).status == 400
    # bad base64 in Encrypt, correctly signed
    timestamp, nonce, bad = str(int(time.time())), "n", "%%%not-base64%%%"
    query = f"timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={sign(TOKEN, timestamp, nonce, bad)}"
    resp = await client.post("/wechat?" + query, data=f"<xml><Encrypt>{bad}</Encrypt></xml>")
    assert resp.status == 400
    # encrypted for another AppID
    wrong_app = WeChatCrypto(TOKEN, AES_KEY, "wxAnotherAccount0000")
    assert (await post_safe(client, text_xml("hi"), wrong_app)).status == 400
    # oversized body
    big = text_xml("质" * (MAX_BODY_BYTES // 3 + 10))
    assert (await post_plain(client, big)).status == 413

    async def chunks():  # no Content-Length: the limit must hold while streaming too
        for _ in range(20):
            yield b"<xml>" + b"x" * 8192

    assert (await client.post("/wechat?" + plain_query(), data=chunks())).status == 413
    # a message with no fields, an encrypted request without Encrypt, an empty GET
    assert (await post_plain(client, "<xml/>")).status == 400
    resp = await client.post(
        "/wechat?" + plain_query() + "&encrypt_type=aes&msg_signature=x", data=text_xml("hi")
    )
    assert resp.status == 400
    assert (await client.get("/wechat")).status == 400
    assert (await client.get("/wechat?echostr=1")).status == 403
    # none of the above were 500s, and the server still answers
    resp = await post_safe(client, text_xml("总结材料什么时候截止", msg_id="24000000000000050"))
    assert resp.status == 200
    assert "9月30日" in decrypt_reply(await resp.text(), crypto)


def test_wechatpy_rejects_forged_signature():
    """Guard for the tests themselves: wechatpy really checks what we compare against."""
    with pytest.raises(InvalidSignatureException):
        wechatpy_check_signature(TOKEN, "0" * 40, "1", "2")


async def test_admin_gets_stats_and_others_do_not(client, services):
    from dataclasses import replace

    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)

    async def staff(command: str, msg_id: str) -> str:
        return decrypt_reply(await (await post_safe(client, text_xml(command, msg_id=msg_id))).text(), crypto)

    await post_plain(client, text_xml("明天会下雨吗", msg_id="31"))  # one unanswered question
    assert "提问数" not in await staff("/stats", "32")  # no hint that staff commands exist
    services.settings = replace(services.settings, admins=frozenset({OPENID}))  # a bare id is Telegram's
    assert "提问数" not in await staff("/stats", "35")
    services.settings = replace(services.settings, admins=frozenset({f"wechat:{OPENID}"}))
    stats = await staff("/stats", "33")
    assert "提问数：3" in stats and "未能回答：3" in stats and services.engine.version in stats
    assert "明天会下雨吗（1 次）" in await staff("/unanswered", "34")


async def test_a_follow_up_is_understood_in_the_same_users_conversation(client):
    first = await post_plain(client, text_xml("深圳有哪些观摩项目", msg_id="24000000000000101"))
    assert "锦龙苑" in parse_message(await first.text()).content
    follow = await post_plain(client, text_xml("那东莞呢", msg_id="24000000000000102"))
    answer = parse_message(await follow.text()).content
    assert "虎门" in answer and "锦龙苑" not in answer
    other = await post_plain(client, text_xml("那东莞呢", msg_id="24000000000000103", user="o_another_user"))
    assert "锦龙苑" not in parse_message(await other.text()).content  # another user has no "深圳" before


def wecom_body(crypto: WeComCrypto, text: str, msg_id: str) -> tuple[str, str]:
    xml = (
        f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName>"
        "<FromUserName><![CDATA[LiSi]]></FromUserName><CreateTime>1632103200</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )
    timestamp, nonce = str(int(time.time())), f"n{msg_id}"
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    body = f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    return f"msg_signature={envelope['MsgSignature']}&timestamp={timestamp}&nonce={nonce}", body


async def test_a_wecom_follow_up_is_understood(client):
    crypto = WeComCrypto(WECOM_TOKEN, WECOM_AES_KEY, CORPID)
    answers = []
    for text, msg_id in (("联系人是谁", "7000000000000001"), ("他的邮箱呢", "7000000000000002")):
        query, body = wecom_body(crypto, text, msg_id)
        resp = await client.post("/wecom?" + query, data=body)
        raw = await resp.text()
        inner = xmltodict.parse(raw)["xml"]
        answers.append(parse_message(crypto.decrypt_message(raw, inner["MsgSignature"], inner["TimeStamp"], inner["Nonce"])).content)
    assert "潘泽军" in answers[0] and "jt-zac@gd.gov.cn" in answers[1]

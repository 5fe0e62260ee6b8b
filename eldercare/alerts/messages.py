"""Texts of outbound SMS and voice calls, in Chinese and English, chosen by the recipient's language.

They are not Flask-Babel strings: they are rendered in a worker for a recipient (not for the user of a
request), and each template's wording is checked by the people who answer them (short, the address first,
and the reply that acknowledges spelled out). Placeholders are filled with `str.format`.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("zh", "en")
# Twilio's <Say> voices: Mandarin for every Chinese recipient (dialects have no TTS voice).
SAY_LANGUAGE = {"zh": "cmn-CN", "en": "en-US"}

TEMPLATES: dict[str, dict[str, str]] = {
    # The response cascade: a contact, the grid leader or a team is asked to go to the home.
    "cascade_alarm": {
        "zh": "【居家养老紧急呼叫】{resident}（{address}）触发{alarm}报警，老人未应答。"
              "如您能前往，请回复1或“收到”。服务中心电话{centre}。",
        "en": "[Eldercare alarm] {resident} at {address}: {alarm} alarm, no answer from the resident. "
              "If you can go, reply 1 or Y. Centre: {centre}.",
    },
    "cascade_alarm_voice": {
        "zh": "这里是居家养老服务中心。{resident}，地址{address}，触发了{alarm}报警，老人没有应答。"
              "如果您能前往，请按1。",
        "en": "This is the eldercare service centre. {resident} at {address} raised a {alarm} alarm and does "
              "not answer. If you can go, press 1.",
    },
    "ack_thanks": {
        "zh": "已收到，谢谢您。服务中心已记录您正在前往。",
        "en": "Thank you. The centre has recorded that you are on your way.",
    },
    "no_digit": {
        "zh": "没有收到按键，服务中心会联系下一位联系人。",
        "en": "No key was pressed; the centre will call the next contact.",
    },
    # Non-urgent: quiet hours apply.
    "followup": {
        "zh": "【居家养老】您好，{resident}的服务已完成，稍后服务中心将回访，请留意来电。",
        "en": "[Eldercare] The service for {resident} is complete; the centre will call you to follow up.",
    },
    "offer": {
        "zh": "【居家养老派单】新订单：{service}，{community}，请在{minutes}分钟内登录商家平台接单。",
        "en": "[Eldercare order] New order: {service}, {community}. Accept it on the provider console within "
              "{minutes} min.",
    },
}

# What an alarm type is called in a message to a family member (not the operators' codes).
ALARM_NAMES = {
    "zh": {"sos": "紧急求助", "fall": "跌倒", "smoke": "烟雾", "gas": "燃气泄漏", "no_activity": "长时间无活动",
           "water": "漏水"},
    "en": {"sos": "SOS", "fall": "fall", "smoke": "smoke", "gas": "gas leak", "no_activity": "no activity",
           "water": "water leak"},
}


@dataclass(frozen=True)
class Rendered:
    language: str
    body: str


def language_of(preference: str | None) -> str:
    """English for those who asked for it; Chinese for everyone else (Mongolian speakers included: the
    centre's texts are in Chinese, which they read, and calls are read in Mandarin)."""
    return "en" if (preference or "").lower().startswith("en") else "zh"


def render(template: str, preference: str | None, **context: object) -> Rendered:
    language = language_of(preference)
    alarm = context.get("alarm")
    if isinstance(alarm, str):
        context["alarm"] = ALARM_NAMES[language].get(alarm, alarm)
    return Rendered(language, TEMPLATES[template][language].format(**context))

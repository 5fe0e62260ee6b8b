"""Service-type search for the order form: Chinese, pinyin (full or initials), English or the code.

Names are stored in Chinese and English only; pinyin is derived with pypinyin once per name and kept in
memory (the catalogue is ~100 rows and changes rarely), so a search is a scan of that small index.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from pypinyin import Style, lazy_pinyin

from eldercare.catalog.models import ServiceType
from eldercare.extensions import db


@lru_cache(maxsize=4096)
def pinyin_keys(name_zh: str) -> tuple[str, str]:
    """("shangmentanshi", "smts") for 上门探视."""
    syllables = lazy_pinyin(name_zh, errors="ignore")
    initials = lazy_pinyin(name_zh, style=Style.FIRST_LETTER, errors="ignore")
    return "".join(syllables).lower(), "".join(initials).lower()


def matches(q: str, code: str, name_zh: str, name_en: str) -> bool:
    needle = q.strip().lower()
    compact = needle.replace(" ", "")
    if not needle:
        return True
    if needle in name_zh or needle in name_en.lower() or needle in code.lower():
        return True
    full, initials = pinyin_keys(name_zh)
    return compact in full or initials.startswith(compact)


def matching_ids(q: str) -> list[int]:
    rows = db.session.execute(sa.select(ServiceType.id, ServiceType.code, ServiceType.name_zh, ServiceType.name_en))
    return [row.id for row in rows if matches(q, row.code, row.name_zh, row.name_en)]

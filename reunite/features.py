"""Distinctive features (体貌特征) as data: the vocabulary of marks, conditions, sides and body parts a
caseworker writes, and the parser that reads a free-text description into (term, side, part) triples.
The features comparison (terms/features.py) applies these; the words live here, apart from that code.
"""

from __future__ import annotations

import re
from functools import lru_cache

# term -> synonyms. Side words mark left/right.
FEATURE_TERMS: dict[str, tuple[str, ...]] = {
    "痣": ("痣", "黑痣", "红痣"),
    "疤": ("疤", "疤痕", "伤疤", "刀疤"),
    "胎记": ("胎记",),
    "纹身": ("纹身", "刺青", "文身"),
    "缺指": ("缺指", "缺小指", "断指", "小指残缺", "手指残缺", "缺手指", "少一指", "六指"),
    "聋哑": ("聋哑", "哑", "聋", "不能言语", "不会说话"),
    "跛": ("跛", "瘸", "腿脚不便", "走路跛"),
    "驼背": ("驼背",),
    "独眼": ("独眼", "失明", "盲"),
    "兔唇": ("兔唇", "唇裂"),
    "秃顶": ("秃顶", "光头"),
    "痴呆": ("痴呆", "阿尔茨海默", "老年痴呆", "失智"),
    "智力障碍": ("智力障碍", "智障", "智力残疾", "弱智"),
    "精神障碍": ("精神障碍", "精神病", "精神疾病", "精神分裂"),
}
SIDES = {"左": "L", "右": "R"}
BODY = (
    "脸",
    "额",
    "眉",
    "眼",
    "鼻",
    "嘴",
    "唇",
    "耳",
    "颈",
    "脖",
    "手",
    "臂",
    "指",
    "腿",
    "脚",
    "背",
    "胸",
    "腹",
    "头",
)
MEDICAL = frozenset({"痴呆", "智力障碍", "精神障碍"})  # common in stations: weak evidence, not distinctive

Feature = tuple[str, str, str]  # (term, side L/R/"", body part or "")


@lru_cache(maxsize=100_000)
def parse_features(text: str | None) -> frozenset[Feature]:
    """体貌特征 -> {(term, side, body part)}: 左脸有痣 -> (痣, L, 脸). Cached: texts repeat."""
    if not text:
        return frozenset()
    out = set()
    for clause in re.split(r"[，,；;。、\s]+", text):
        for term, words in FEATURE_TERMS.items():
            if any(w in clause for w in words):
                side = next((v for k, v in SIDES.items() if k in clause), "")
                part = next((b for b in BODY if b in clause), "")
                out.add((term, side, part))
    return frozenset(out)

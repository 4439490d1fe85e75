"""Dialect profiles as data: which sound mergers a speaker of each dialect group makes when a name or a
place is heard and written down. The code that applies them is in `reunite.phonetics`.

A rule is (kind, a, b): `initial` and `final` rules merge pinyin initials or finals; `syllable` rules merge
whole syllables (f/h only happens before some finals: fu/hu, fa/hua, fei/hui ...). Every profile row cites
where the merger is documented. Sources:

- IME: the fuzzy-pinyin options of Chinese input methods, which exist because speakers of these dialects
  confuse the pairs: libpinyin/ibus-libpinyin `PINYIN_AMB_*` (z/zh c/ch s/sh f/h g/k l/n l/r an/ang en/eng
  in/ing) and fcitx/fcitx5-chinese-addons fuzzy pinyin (adds ian/iang uan/uang).
- ATLAS: 中国社会科学院语言研究所 等《中国语言地图集》第2版 汉语方言卷 (2012), group descriptions.
- YUAN: 袁家骅《汉语方言概要》第2版 (2001), chapters per group.
- HOU: 侯精一 主编《现代汉语方言概论》(2002), phonological features of each group.
"""

from __future__ import annotations

Rule = tuple[str, str, str]

F_H_SYLLABLES: list[Rule] = [
    ("syllable", "fu", "hu"),
    ("syllable", "fa", "hua"),
    ("syllable", "fan", "huan"),
    ("syllable", "fang", "huang"),
    ("syllable", "fei", "hui"),
    ("syllable", "fen", "hun"),
    ("syllable", "feng", "hong"),
    ("syllable", "fo", "huo"),
]
H_W_SYLLABLES: list[Rule] = [  # Wu: 黄 = 王, 胡 = 吴
    ("syllable", "huang", "wang"),
    ("syllable", "hu", "wu"),
]
R_Y_SYLLABLES: list[Rule] = [  # 人 yin, 肉 you, 荣 yong in the north-east and parts of the south-west
    ("syllable", "ren", "yin"),
    ("syllable", "reng", "ying"),
    ("syllable", "rang", "yang"),
    ("syllable", "rou", "you"),
    ("syllable", "ru", "yu"),
    ("syllable", "ruan", "yuan"),
    ("syllable", "rong", "yong"),
    ("syllable", "re", "ye"),
    ("syllable", "run", "yun"),
]

N_L: Rule = ("initial", "n", "l")
L_R: Rule = ("initial", "l", "r")
G_K: Rule = ("initial", "g", "k")
Z_ZH: Rule = ("initial", "z", "zh")
C_CH: Rule = ("initial", "c", "ch")
S_SH: Rule = ("initial", "s", "sh")
AN_ANG: Rule = ("final", "an", "ang")
EN_ENG: Rule = ("final", "en", "eng")
IN_ING: Rule = ("final", "in", "ing")
IAN_IANG: Rule = ("final", "ian", "iang")
UAN_UANG: Rule = ("final", "uan", "uang")
FLAT_TONGUE = [Z_ZH, C_CH, S_SH]

# Generic fuzzy set: what an input method offers everyone; used at lower weight when the dialect is unknown.
GENERIC: list[Rule] = [*FLAT_TONGUE, N_L, L_R, G_K, AN_ANG, EN_ENG, IN_ING, IAN_IANG, UAN_UANG, *F_H_SYLLABLES]

# group -> (rules, sources). Rows are the mergers widely described for the group; local varieties differ.
PROFILES: dict[str, tuple[list[Rule], str]] = {
    "西南官话": (
        [N_L, *FLAT_TONGUE, EN_ENG, IN_ING, *F_H_SYLLABLES, *R_Y_SYLLABLES],
        "ATLAS B1; YUAN ch.2 (西南官话: n/l 不分, 无翘舌, en/eng in/ing 不分, 部分 f/h 混); IME",
    ),
    "江淮官话": (
        [N_L, *FLAT_TONGUE, EN_ENG, IN_ING, AN_ANG, IAN_IANG, UAN_UANG],
        "ATLAS B1; HOU ch.1 (江淮官话: n/l 混, 前后鼻音不分); IME",
    ),
    "中原官话": (
        [*FLAT_TONGUE, *F_H_SYLLABLES],
        "ATLAS B1; HOU ch.1 (中原官话: n/l 分明; 部分地区 zh/z 合流, f/h 相混); IME",
    ),
    "东北官话": ([*FLAT_TONGUE, *R_Y_SYLLABLES], "ATLAS B1; HOU ch.1 (东北官话: 平翘舌自由变读, r 读零声母 y); IME"),
    "北京/冀鲁官话": ([*FLAT_TONGUE[:1], EN_ENG], "ATLAS B1; HOU ch.1 (冀鲁官话: 少数点 zh/z 相混, 胶辽 en/eng); IME"),
    "吴语": (
        [*FLAT_TONGUE, EN_ENG, IN_ING, AN_ANG, *F_H_SYLLABLES, *H_W_SYLLABLES, ("initial", "r", "n")],
        "ATLAS B9; YUAN ch.3 (吴语: 无翘舌, 前后鼻音不分, 黄王同音, 日母读 n); IME",
    ),
    "湘语": (
        [N_L, *FLAT_TONGUE, EN_ENG, IN_ING, *F_H_SYLLABLES],
        "ATLAS B10; YUAN ch.4 (湘语: n/l 相混, f/h 相混 如 湖南 读 福南, 无翘舌); IME",
    ),
    "赣语": (
        [N_L, *FLAT_TONGUE, EN_ENG, IN_ING, *F_H_SYLLABLES],
        "ATLAS B11; YUAN ch.5 (赣语: n/l 相混, 无翘舌, 前后鼻音不分); IME",
    ),
    "客家话": (
        [N_L, *FLAT_TONGUE, EN_ENG, IN_ING, *F_H_SYLLABLES],
        "ATLAS B12; YUAN ch.6 (客家话: 晓匣合口读 f 如 花 fa, 无翘舌); IME",
    ),
    "闽语": (
        [N_L, ("initial", "r", "l"), *FLAT_TONGUE, EN_ENG, IN_ING, AN_ANG, *F_H_SYLLABLES],
        "ATLAS B13; YUAN ch.8 (闽语: 无 f 声母 飞 读 h, 无翘舌, 日母读 l, 鼻韵尾相混); IME",
    ),
    "粤语": (
        [N_L, *FLAT_TONGUE, EN_ENG, IN_ING, AN_ANG, *F_H_SYLLABLES, G_K],
        "ATLAS B14; YUAN ch.7 (粤语: n/l 懒音, 花 读 fa, 无翘舌); Cantonese readings via ToJyutping",
    ),
}

# Accent text a caseworker writes -> dialect group. Longest keyword wins; 普通话 means no dialect profile.
ACCENT_KEYWORDS: dict[str, str] = {
    "四川": "西南官话",
    "川": "西南官话",
    "重庆": "西南官话",
    "贵州": "西南官话",
    "云南": "西南官话",
    "桂柳": "西南官话",
    "湖北": "西南官话",
    "武汉": "西南官话",
    "鄂": "西南官话",
    "成都": "西南官话",
    "昆明": "西南官话",
    "贵阳": "西南官话",
    "安徽": "江淮官话",
    "合肥": "江淮官话",
    "南京": "江淮官话",
    "扬州": "江淮官话",
    "苏北": "江淮官话",
    "江淮": "江淮官话",
    "河南": "中原官话",
    "豫": "中原官话",
    "陕西": "中原官话",
    "关中": "中原官话",
    "西安": "中原官话",
    "徐州": "中原官话",
    "甘肃": "中原官话",
    "郑州": "中原官话",
    "中原": "中原官话",
    "山西": "中原官话",
    "东北": "东北官话",
    "黑龙江": "东北官话",
    "吉林": "东北官话",
    "辽宁": "东北官话",
    "哈尔滨": "东北官话",
    "北京": "北京/冀鲁官话",
    "天津": "北京/冀鲁官话",
    "河北": "北京/冀鲁官话",
    "山东": "北京/冀鲁官话",
    "鲁": "北京/冀鲁官话",
    "上海": "吴语",
    "浙江": "吴语",
    "苏州": "吴语",
    "无锡": "吴语",
    "温州": "吴语",
    "宁波": "吴语",
    "杭州": "吴语",
    "吴语": "吴语",
    "湖南": "湘语",
    "湘": "湘语",
    "长沙": "湘语",
    "江西": "赣语",
    "赣": "赣语",
    "南昌": "赣语",
    "客家": "客家话",
    "梅州": "客家话",
    "福建": "闽语",
    "闽": "闽语",
    "闽南": "闽语",
    "潮汕": "闽语",
    "潮州": "闽语",
    "海南": "闽语",
    "台湾": "闽语",
    "广东": "粤语",
    "广州": "粤语",
    "粤": "粤语",
    "白话": "粤语",
    "香港": "粤语",
    "广西": "粤语",
    "南宁": "粤语",
}
STANDARD_WORDS = ("普通话", "标准", "国语")

# Hometown -> dialect group: province code (2 digits) default, then prefecture (4 digits) overrides.
PROVINCE_GROUP: dict[str, str] = {
    "11": "北京/冀鲁官话",
    "12": "北京/冀鲁官话",
    "13": "北京/冀鲁官话",
    "14": "中原官话",
    "15": "东北官话",
    "21": "东北官话",
    "22": "东北官话",
    "23": "东北官话",
    "31": "吴语",
    "32": "江淮官话",
    "33": "吴语",
    "34": "江淮官话",
    "35": "闽语",
    "36": "赣语",
    "37": "北京/冀鲁官话",
    "41": "中原官话",
    "42": "西南官话",
    "43": "湘语",
    "44": "粤语",
    "45": "西南官话",
    "46": "闽语",
    "50": "西南官话",
    "51": "西南官话",
    "52": "西南官话",
    "53": "西南官话",
    "54": "西南官话",
    "61": "中原官话",
    "62": "中原官话",
    "63": "中原官话",
    "64": "中原官话",
    "65": "中原官话",
    "71": "闽语",
    "81": "粤语",
    "82": "粤语",
}
PREFECTURE_GROUP: dict[str, str] = {
    "3205": "吴语",
    "3202": "吴语",
    "3204": "吴语",
    "3203": "中原官话",
    "3213": "中原官话",  # 苏州 无锡 常州 | 徐州 宿迁
    "4211": "江淮官话",
    "4209": "江淮官话",  # 黄冈 孝感
    "4414": "客家话",
    "4415": "闽语",
    "4451": "闽语",
    "4452": "闽语",
    "4405": "闽语",  # 梅州 | 汕尾 潮州 揭阳 汕头
    "4416": "客家话",
    "3607": "客家话",
    "3508": "客家话",  # 河源, 赣州, 龙岩
    "4505": "粤语",
    "4501": "粤语",
    "4508": "粤语",
    "4509": "粤语",
    "4507": "粤语",  # 北海 南宁 贵港 玉林 钦州
    "3708": "中原官话",
    "3717": "中原官话",
    "3714": "北京/冀鲁官话",  # 济宁 菏泽 | 德州
    "4310": "西南官话",
    "4311": "西南官话",
    "4312": "西南官话",  # 郴州 永州 怀化
}

# Surname readings of characters whose reading as a surname differs from their everyday reading (姓氏异读).
# pypinyin has no surname mode; these are the heteronyms a surname takes, first = the surname reading.
# Source: 《现代汉语词典》第7版 姓氏读音; 中国姓氏读音规范 (教育部语文出版社 2005).
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "单": ("shan",),
    "解": ("xie",),
    "仇": ("qiu",),
    "曾": ("zeng",),
    "区": ("ou",),
    "查": ("zha",),
    "朴": ("piao",),
    "盖": ("ge", "gai"),
    "乐": ("yue", "le"),
    "覃": ("qin", "tan"),
    "缪": ("miao",),
    "繁": ("po",),
    "召": ("shao",),
    "翟": ("zhai", "di"),
    "祭": ("zhai",),
    "员": ("yun",),
    "种": ("chong",),
    "秘": ("bi",),
    "折": ("she",),
    "句": ("gou",),
    "阚": ("kan",),
    "隗": ("wei",),
    "尉": ("yu", "wei"),
    "万": ("wan", "mo"),
    "宓": ("fu", "mi"),
    "那": ("na",),
    "过": ("guo",),
    "能": ("nai",),
    "相": ("xiang",),
    "长": ("chang",),
    "重": ("chong",),
    "车": ("che",),
    "沈": ("shen",),
    "参": ("can",),
    "任": ("ren",),
}

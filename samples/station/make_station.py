"""Writes the station's files as stations keep them (run from the checkout: `uv run python
samples/station/make_station.py`): a residents register in XLSX with a merged title and a date row above the
header, and a GBK CSV of registrations with a traditional-character name, ID numbers and several photos each.
Photos are paths inside the faces folder (../shared/data/faces); no photo is part of the repository."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from openpyxl import Workbook

from reunite.idcard import make_id_number

HERE = Path(__file__).resolve().parent
CHEN_ID = make_id_number("440104", date(1950, 8, 17), 24)  # 陳淑華's registration: a valid number
MISCOPIED = CHEN_ID[:-1] + ("0" if CHEN_ID[-1] != "0" else "1")  # the same number, its check digit mis-copied

RESIDENT_HEADER = [
    "编号",
    "姓名",
    "小名",
    "性别",
    "目测年龄",
    "身高",
    "口音",
    "自述地址",
    "户籍地",
    "身份证号",
    "入站日期",
    "体貌特征",
    "照片",
    "备注",
]
RESIDENTS = [
    [
        "JZ-01",
        "付贵",
        "",
        "男",
        "约60岁",
        "一米七",
        "说河南话",
        "贺南上水",
        "",
        "",
        "2024-05-02",
        "聋哑，走路跛",
        "jiang_zemin/1.jpg;jiang_zemin/2.jpg",
        "自述姓付",
    ],
    [
        "JZ-02",
        "",
        "二妞",
        "女",
        "十岁左右",
        "1米3",
        "四川口音",
        "",
        "",
        "",
        "2024-06-01",
        "左眉有痣",
        "ai_sugiyama/1.jpg;ai_sugiyama/2.jpg",
        "只知道小名",
    ],
    [
        "JZ-03",
        "",
        "",
        "男",
        "很老",
        "160",
        "",
        "",
        "",
        "",
        "2024-03-08",
        "聋哑，左手缺食指",
        "li_peng/1.jpg;li_peng/2.jpg",
        "不能言语",
    ],
    [
        "JZ-04",
        "陈淑华",
        "",
        "女",
        "七十多岁",
        "150",
        "广东口音",
        "广州",
        "",
        MISCOPIED,
        "2024-07-10",
        "右耳有痣",
        "candie_kung/1.jpg;candie_kung/2.jpg",
        "身上有身份证复印件",
    ],
    [
        "JZ-05",
        "付德胜",
        "",
        "男",
        "50多岁",
        "172",
        "湖北口音",
        "",
        "湖北省襄樊市",
        "",
        "2024-04-20",
        "左臂有纹身",
        "choi_sung_hong/1.jpg;choi_sung_hong/2.jpg",
        "",
    ],
    [
        "JZ-06",
        "牛桂华",
        "",
        "女",
        "六十多岁",
        "1米55",
        "四川口音",
        "南冲",
        "",
        "",
        "2024-06-19",
        "左脸有痣，右手缺小指",
        "hitomi_soga/1.jpg;hitomi_soga/2.jpg",
        "",
    ],
]
MISSING_HEADER = [
    "编号",
    "姓名",
    "曾用名",
    "小名",
    "性别",
    "出生日期",
    "身份证号",
    "身高",
    "户籍地",
    "方言",
    "走失日期",
    "走失地点",
    "体貌特征",
    "联系人",
    "联系电话",
    "照片",
]
MISSING = [
    [
        "XQ-01",
        "刘桂花",
        "",
        "小花",
        "女",
        "1958年3月",
        make_id_number("511302", date(1958, 3, 14), 42),
        "155cm",
        "四川省南充市顺庆区",
        "四川话",
        "2021-04-03",
        "南充市火车站",
        "左脸有痣，右手缺小指",
        "刘强",
        "13800138000",
        "hitomi_soga/3.jpg;hitomi_soga/4.jpg@2019",
    ],
    [
        "XQ-02",
        "胡奎",
        "",
        "狗蛋",
        "男",
        "1962",
        make_id_number("411623", date(1962, 8, 1), 17),
        "1米7",
        "河南省周口市商水县",
        "河南话",
        "2019/11/2",
        "商水县城",
        "聋哑，走路跛",
        "胡建国",
        "13912345678",
        "jiang_zemin/3.jpg;jiang_zemin/4.jpg@2015",
    ],
    [
        "XQ-03",
        "王二妞",
        "",
        "二妞",
        "女",
        "2014-02-10",
        "",
        "125",
        "四川省成都市金牛区",
        "",
        "2024-05-20",
        "成都市金牛区",
        "左眉有痣",
        "王建",
        "13700001111",
        "ai_sugiyama/3.jpg;ai_sugiyama/4.jpg",
    ],
    [
        "XQ-04",
        "李德胜",
        "",
        "",
        "男",
        "1945",
        "",
        "160",
        "山东省临沂市兰山区",
        "",
        "2023-12-01",
        "临沂市",
        "聋哑，左手缺食指",
        "李明",
        "13600002222",
        "li_peng/3.jpg;li_peng/4.jpg@2010",
    ],
    [
        "XQ-05",
        "陳淑華",
        "",
        "",
        "女",
        "",
        CHEN_ID,
        "150",
        "廣東省廣州市越秀區",
        "粤语",
        "2024-06-30",
        "廣州市",
        "右耳有痣",
        "陳家明",
        "13500003333",
        "candie_kung/3.jpg;candie_kung/4.jpg",
    ],
    [
        "XQ-06",
        "付得胜",
        "",
        "",
        "男",
        "1972",
        "",
        "170",
        "湖北省襄阳市",
        "",
        "2023-09-09",
        "襄阳市",
        "左臂有纹身",
        "付强",
        "13400004444",
        "choi_sung_hong/3.jpg;choi_sung_hong/4.jpg",
    ],
    ["XQ-07", "刘桂英", "", "", "女", "1957", "", "158", "四川省南充市", "", "2020-01-01", "南充市", "", "", "", ""],
    [
        "XQ-08",
        "胡贵",
        "",
        "",
        "男",
        "1990",
        "",
        "175",
        "广东省广州市",
        "",
        "2022-02-02",
        "广州市",
        "",
        "",
        "",
        "kim_dae_jung/1.jpg",
    ],
    [
        "XQ-09",
        "王秀英",
        "",
        "",
        "女",
        "1946",
        "",
        "150",
        "山东省临沂市",
        "",
        "2020-09-01",
        "济南市",
        "老年痴呆",
        "",
        "",
        "li_zhaoxing/1.jpg",
    ],
    [
        "XQ-10",
        "陈淑芳",
        "",
        "",
        "女",
        "1951",
        "",
        "152",
        "广东省佛山市",
        "",
        "2021-03-03",
        "佛山市",
        "",
        "",
        "",
        "edward_lu/1.jpg",
    ],
]


def write_register(path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "受助人员"
    ws.append(["某市救助管理站 受助人员登记表"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(RESIDENT_HEADER))
    ws.append(["填表日期：2024年7月15日", "", "", "", "", "", "", "", "", "填表人：值班社工"])
    ws.append(RESIDENT_HEADER)
    for row in RESIDENTS:
        ws.append(row)
    wb.save(path)


def write_registrations(path: Path) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(MISSING_HEADER)
    writer.writerows(MISSING)
    path.write_bytes(buf.getvalue().encode("gbk"))  # as the station's old system exports it


if __name__ == "__main__":
    write_register(HERE / "受助人员登记表.xlsx")
    write_registrations(HERE / "寻亲登记_GBK.csv")

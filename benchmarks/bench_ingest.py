"""Ingest throughput: an N-row missing-person CSV in GB18030 with Chinese headers (target: 50,000 rows < 60 s).

Run: uv run python -m benchmarks.bench_ingest [--rows 50000]
Prints a table and one JSON line. The file mixes the spellings real registrations use (date, height, sex
formats, ID numbers with valid check characters, aliases), so the parsers do their real work.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from reunite.idcard import make_id_number
from reunite.ingest import ingest_file
from reunite.store import Store
from reunite.workspace import init_workspace

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华花建国福贵奎德玉凤兰春梅志红"
REGIONS = ["511302", "411623", "420600", "371300", "440800", "341200", "230100", "320600", "430500", "350500"]
PLACES = ["四川省南充市", "河南省周口市商水县", "湖北省襄阳市", "山东省临沂市", "广东省湛江市", "安徽省阜阳市"]
HEADER = [
    "编号",
    "姓名",
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
]


def make_csv(rows: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    for i in range(rows):
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(365 * 85))
        male = rng.random() < 0.6
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        birth = rng.choice([born.isoformat(), f"{born.year}年{born.month}月", str(born.year), f"{born:%Y%m%d}"])
        idn = make_id_number(rng.choice(REGIONS), born, rng.randrange(500) * 2 + (1 if male else 0))
        height = rng.choice([f"{rng.randint(140, 185)}", f"{rng.randint(140, 185)}cm", f"1米{rng.randint(40, 85)}"])
        missing = born + timedelta(days=rng.randrange(365 * 5, 365 * 90))
        missing = min(missing, date(2026, 1, 1))
        w.writerow(
            [
                f"XQ{i:07d}",
                name,
                rng.choice(["", "小花", "二妞", "狗蛋"]),
                "男" if male else "女",
                birth,
                idn if rng.random() < 0.4 else "",
                height,
                rng.choice(PLACES),
                "",
                f"{missing:%Y/%m/%d}",
                rng.choice(PLACES),
                rng.choice(["", "左脸有痣", "右手缺小指", "聋哑"]),
                "家属",
                f"13{rng.randrange(10**9):09d}",
            ]
        )
    return buf.getvalue().encode("gb18030")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "missing_gb18030.csv"
        path.write_bytes(make_csv(args.rows))
        ws, _ = init_workspace(Path(tmp) / "ws")
        with Store.open(ws) as store:
            t0 = time.perf_counter()
            first = ingest_file(store, "missing", path)
            t1 = time.perf_counter()
            again = ingest_file(store, "missing", path)
            t2 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fig = {
        "bench": "ingest",
        "rows": args.rows,
        "encoding": first.encoding,
        "first_s": round(t1 - t0, 2),
        "first_rows_per_s": round(args.rows / (t1 - t0)),
        "reingest_s": round(t2 - t1, 2),
        "reingest_unchanged": again.unchanged,
        "new": first.new,
        "rejected": first.rejected_rows,
        "peak_rss_mb": round(peak_mb),
        "target_s": 60,
    }
    print(f"{'figure':22s} value")
    for k, v in fig.items():
        print(f"{k:22s} {v}")
    print(json.dumps(fig, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Candidate lists for police verification. Redacted by default (ID numbers keep the region and birth
part, phone numbers and contact names are masked); every export is written private (0600) with a sidecar
manifest (sha256, job, rows, redaction) and an audit row. Formats: CSV (UTF-8 with BOM, formula-safe), XLSX
(frozen header, the two photos side by side), HTML (one self-contained file, a card per candidate, one per A4
page in print) and PFIF 1.4 (`reunite.pfif`)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from datetime import date
from pathlib import Path

from reunite.decisions import pair_label
from reunite.display import detail_of, evidence, kind_word, level_word, term_word, word
from reunite.errors import UsageError
from reunite.files import record_label, replacing, write_manifest
from reunite.i18n import N_, _, local_time, using
from reunite.jobs import list_candidates
from reunite.parsers import xml_text
from reunite.photos import sha256_file
from reunite.safecsv import write_csv
from reunite.scoring import format_probability
from reunite.store import Store, current_actor, now_iso

COLUMNS = [  # key, Chinese header, English header
    ("job", "任务编号", "job"),
    ("rank", "排名", "rank"),
    ("resident_id", "受助人员编号", "resident id"),
    ("resident_names", "受助人员自报姓名", "resident names (as heard)"),
    ("resident_sex", "受助人员性别", "resident sex"),
    ("resident_age", "目测年龄", "estimated age"),
    ("resident_height", "受助人员身高", "resident height"),
    ("accent", "口音", "accent"),
    ("place_clues", "自述地址", "place clues"),
    ("found", "发现地点/日期", "found place / date"),
    ("resident_features", "受助人员体貌特征", "resident features"),
    ("missing_id", "寻亲编号", "missing-person id"),
    ("record_type", "登记类型", "record type"),
    ("missing_names", "寻亲人员姓名/曾用名/小名", "missing person names / aliases"),
    ("missing_sex", "寻亲人员性别", "missing person sex"),
    ("age_at_found", "发现时年龄", "age on the found date"),
    ("missing_height", "寻亲人员身高", "missing person height"),
    ("hometown", "户籍地", "hometown"),
    ("missing", "走失地点/日期", "missing place / date"),
    ("missing_features", "寻亲人员体貌特征", "missing person features"),
    ("id_number", "身份证号", "ID number"),
    ("contact", "联系人/电话", "contact"),
    ("weight", "匹配分值", "match weight"),
    ("probability", "匹配概率", "probability"),
    ("evidence", "证据", "evidence"),
    ("decision", "审核结论", "decision"),
    ("dna", "是否已采DNA", "DNA sample taken?"),
    ("confirmed", "公安是否确认身份", "identity confirmed by police?"),
]


def redact_id(number: str | None) -> str:
    """Keep the region (6) and birth date (8), mask sequence and check: 511302195603140428 -> 51130219560314****."""
    if not number:
        return ""
    return number[:14] + "*" * (len(number) - 14)


def redact_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def redact_name(name: str | None) -> str:
    return "" if not name else name[0] + "*" * (len(name) - 1)


def _cm(height: float | None) -> float | int | str:
    """170.0 as 170 (a number stays a number in CSV and XLSX), 152.5 as it is."""
    if height is None:
        return ""
    return int(height) if float(height).is_integer() else height


def _photos(store: Store, owner: str, rec_id: int) -> list[str]:
    """Every stored photo of a record, oldest first (a card shows them all)."""
    rows = store.conn.execute(
        f"SELECT stored_path FROM photos WHERE {owner} = ? AND stored_path != '' ORDER BY id", (rec_id,)
    )
    return [r[0] for r in rows]


def _names_as_written(store: Store, **owner: int) -> str:
    """The record's names as the file wrote them (陳淑華 stays 陳淑華), each once."""
    seen: list[str] = []
    for n in store.names_of(**owner):
        text = n.raw or n.name
        if text not in seen:
            seen.append(text)
    return "、".join(seen)


def thumbnail(store: Store, stored_path: str | None, size: int = 160) -> bytes | None:
    """A small upright JPEG of a stored photo, for embedding in exports; None (the card says "no photo")
    for a file that is gone, damaged or too large to decode safely."""
    if not stored_path or store.workspace is None:
        return None
    from PIL import Image, ImageOps

    try:
        with Image.open(store.workspace.photos / stored_path) as im:
            im.draft("RGB", (size, size))  # JPEGs decode at a fraction of their size
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
            return buf.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


SEX_WORDS = {"zh": {"M": "男", "F": "女"}, "en": {"M": "male", "F": "female"}}


def candidate_rows(
    store: Store,
    job: int | None,
    resident_ids: list[int] | None,
    min_weight: float | None,
    top_k: int | None,
    redact: bool,
    new_only: bool = False,
) -> tuple[int | None, list[dict]]:
    rows = [r for r in list_candidates(store, job, resident_ids) if r["direction"] == "resident"]
    if new_only and rows:  # pairs the latest job (or the one named) proposed and no earlier job did
        latest = job if job is not None else max(r["job"] for r in rows)
        seen = {
            (a, b)
            for a, b in store.conn.execute(
                "SELECT r.external_id, m.external_id FROM candidates c JOIN residents r ON r.id = c.resident_id"
                " JOIN missing_persons m ON m.id = c.missing_id WHERE c.job_id < ?",
                (latest,),
            )
        }
        rows = [r for r in rows if r["job"] == latest and (r["resident"]["id"], r["missing"]["id"]) not in seen]
    if min_weight is not None:
        rows = [r for r in rows if r["weight"] >= min_weight]
    if top_k is not None:
        rows = [r for r in rows if r["rank"] <= top_k]
    out = []
    for r in rows:
        res = store.conn.execute(
            "SELECT * FROM residents WHERE source = ? AND external_id = ?",
            (r["resident"]["source"], r["resident"]["id"]),
        ).fetchone()
        mis = store.conn.execute(
            "SELECT * FROM missing_persons WHERE source = ? AND external_id = ?",
            (r["missing"]["source"], r["missing"]["id"]),
        ).fetchone()
        found_year = int(res["found_date"][:4]) if res["found_date"] else date.today().year
        age_range = f"{res['age_min']}-{res['age_max']}" if res["age_min"] is not None else ""
        contact = " ".join(x for x in (mis["contact_name"], mis["contact_phone"]) if x)
        if redact:
            contact = " ".join(x for x in (redact_name(mis["contact_name"]), redact_phone(mis["contact_phone"])) if x)
        out.append(
            {
                "job": r["job"],
                "rank": r["rank"],
                "resident_id": r["resident"]["id"],
                "resident_names": _names_as_written(store, resident_id=res["id"]),
                "resident_sex": res["gender"] or "",
                "resident_age": age_range or (res["age_raw"] or ""),
                "resident_height": _cm(res["height_cm"]),
                "accent": res["accent"] or "",
                "place_clues": res["place_clues"] or "",
                "found": f"{res['found_place'] or ''} {res['found_date'] or ''}".strip(),
                "resident_features": res["features"] or "",
                "missing_id": r["missing"]["id"],
                "missing_names": _names_as_written(store, missing_id=mis["id"]),
                "record_type": kind_word(mis["kind"]),
                "missing_sex": mis["gender"] or "",
                "age_at_found": (found_year - mis["birth_year"]) if mis["birth_year"] else "",
                "missing_height": _cm(mis["height_cm"]),
                "hometown": mis["hometown"] or "",
                "missing": f"{mis['missing_place'] or ''} {mis['missing_date'] or ''}".strip(),
                "missing_features": mis["features"] or "",
                "id_number": redact_id(mis["id_number"]) if redact else (mis["id_number"] or ""),
                "contact": contact,
                "weight": r["weight"],
                "probability": None if r["probability"] is None else round(r["probability"], 4),
                "evidence": evidence(r["terms"]),
                "decision": word(r["decision"]),
                "dna": "",
                "confirmed": "",
                "_terms": r["terms"],
                "_resident_photos": _photos(store, "resident_id", res["id"]),
                "_missing_photos": _photos(store, "missing_id", mis["id"]),
                "_missing_source": mis["source"],
                "_resident_source": res["source"],
            }
        )
    return (job if job is not None else max((r["job"] for r in rows), default=None)), out


def export(store: Store, out: Path, *, lang: str | None = None, **options: object) -> dict:
    """Write the export and its manifest in the language asked (default: the current one) - headers,
    words, evidence; returns the manifest. Options: those of _export."""
    with using(lang) as chosen:
        return _export(store, out, lang=chosen, **options)


def _export(
    store: Store,
    out: Path,
    *,
    fmt: str = "csv",
    job: int | None = None,
    resident_ids: list[int] | None = None,
    min_weight: float | None = None,
    top_k: int | None = None,
    lang: str = "zh",
    redact: bool = True,
    reason: str | None = None,
    by: str | None = None,
    new_only: bool = False,
    sheet_per_resident: bool = False,
) -> dict:
    """Write the export and its manifest; returns the manifest."""
    if fmt not in (*WRITERS, "pfif"):
        raise UsageError(
            _("unknown format {fmt!r} (one of {choices})").format(fmt=fmt, choices=", ".join([*WRITERS, "pfif"]))
        )
    if not redact and not reason:
        raise UsageError(
            _("--no-redact needs --reason: unredacted ID numbers and phone numbers are recorded in the audit")
        )
    job_id, rows = candidate_rows(store, job, resident_ids, min_weight, top_k, redact, new_only)
    for row in rows:
        for key in ("resident_sex", "missing_sex"):
            row[key] = SEX_WORDS[lang].get(row[key], row[key])
    header = [zh if lang == "zh" else en for _key, zh, en in COLUMNS]
    out = Path(out)
    records = sorted(
        {record_label("residents", r["_resident_source"], r["resident_id"]) for r in rows}
        | {record_label("missing_persons", r["_missing_source"], r["missing_id"]) for r in rows}
    )
    with replacing(out) as tmp:
        if fmt == "pfif":
            from reunite.pfif import export_pfif

            export_pfif(store, tmp, PFIF_DOMAIN, job_id, rows, redact)
        elif fmt == "xlsx":
            _write_xlsx(store, tmp, header, rows, lang, sheet_per_resident)
        else:
            WRITERS[fmt](store, tmp, header, rows, lang)
        manifest = {
            "file": out.name,
            "sha256": sha256_file(tmp),
            "format": fmt,
            "job": job_id,
            "rows": len(rows),
            "redacted": redact,
            "reason": reason,
            "lang": lang,
            "created_at": now_iso(),
            "by": by or current_actor(),
            "records": records,
        }
        # audited before the file appears: a read-only database leaves no unaudited file behind
        with store.transaction():
            action = "export" if redact else "export_unredacted"
            store.audit(action, subject=str(out), actor=by, detail={**manifest, "records": len(records)})
    write_manifest(out, manifest)
    return manifest


def _write_csv(store: Store, out: Path, header: list[str], rows: list[dict], lang: str) -> None:
    write_csv(out, header, ([row[k] for k, _zh, _en in COLUMNS] for row in rows))


def _xlsx_safe(value: object) -> object:
    """A text cell starting like a formula is stored as text, never evaluated; characters a spreadsheet
    cannot hold (control characters) are dropped."""
    if isinstance(value, str):
        value = xml_text(value)
        if value.startswith(("=", "+", "-", "@")):
            return "'" + value
    return value


def _write_xlsx(
    store: Store, out: Path, header: list[str], rows: list[dict], lang: str, per_resident: bool = False
) -> None:
    """Frozen header, widths, the two photos side by side; one sheet per resident when asked."""
    from openpyxl import Workbook

    wb = Workbook()
    if per_resident:
        wb.remove(wb.active)
        for rid in dict.fromkeys(r["resident_id"] for r in rows):
            _xlsx_sheet(
                store, wb.create_sheet(_sheet_title(rid)), header, [r for r in rows if r["resident_id"] == rid], lang
            )
    else:
        _xlsx_sheet(store, wb.active, header, rows, lang)
        wb.active.title = "候选名单" if lang == "zh" else "candidates"
    wb.save(out)


def _sheet_title(text: str) -> str:
    """A sheet title Excel accepts: no []:*?/\\ and at most 31 characters."""
    return re.sub(r"[\[\]:*?/\\]", "_", xml_text(text))[:31] or "_"


def _xlsx_sheet(store: Store, ws, header: list[str], rows: list[dict], lang: str) -> None:
    from openpyxl.drawing.image import Image as XLImage
    from openpyxl.utils import get_column_letter

    photo_cols = ["受助人员照片", "寻亲人员照片"] if lang == "zh" else ["resident photo", "missing person photo"]
    ws.append(photo_cols + header)
    ws.freeze_panes = "C2"
    for i in range(1, len(header) + 3):
        ws.column_dimensions[get_column_letter(i)].width = 18 if i <= 2 else 14
    ws.column_dimensions[get_column_letter(2 + [k for k, _zh, _en in COLUMNS].index("evidence") + 1)].width = 60
    for n, row in enumerate(rows, start=2):
        ws.append(["", ""] + [_xlsx_safe(row[k]) for k, _zh, _en in COLUMNS])
        ws.row_dimensions[n].height = 95
        for col, key in (("A", "_resident_photos"), ("B", "_missing_photos")):
            data = thumbnail(store, row[key][0], 120) if row[key] else None
            if data:
                ws.add_image(XLImage(io.BytesIO(data)), f"{col}{n}")


CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } .meta { color: #666; font-size: 12px; }
.card { border: 1px solid #bbb; border-radius: 6px; padding: 12px; margin: 16px 0; break-inside: avoid; }
.card h2 { font-size: 15px; margin: 0 0 8px; }
.photos { display: flex; gap: 24px; } .photos figure { margin: 0; text-align: center; font-size: 12px; }
.shots { display: flex; flex-wrap: wrap; gap: 4px; max-width: 330px; }
.one img, .one .nophoto { width: 160px; height: 160px; }
.few img { width: 78px; height: 78px; }
.shots img, .nophoto { object-fit: cover; border: 1px solid #ccc; }
.nophoto { display: flex; align-items: center; justify-content: center; color: #999; background: #f4f4f4; }
table.fields { border-collapse: collapse; margin: 8px 0; font-size: 12px; width: 100%; table-layout: fixed; }
table.fields th:first-child { width: 20%; }
table.fields td, table.fields th { border: 1px solid #ddd; padding: 2px 5px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; max-height: 4.5em; overflow: hidden; }
.bar { display: flex; align-items: center; font-size: 11px; margin: 1px 0; }
.bar .label { width: 150px; } .bar .track { position: relative; width: 200px; height: 10px; background: #f2f2f2; }
.bar .pos { position: absolute; left: 50%; height: 10px; background: #2e7d32; }
.bar .neg { position: absolute; right: 50%; height: 10px; background: #c62828; }
.bar .val { width: 44px; text-align: right; margin-right: 6px; }
.bar .why { flex: 1; color: #555; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.check { margin-top: 8px; font-size: 13px; }
@page { size: A4; margin: 12mm; }
@media print { .card { break-after: page; page-break-after: always; border: none; margin: 0; } body { margin: 0; }
  h1, .meta { display: none; } }
"""


MAX_CARD_PHOTOS = 8  # per side on a card (two rows of four): more are counted, not shown (one A4 page a card)

CARD_ROWS = (  # label, the resident's field, the record's field: the two sides face each other
    (N_("id"), "resident_id", "missing_id"),
    (N_("names"), "resident_names", "missing_names"),
    (N_("sex"), "resident_sex", "missing_sex"),
    (N_("age (estimated / on the found date)"), "resident_age", "age_at_found"),
    (N_("height"), "resident_height", "missing_height"),
    (N_("places (said, accent / hometown)"), "place_clues", "hometown"),
    (N_("found / went missing"), "found", "missing"),
    (N_("marks and condition"), "resident_features", "missing_features"),
    (N_("record type"), None, "record_type"),
    (N_("ID number"), None, "id_number"),
    (N_("contact"), None, "contact"),
)


def _card(store: Store, row: dict) -> str:
    """One candidate on one A4 page: both sides' photos and fields face to face, the waterfall, the check."""
    e = html.escape
    sides, no_photo = [], _("no photo")
    for key, cap in (("_resident_photos", _("resident")), ("_missing_photos", _("missing-person record"))):
        shots = [d for d in (thumbnail(store, p) for p in row[key][:MAX_CARD_PHOTOS]) if d]
        imgs = "".join(
            f'<img alt="{e(cap)}" src="data:image/jpeg;base64,{base64.b64encode(d).decode()}">' for d in shots
        )
        more = len(row[key]) - MAX_CARD_PHOTOS
        extra = " " + _("+{n} more").format(n=more) if more > 0 else ""
        imgs = imgs or f'<div class="nophoto">{e(no_photo)}</div>'
        sides.append(
            f'<figure class="{"few" if len(shots) > 1 else "one"}"><div class="shots">{imgs}</div>'
            f"<figcaption>{e(cap)}{e(extra)}</figcaption></figure>"
        )
    place = " ".join(x for x in (str(row["place_clues"]), str(row["accent"])) if x)
    cells = []
    for label, ours, theirs in CARD_ROWS:
        mine = place if ours == "place_clues" else ("" if ours is None else str(row[ours]))
        cells.append(f"<tr><th>{e(_(label))}</th><td>{e(mine)}</td><td>{e(str(row[theirs]))}</td></tr>")
    top = max([abs(t["weight"]) for t in row["_terms"]] + [1.0])
    bars = []
    for t in row["_terms"]:  # the waterfall: each term's weight as a bar, green for, red against
        cls = "pos" if t["weight"] >= 0 else "neg"
        label = term_word(t["term"]) if t["term"] == "prior" else level_word(t["term"], t["level"])
        text = detail_of(t)
        bars.append(
            f'<div class="bar"><span class="label">{e(label)}</span><span class="track">'
            f'<span class="{cls}" style="width:{50 * abs(t["weight"]) / top:.1f}%"></span></span>'
            f'<span class="val">{t["weight"]:+.1f}</span><span class="why">{e(text)}</span></div>'
        )
    words = {k: e(_(k)) for k in (N_("decision"), N_("match weight"), N_("probability"))}
    words |= {k: e(_(k)) for k in (N_("resident"), N_("missing-person record"))}
    decided = f" · {words['decision']}: {e(row['decision'])}" if row["decision"] else ""
    check = _("☐ DNA sample taken　☐ identity confirmed by police　checked by: ________")
    return (
        f'<section class="card"><h2>#{row["rank"]} {e(row["resident_id"])} ~ {e(row["missing_id"])} · '
        f"{words['match weight']} {row['weight']:+.1f} · {words['probability']} "
        f"{format_probability(row['probability'])}{decided}</h2>"
        f'<div class="photos">{"".join(sides)}</div>'
        f'<table class="fields"><tr><th></th><th>{words["resident"]}</th><th>{words["missing-person record"]}</th></tr>'
        f'{"".join(cells)}</table><div class="waterfall">{"".join(bars)}</div>'
        f'<div class="check">{e(check)}</div></section>'
    )


def _write_html(store: Store, out: Path, header: list[str], rows: list[dict], lang: str) -> None:
    """One self-contained file: thumbnails embedded, a card per candidate, one card per A4 page in print."""
    title = _("Candidate list for police verification")
    jobs = ", ".join(str(j) for j in sorted({r["job"] for r in rows}))
    meta = _("job {jobs} · {n} candidate(s) · written {at}").format(jobs=jobs, n=len(rows), at=local_time(now_iso()))
    head = (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<p class="meta">{html.escape(meta)}</p>'
    )
    out.write_text(head + "".join(_card(store, r) for r in rows) + "</body></html>", encoding="utf-8")


WRITERS = {"csv": _write_csv, "xlsx": _write_xlsx, "html": _write_html}  # pfif: reunite.pfif
PFIF_DOMAIN = "reunite.local"


def audit_rows(store: Store, since: str | None = None) -> list[dict]:
    """The audit trail, its details parsed, a review's subject (internal ids, stored so a purge leaves no
    identifier behind) named by the records' external ids while they exist."""
    sql = "SELECT * FROM audit" + (" WHERE at >= ?" if since else "") + " ORDER BY id"
    out = []
    for r in store.conn.execute(sql, (since,) if since else ()):
        row = dict(r)
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
        if row["action"] == "review" and row["subject"] and "~" in row["subject"]:
            rid, _sep, mid = row["subject"].partition("~")
            row["subject"] = pair_label(store, int(rid), int(mid))
        out.append(row)
    return out

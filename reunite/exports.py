"""Candidate lists for police verification. Redacted by default (ID numbers keep the region and birth
part, phone numbers and contact names are masked); every export is written private (0600) with a sidecar
manifest (sha256, job, rows, redaction) and an audit row. Formats here: CSV (UTF-8 with BOM, formula-safe);
XLSX, HTML and PFIF are planned (see the export issue)."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from reunite.errors import ReuniteError
from reunite.jobs import list_candidates
from reunite.photos import sha256_file
from reunite.safecsv import write_csv
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


def _evidence(terms: list[dict]) -> str:
    parts = []
    for t in sorted((t for t in terms if t["term"] != "prior" and t["weight"]), key=lambda t: -abs(t["weight"])):
        parts.append(f"{t['term']}: {t['level']} ({t['weight']:+.1f}){' — ' + t['detail'] if t['detail'] else ''}")
    return "; ".join(parts)


def candidate_rows(
    store: Store,
    job: int | None,
    resident_ids: list[int] | None,
    min_weight: float | None,
    top_k: int | None,
    redact: bool,
) -> tuple[int | None, list[dict]]:
    rows = [r for r in list_candidates(store, job, resident_ids) if r["direction"] == "resident"]
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
                "resident_names": "、".join(n.name for n in store.names_of(resident_id=res["id"])),
                "resident_sex": res["gender"] or "",
                "resident_age": age_range or (res["age_raw"] or ""),
                "resident_height": res["height_cm"] or "",
                "accent": res["accent"] or "",
                "place_clues": res["place_clues"] or "",
                "found": f"{res['found_place'] or ''} {res['found_date'] or ''}".strip(),
                "resident_features": res["features"] or "",
                "missing_id": r["missing"]["id"],
                "missing_names": "、".join(n.name for n in store.names_of(missing_id=mis["id"])),
                "missing_sex": mis["gender"] or "",
                "age_at_found": (found_year - mis["birth_year"]) if mis["birth_year"] else "",
                "missing_height": mis["height_cm"] or "",
                "hometown": mis["hometown"] or "",
                "missing": f"{mis['missing_place'] or ''} {mis['missing_date'] or ''}".strip(),
                "missing_features": mis["features"] or "",
                "id_number": redact_id(mis["id_number"]) if redact else (mis["id_number"] or ""),
                "contact": contact,
                "weight": r["weight"],
                "probability": round(r["probability"], 4),
                "evidence": _evidence(r["terms"]),
                "dna": "",
                "confirmed": "",
            }
        )
    return (rows[0]["job"] if rows else job), out


def export(
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
) -> dict:
    """Write the export and its manifest; returns the manifest."""
    if fmt != "csv":
        raise ReuniteError(f"format {fmt!r} is not built yet (csv works; xlsx, html and pfif are planned)")
    if not redact and not reason:
        raise ReuniteError(
            "--no-redact needs --reason: unredacted ID numbers and phone numbers are recorded in the audit"
        )
    job_id, rows = candidate_rows(store, job, resident_ids, min_weight, top_k, redact)
    header = [zh if lang == "zh" else en for _, zh, en in COLUMNS]
    out = Path(out)
    write_csv(out, header, ([row[k] for k, _, _ in COLUMNS] for row in rows))
    manifest = {
        "file": out.name,
        "sha256": sha256_file(out),
        "format": fmt,
        "job": job_id,
        "rows": len(rows),
        "redacted": redact,
        "reason": reason,
        "lang": lang,
        "created_at": now_iso(),
        "by": by or current_actor(),
    }
    side = out.with_name(out.name + ".manifest.json")
    fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
    with store.transaction():
        store.audit("export" if redact else "export_unredacted", subject=str(out), actor=by, detail=manifest)
    return manifest


def audit_rows(store: Store, since: str | None = None) -> list[dict]:
    sql = "SELECT * FROM audit" + (" WHERE at >= ?" if since else "") + " ORDER BY id"
    return [dict(r) for r in store.conn.execute(sql, (since,) if since else ())]

"""Face templates without photos: 128-d dlib encodings exchanged as JSONL instead of the raw image.

A provincial centre or another station may hold only templates (GB/T 35273: keep the template, not the
image). One object a line: `{"id": "<编号>", "encoding": [128 numbers], "model":
"dlib_face_recognition_resnet_model_v1", "taken_year": 2019}`. A template joins the record (source, id) as a
face with no image: a photos row whose sha256 is `template:<digest of the vector>` and an empty stored path,
with its encoding in `faces` like an encoded photo, so indexes, jobs, purge and exports treat it as a face.
Every line is stored or reported (line number, field, reason); one transaction per file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from reunite.errors import InputFileError, UsageError
from reunite.files import record_label, replacing, write_manifest
from reunite.i18n import _
from reunite.ingest import Reject, write_rejects
from reunite.photos import sha256_file
from reunite.store import Store, current_actor, now_iso

MODEL = "dlib_face_recognition_resnet_model_v1"
DIM = 128
PREFIX = "template:"
SIDES = {"missing": ("missing_persons", "missing_id"), "residents": ("residents", "resident_id")}


@dataclass
class TemplateResult:
    file: str
    side: str
    source: str
    n_lines: int = 0
    new: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)
    rejects_path: str | None = None

    def summary(self) -> dict:
        return {
            "file": self.file,
            "side": self.side,
            "source": self.source,
            "lines": self.n_lines,
            "new": self.new,
            "unchanged": self.unchanged,
            "rejected": len(self.rejects),
            "rejects_path": self.rejects_path,
        }


def template_sha(vec: np.ndarray) -> str:
    """A template's identity: the digest of its little-endian float32 bytes (the same vector is one face)."""
    return PREFIX + hashlib.sha256(np.asarray(vec, dtype="<f4").tobytes()).hexdigest()


def parse_line(text: str) -> tuple[str, np.ndarray, int | None]:
    """One JSONL line -> (id, vector, taken_year); ValueError('field: reason') when it is not a template."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, UnicodeError) as exc:
        raise ValueError(f"(line): not JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    if not isinstance(obj, dict):
        raise ValueError("(line): not a JSON object")
    ext = obj.get("id")
    if isinstance(ext, int | float) and not isinstance(ext, bool):
        ext = str(ext)
    if not isinstance(ext, str) or not ext.strip():
        raise ValueError("id: missing or empty")
    model = obj.get("model")
    if model != MODEL:
        raise ValueError(f"model: {model!r} is not {MODEL} (a template of another model cannot be compared)")
    enc = obj.get("encoding")
    if not isinstance(enc, list) or len(enc) != DIM:
        got = len(enc) if isinstance(enc, list) else type(enc).__name__
        raise ValueError(f"encoding: needs {DIM} numbers, got {got}")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in enc):
        raise ValueError("encoding: every element must be a number")
    if not all(math.isfinite(x) for x in enc):
        raise ValueError("encoding: has a non-finite number (NaN or infinity)")
    if any(abs(x) > 3.0e38 for x in enc):
        raise ValueError("encoding: a number out of float32 range")
    vec = np.asarray(enc, dtype=np.float32)
    if not np.any(vec):
        raise ValueError("encoding: all zero")
    year = obj.get("taken_year")
    if year is not None and (
        not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= date.today().year
    ):
        raise ValueError(f"taken_year: {year!r} is not a year between 1900 and now")
    return ext.strip(), vec, year


def settings_keys(store: Store) -> list[str]:
    """Every encoder settings key the workspace uses (and the default), so a template is found by any job."""
    from reunite.faces import EncodeSettings

    keys = {r[0] for r in store.conn.execute("SELECT DISTINCT settings FROM faces")}
    keys.add(EncodeSettings().key)
    return sorted(k for k in keys if MODEL in k)


def adopt_templates(store: Store, settings_key: str) -> int:
    """Give templates a faces row under a new settings key of the same encoder model (templates do not
    depend on the detector settings): called before encoding, so a re-index with other settings keeps them."""
    if MODEL not in settings_key:
        return 0
    cur = store.conn.execute(
        "INSERT INTO faces (sha256, settings, status, n_faces, encoding, created_at)"
        " SELECT DISTINCT f.sha256, ?, 'encoded', 1, f.encoding, ? FROM faces f"
        " WHERE f.sha256 LIKE 'template:%' AND f.settings != ?"
        " AND NOT EXISTS (SELECT 1 FROM faces g WHERE g.sha256 = f.sha256 AND g.settings = ?)"
        " GROUP BY f.sha256",
        (settings_key, now_iso(), settings_key, settings_key),
    )
    return cur.rowcount


def ingest_templates(
    store: Store,
    path: Path,
    *,
    source: str,
    side: str = "missing",
    rejects_path: Path | None = None,
    actor: str | None = None,
) -> TemplateResult:
    """Store each valid line's template on its record; report the others. Nothing is stored on a crash."""
    if side not in SIDES:
        raise InputFileError(_("unknown side {side!r} (missing or residents)").format(side=side))
    path = Path(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed by the with below; streamed: a million lines at a centre)
    except OSError as exc:
        raise InputFileError(_("{path}: cannot read: {why}").format(path=path, why=exc.strerror)) from None
    table, owner = SIDES[side]
    result = TemplateResult(str(path), side, source)
    keys = settings_keys(store)
    stamp = now_iso()
    with fh, store.transaction():
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            result.n_lines += 1
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                result.rejects.append(Reject(lineno, "(line)", "", f"not UTF-8 (byte {exc.start})"))
                continue
            try:
                ext, vec, year = parse_line(text)
            except ValueError as exc:
                fld, _sep, reason = str(exc).partition(": ")
                result.rejects.append(Reject(lineno, fld, text[:80], reason))
                continue
            row = store.conn.execute(
                f"SELECT id FROM {table} WHERE source = ? AND external_id = ?", (source, ext)
            ).fetchone()
            if row is None:
                result.rejects.append(Reject(lineno, "id", ext, f"no {side} record {source}/{ext}"))
                continue
            sha = template_sha(vec)
            cur = store.conn.execute(
                f"INSERT INTO photos ({owner}, sha256, stored_path, original_path, taken_year, status, created_at)"
                " VALUES (?, ?, '', ?, ?, 'encoded', ?) ON CONFLICT DO NOTHING",
                (row[0], sha, f"{path.name}:{lineno}", year, stamp),
            )
            if cur.rowcount == 0:
                store.conn.execute(
                    f"UPDATE photos SET taken_year = ? WHERE {owner} = ? AND sha256 = ?", (year, row[0], sha)
                )
                result.unchanged += 1
            else:
                result.new += 1
            blob = vec.astype("<f4").tobytes()
            store.conn.executemany(
                "INSERT INTO faces (sha256, settings, status, n_faces, encoding, created_at)"
                " VALUES (?, ?, 'encoded', 1, ?, ?) ON CONFLICT (sha256, settings) DO NOTHING",
                [(sha, k, blob, stamp) for k in keys],
            )
        if result.rejects:
            result.rejects_path = str(write_rejects(store, path, f"templates-{side}", result.rejects, rejects_path))
        store.audit(
            "ingest_templates",
            subject=f"{side}:{path.name}",
            actor=actor,
            detail={**result.summary(), "file_sha256": sha256_file(path)},
        )
    return result


def export_templates(
    store: Store, out: Path, *, side: str = "missing", settings_key: str | None = None, by: str | None = None
) -> dict:
    """Every face of the side's active records (encoded photos and templates) as template JSONL, written to a
    temporary file and renamed, 0600, with a manifest and an audit row. Photos never leave the workspace."""
    from reunite.faces import EncodeSettings

    if side not in SIDES:
        raise UsageError(_("unknown side {side!r} (missing or residents)").format(side=side))
    table, owner = SIDES[side]
    active = "o.status = 'open'" if side == "missing" else "o.status = 'in_care'"
    key = settings_key or EncodeSettings().key
    rows = store.conn.execute(
        f"SELECT o.source, o.external_id, p.taken_year, f.encoding FROM photos p JOIN {table} o ON o.id = p.{owner}"
        f" JOIN faces f ON f.sha256 = p.sha256 AND f.settings = ? WHERE {active} AND f.status = 'encoded'"
        " ORDER BY o.source, o.external_id, p.id",
        (key,),
    ).fetchall()
    out = Path(out)
    with replacing(out) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for r in rows:
                vec = np.frombuffer(r["encoding"], dtype="<f4")
                obj = {"id": r["external_id"], "source": r["source"], "model": MODEL, "encoding": None}
                if r["taken_year"] is not None:
                    obj["taken_year"] = int(r["taken_year"])
                # the shortest text that reads back as the same float32: a re-import is the same template
                numbers = ", ".join(np.format_float_positional(x, unique=True, trim="-") for x in vec)
                fh.write(json.dumps(obj, ensure_ascii=False).replace('"encoding": null', f'"encoding": [{numbers}]'))
                fh.write("\n")
        manifest = {
            "file": out.name,
            "sha256": sha256_file(tmp),
            "format": "templates",
            "side": side,
            "rows": len(rows),
            "records": sorted({record_label(table, r["source"], r["external_id"]) for r in rows}),
            "settings": key,
            "created_at": now_iso(),
            "by": by or current_actor(),
        }
        with store.transaction():
            store.audit("export_templates", subject=str(out), actor=by, detail={**manifest, "records": None})
    write_manifest(out, manifest)
    return manifest

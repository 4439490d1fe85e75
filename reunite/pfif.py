"""PFIF 1.4 (Person Finder Interchange Format): records out and person/note records in, so data moves to
and from other missing-person systems. Parsing uses defusedxml (no entity expansion, no external entities).

Export: each missing-person record (and each resident, marked in its description) is a pfif:person; each
candidate pair of a job is a pfif:note on the resident linking the record, with the evidence as its text.
Import: pfif:person records become missing-person records of the file's source; their notes are appended
to the record's notes. ID numbers are never exported; contacts only with --no-redact.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, tostring

from reunite.errors import InputFileError
from reunite.i18n import _
from reunite.parsers import ParseError, parse_date, split_multi, xml_text
from reunite.records import MissingPerson, NameEntry
from reunite.scoring import format_probability
from reunite.store import Store, now_iso

NS = "http://zesty.ca/pfif/1.4"
SEX = {"M": "male", "F": "female"}
SEX_BACK = {"male": "M", "female": "F"}


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _add(parent: Element, tag: str, value: object) -> None:
    if value not in (None, ""):
        SubElement(parent, _q(tag)).text = xml_text(str(value))


def export_pfif(store: Store, out: Path, domain: str, job: int | None, rows: list[dict], redact: bool) -> int:
    """Write persons (records and the residents of `rows`) and notes (the candidate pairs); returns count."""
    root = Element(_q("pfif"))
    stamp = now_iso().replace(".000", "")[:19] + "Z"
    n = 0
    # only the records the selected candidates name: a selection of none writes none (not every record)
    wanted = {(r["_missing_source"], r["missing_id"]) for r in rows}
    residents: dict[str, Element] = {}
    for m in store.conn.execute("SELECT * FROM missing_persons ORDER BY id"):
        if (m["source"], m["external_id"]) not in wanted:
            continue
        names = store.names_of(missing_id=m["id"])
        p = SubElement(root, _q("person"))
        _add(p, "person_record_id", f"{domain}/missing.{m['source']}.{m['external_id']}")
        _add(p, "entry_date", stamp)
        _add(p, "source_date", stamp)
        _add(p, "full_name", names[0].name if names else "")
        _add(p, "alternate_names", "\n".join(x.name for x in names[1:]))
        _add(p, "sex", SEX.get(m["gender"]))
        _add(p, "date_of_birth", m["birth_date"])
        _add(p, "home_city", m["hometown"])
        _add(p, "home_country", "CN")
        _add(
            p,
            "description",
            "；".join(
                x
                for x in (
                    m["features"],
                    m["missing_place"] and f"走失地点 {m['missing_place']}",
                    m["missing_date"] and f"走失日期 {m['missing_date']}",
                )
                if x
            ),
        )
        if not redact:
            _add(p, "author_name", m["contact_name"])
            _add(p, "author_phone", m["contact_phone"])
        n += 1
    for r in rows:
        res = store.conn.execute(
            "SELECT * FROM residents WHERE source = ? AND external_id = ?", (r["_resident_source"], r["resident_id"])
        ).fetchone()
        pid = f"{domain}/resident.{res['source']}.{res['external_id']}"
        p = residents.get(pid)
        if p is None:
            p = residents[pid] = SubElement(root, _q("person"))
            _add(p, "person_record_id", pid)
            _add(p, "entry_date", stamp)
            _add(p, "full_name", r["resident_names"] or "(name unknown)")
            _add(p, "sex", SEX.get(res["gender"]))
            _add(p, "age", f"{res['age_min']}-{res['age_max']}" if res["age_min"] is not None else None)
            _add(p, "description", f"受助人员 (rescue-station resident); {res['features'] or ''}".strip("; "))
            n += 1
        note = SubElement(p, _q("note"))
        _add(note, "note_record_id", f"{domain}/note.{r['job']}.{r['resident_id']}.{r['missing_id']}")
        _add(note, "person_record_id", pid)
        _add(note, "linked_person_record_id", f"{domain}/missing.{r['_missing_source']}.{r['missing_id']}")
        _add(note, "entry_date", stamp)
        _add(note, "author_name", "reunite")
        _add(note, "source_date", stamp)
        _add(note, "status", "information_sought")
        _add(
            note,
            "text",
            f"candidate #{r['rank']}, weight {r['weight']:+.1f}, "
            f"probability {format_probability(r['probability'])}: {r['evidence']}",
        )
    out.write_bytes(
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + tostring(root, encoding="utf-8", xml_declaration=False)
        .replace(b"ns0:", b"pfif:")
        .replace(b"xmlns:ns0", b"xmlns:pfif")
    )
    return n


def read_pfif(path: Path, source: str) -> tuple[list[MissingPerson], list[str]]:
    """Persons as missing-person records (notes appended to their notes); problems as messages."""
    from defusedxml import ElementTree as SafeET

    try:
        root = SafeET.parse(path).getroot()
    except Exception as exc:  # defusedxml and expat raise several types
        raise InputFileError(_("{path}: not a readable PFIF file: {why}").format(path=path, why=exc)) from exc
    records, problems = [], []
    for i, p in enumerate(root.iter(_q("person")), start=1):

        def text(tag: str, el: Element = p) -> str | None:
            found = el.find(_q(tag))
            return found.text.strip() if found is not None and found.text else None

        pid = text("person_record_id")
        if not pid:
            problems.append(f"person {i}: no person_record_id, skipped")
            continue
        full = text("full_name") or " ".join(x for x in (text("family_name"), text("given_name")) if x)
        names = [NameEntry(full, full, "name")] if full else []
        names += [NameEntry(a, a, "alias") for a in split_multi(text("alternate_names") or "")]
        try:
            birth = parse_date(text("date_of_birth")) if text("date_of_birth") else None
        except ParseError as exc:
            problems.append(f"person {pid}: date_of_birth {exc}")
            birth = None
        notes = [text("text", n) for n in p.iter(_q("note")) if text("text", n)]
        records.append(
            MissingPerson(
                source=source,
                external_id=pid.split("/", 1)[-1],
                gender=SEX_BACK.get(text("sex") or ""),
                birth_date=birth,
                birth_year=int(birth[:4]) if birth else None,
                hometown=" ".join(x for x in (text("home_state"), text("home_city")) if x) or None,
                features=text("description"),
                notes="\n".join(notes) or None,
                names=names,
            )
        )
    return records, problems


def import_pfif(store: Store, path: Path, source: str = "pfif", actor: str | None = None) -> dict:
    records, problems = read_pfif(Path(path), source)
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    with store.transaction():
        for rec in records:
            outcome, _rec_id = store.upsert(rec)
            counts[outcome] += 1
        store.audit(
            "ingest", subject=f"pfif:{Path(path).name}", actor=actor, detail={**counts, "problems": len(problems)}
        )
    return {**counts, "problems": problems}

"""How results read to a person: the words for every term, level, status and decision, evidence in
sentences, places by name with the code beside, times on the station's clock. Used by the CLI and the
exports; the words are data (English keys, their Chinese in the catalog), the language is i18n's.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from reunite.i18n import N_, _, local_time, shown

TERM_WORDS = {
    "prior": N_("prior"),
    "face": N_("face"),
    "name": N_("name"),
    "place": N_("place"),
    "sex": N_("sex"),
    "age": N_("age"),
    "height": N_("height"),
    "timeline": N_("dates"),
    "features": N_("marks"),
    "accent": N_("accent"),
}

# (term, level) -> what the level says, as a person would put it
LEVEL_WORDS = {
    ("face", "strong"): N_("faces match strongly"),
    ("face", "moderate"): N_("faces match moderately"),
    ("face", "weak"): N_("faces match weakly"),
    ("face", "against"): N_("faces differ"),
    ("face", "strongly_against"): N_("faces differ strongly"),
    ("face", "none"): N_("no face to compare"),
    ("name", "exact"): N_("same name"),
    ("name", "normalised"): N_("same name once written alike"),
    ("name", "homophone"): N_("names sound the same"),
    ("name", "dialect"): N_("names sound alike in the dialect"),
    ("name", "fuzzy"): N_("names sound close"),
    ("name", "one_syllable"): N_("names differ by one syllable"),
    ("name", "given_only"): N_("given name alone agrees"),
    ("name", "surname_only"): N_("surname alone agrees"),
    ("name", "nickname"): N_("nickname agrees"),
    ("name", "different"): N_("names differ"),
    ("name", "unknown"): N_("no name on one side"),
    ("place", "same_township"): N_("same township"),
    ("place", "same_county"): N_("same county"),
    ("place", "same_prefecture"): N_("same prefecture"),
    ("place", "same_province"): N_("same province"),
    ("place", "found_near"): N_("found near where they went missing"),
    ("place", "accent_consistent"): N_("hometown agrees with the accent"),
    ("place", "conflicting"): N_("places disagree"),
    ("place", "unknown"): N_("no place to compare"),
    ("sex", "same"): N_("same sex"),
    ("sex", "different"): N_("different sex"),
    ("sex", "unknown"): N_("sex not known on one side"),
    ("age", "within"): N_("age within the estimate"),
    ("age", "near"): N_("age near the estimate"),
    ("age", "far"): N_("age far from the estimate"),
    ("age", "incompatible"): N_("age does not fit"),
    ("age", "unknown"): N_("age not known on one side"),
    ("height", "close"): N_("height close"),
    ("height", "near"): N_("height near"),
    ("height", "far"): N_("height far"),
    ("height", "unknown"): N_("height not known on one side"),
    ("timeline", "consistent"): N_("found after going missing"),
    ("timeline", "found_before_missing"): N_("found before the missing date"),
    ("timeline", "unknown"): N_("dates not known"),
    ("features", "distinctive_same_place"): N_("same mark in the same place"),
    ("features", "distinctive"): N_("same mark"),
    ("features", "condition"): N_("same condition"),
    ("features", "none_shared"): N_("no mark shared"),
    ("features", "unknown"): N_("marks not known on one side"),
    ("accent", "same_group"): N_("accent of the hometown's dialect"),
    ("accent", "different_group"): N_("accent of another dialect"),
    ("accent", "unknown"): N_("accent not known"),
}

WORDS = {  # statuses, decisions, kinds, modes, record sides
    "in_care": N_("in care"),
    "returned": N_("returned home"),
    "transferred": N_("transferred"),
    "deceased": N_("deceased"),
    "open": N_("open"),
    "found": N_("found"),
    "closed": N_("closed"),
    "pending": N_("to encode"),
    "encoded": N_("encoded"),
    "no_face": N_("no face"),
    "failed": N_("failed"),
    "running": N_("running"),
    "done": N_("done"),
    "rejected": N_("rejected"),
    "referred": N_("referred to police"),
    "confirmed": N_("confirmed"),
    "reunited": N_("reunited"),
    "corrected": N_("corrected"),
    "missing": N_("missing-person registration"),
    "at_risk": N_("at risk of wandering"),
    "returned_entry": N_("returned-person register"),
    "all": N_("all"),
    "new": N_("new and changed"),
    "ids": N_("named records"),
    "full": N_("full"),
    "incremental": N_("incremental"),
    "residents": N_("residents"),
    "registry": N_("registry"),
    "face": N_("face"),
    "name": N_("name"),
    "place": N_("place"),
    "demographic": N_("sex and age"),
}

# how a place was read (places.resolve): the first word of PlaceHit.how; a rule may follow it (fuzzy l+n)
HOW_WORDS = {
    "exact": N_("written exactly"),
    "short": N_("short name"),
    "historical": N_("former name"),
    "abbreviation": N_("abbreviation"),
    "homophone": N_("sounds the same"),
    "dialect": N_("sounds alike in the dialect"),
    "fuzzy": N_("sounds close"),
}


def place_reading(hit: object) -> str:
    """A reading of a free-text place: 河南省周口市商水县 [411623]: sounds the same ('上水', confidence 0.75)."""
    first, _sep, rule = hit.how.partition(" ")
    how = _(HOW_WORDS[first]) if first in HOW_WORDS else first
    return _("{name} [{code}]: {how} ({span!r}, confidence {confidence:.2f})").format(
        name=hit.name, code=hit.code, how=f"{how} {rule}".strip(), span=hit.span, confidence=hit.confidence
    )


# a registration's kind as the police read it (寻亲登记 / 易走失 / 返乡台账)
KIND_WORDS = {"missing": "missing", "at_risk": "at_risk", "returned": "returned_entry"}


def word(code: str | None) -> str:
    """The word for a status, decision, kind or mode in the current language (unknown codes as they are)."""
    if not code:
        return ""
    key = WORDS.get(code)
    return _(key) if key else code


def kind_word(kind: str | None) -> str:
    return word(KIND_WORDS.get(kind or "", kind))


def term_word(term: str) -> str:
    return _(TERM_WORDS.get(term, term))


def level_word(term: str, level: str) -> str:
    key = LEVEL_WORDS.get((term, level))
    return _(key) if key else level


def detail_of(t: dict) -> str:
    """A stored term's text in the current language."""
    return shown(t.get("detail") or "", t.get("say"))


def _moved(terms: list[dict]) -> list[dict]:
    """The terms that moved the weight (not the prior), strongest first."""
    return sorted((t for t in terms if t["term"] != "prior" and t["weight"]), key=lambda t: -abs(t["weight"]))


def evidence(terms: list[dict], limit: int | None = None) -> str:
    """The terms that moved the weight, strongest first, in words: 姓名方言音近 (l/n: 牛桂华 ~ 刘桂花) +6.6."""
    parts = []
    for t in _moved(terms)[:limit]:
        text = detail_of(t)
        level, weight = level_word(t["term"], t["level"]), f"{t['weight']:+.1f}"
        if text:
            parts.append(_("{level} ({detail}) {weight}").format(level=level, detail=text, weight=weight))
        else:
            parts.append(f"{level} {weight}")
    return _("; ").join(parts)


def strongest(terms: list[dict], n: int = 3) -> str:
    """The n terms that moved the weight most, short: 姓名方言音近 +6.6; 同一地级市 +4.1."""
    return _("; ").join(f"{level_word(t['term'], t['level'])} {t['weight']:+.1f}" for t in _moved(terms)[:n])


def counts(d: dict) -> str:
    """{'in_care': 3, 'missing/open': 1} as 在站 3, 寻亲登记/在案 1."""

    def one(key: str) -> str:
        return "/".join(kind_word(p) if p in KIND_WORDS else word(p) for p in key.split("/"))

    return _(", ").join(f"{one(k)} {v}" for k, v in sorted(d.items())) or _("none")


JOB_COUNTS = {
    "residents": N_("residents {n}"),
    "missing": N_("records {n}"),
    "candidates_scored": N_("pairs scored {n}"),
    "stored": N_("candidates stored {n}"),
}


def job_counts(text: str | None) -> str:
    """A job's stored counts (JSON) as a person reads them."""
    import json

    try:
        data = json.loads(text or "{}")
    except ValueError:
        return text or ""
    return _(", ").join(_(msg).format(n=data[k]) for k, msg in JOB_COUNTS.items() if k in data)


REPORT_COLUMNS = {
    "residents_received": N_("residents received"),
    "referred": N_("referred"),
    "confirmed": N_("confirmed"),
    "reunited": N_("reunited"),
    "escorted_home": N_("escorted home"),
    "rejected": N_("rejected"),
}
AUDIT_WORDS = {
    "ingest": N_("ingest"),
    "index": N_("index built"),
    "match": N_("match job"),
    "export": N_("export"),
    "export_unredacted": N_("UNREDACTED export"),
    "review": N_("review"),
    "purge": N_("purge"),
}


def audit_word(row: dict) -> str:
    """An audit row's action in words (a review by its decision)."""
    if row["action"] == "review" and isinstance(row.get("detail"), dict):
        return f"{_(AUDIT_WORDS['review'])}: {word(row['detail'].get('decision'))}"
    key = AUDIT_WORDS.get(row["action"])
    return _(key) if key else row["action"]


def status_heading(st: dict) -> str:
    return _("workspace  {root}  (schema v{version})").format(root=st["workspace"], version=st["schema_version"])


def status_table(st: dict) -> Table:
    """`reunite status` as a table of what the workspace holds, in words."""
    t = Table(show_header=True, header_style="bold")
    t.add_column(_("what"))
    t.add_column(_("counts"))
    t.add_row(_("residents"), counts(st["residents"]))
    t.add_row(_("missing / registry"), counts(st["missing"]))
    t.add_row(_("photos"), counts(st["photos"]))
    iv = st["index_version"]
    t.add_row(
        _("face index"),
        _("none built")
        if not iv
        else _("{version} ({mode}, {at}): missing {n_missing}, residents {n_residents}").format(
            version=iv["version"],
            mode=word(iv["mode"]),
            at=local_time(iv["created_at"]),
            n_missing=iv["n_missing"],
            n_residents=iv["n_residents"],
        ),
    )
    t.add_row(
        _("faces flagged"),
        _("{n} photo(s) with several faces (subject = largest)").format(n=st["faces_flagged_for_review"]),
    )
    lj = st["last_job"]
    t.add_row(
        _("last job"),
        _("none")
        if not lj
        else _("{id} ({mode}, {status}) {at}: {counts}").format(
            id=lj["id"],
            mode=word(lj["mode"]),
            status=word(lj["status"]),
            at=local_time(lj["started_at"]),
            counts=job_counts(lj["counts"]),
        ),
    )
    last = st["last_ingest"]
    t.add_row(
        _("last ingest"),
        _("none")
        if not last
        else _(
            "{kind} {file} at {at}: new {new}, updated {updated}, unchanged {unchanged}, rejected {rejected}"
        ).format(
            kind=word(last["kind"]),
            file=Path(last["file"]).name,
            at=local_time(last["finished_at"]),
            new=last["n_new"],
            updated=last["n_updated"],
            unchanged=last["n_unchanged"],
            rejected=last["n_rejected"],
        ),
    )
    return t


def status_problems(st: dict) -> list[str]:
    """The photos without a usable face, one line each."""
    return [
        _("  photo {id} {path}: {status} {error}").format(
            id=p["id"], path=p["original_path"], status=word(p["status"]), error=p["error"] or ""
        )
        for p in st["photo_problems"]
    ]

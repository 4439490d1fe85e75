"""`reunite demo`: the pipeline on the committed samples, in a fresh workspace, reporting what it did.

It runs only the stages that exist and says plainly which do not yet; it never invents results.
"""

from __future__ import annotations

import csv
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from reunite.display import strongest, word
from reunite.errors import ReuniteError
from reunite.exports import export
from reunite.i18n import _
from reunite.ingest import ingest_file
from reunite.store import Store, init_workspace
from reunite.textkeys import compute_name_keys, compute_place_keys

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_FILES = (
    ("residents", "residents.csv", "synth"),
    ("missing", "missing.csv", "synth"),
    ("residents", "showcase_residents.csv", "showcase"),
    ("missing", "showcase_missing.csv", "showcase"),
    ("registry", "registry.csv", "showcase"),
)


@dataclass
class DemoReport:
    workspace: Path
    lines: list[str] = field(default_factory=list)
    results: dict = field(default_factory=dict)


def _without_photos(src: Path, tmp: Path) -> Path:
    """A copy of a sample file with the photo column emptied (the demo without --faces)."""
    with open(src, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    if rows and "照片" in rows[0]:
        col = rows[0].index("照片")
        for r in rows[1:]:
            if col < len(r):
                r[col] = ""
    dest = tmp / src.name
    with open(dest, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return dest


def run_demo(
    home: Path | None = None, faces: Path | None = None, samples: Path = SAMPLES, workers: int | None = None
) -> DemoReport:
    """ingest -> index -> match on the samples; prints what it did and how the ranking did against the truth."""
    from reunite.faces import EncodeSettings, encode_pending
    from reunite.index import build_indexes
    from reunite.jobs import list_candidates, run_match

    if not samples.is_dir():
        raise ReuniteError(
            _("samples folder {path} not found (run the demo from a reunite checkout)").format(path=samples)
        )
    if faces is not None and not Path(faces).is_dir():
        raise ReuniteError(_("--faces {path}: not a folder").format(path=faces))
    root = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="reunite-demo-"))
    ws, _created = init_workspace(root)
    with Store.open(ws) as store:
        held = store.conn.execute(
            "SELECT (SELECT COUNT(*) FROM residents WHERE source NOT IN ('synth', 'showcase'))"
            " + (SELECT COUNT(*) FROM missing_persons WHERE source NOT IN ('synth', 'showcase', 'returned:synth',"
            " 'returned:showcase'))"
        ).fetchone()[0]
    if held:
        raise ReuniteError(
            _(
                "{root} already holds {n} record(s) of its own: the demo adds sample people to a workspace, so it"
                " runs only in a new one (or one it made before); give --home a new folder"
            ).format(root=ws.root, n=held)
        )
    report = DemoReport(ws.root)
    report.lines.append(_("workspace: {root}").format(root=ws.root))
    t0 = time.perf_counter()
    with Store.open(ws) as store, tempfile.TemporaryDirectory() as tmp:
        for kind, name, source in SAMPLE_FILES:
            path = samples / name
            if not path.exists():
                continue
            if faces is None:
                path = _without_photos(path, Path(tmp))
            res = ingest_file(store, kind, path, source=source, actor="demo", photos=faces)
            report.results[name] = res.summary()
            report.lines.append(
                _(
                    "ingest {kind} {name}: {rows} rows, new {new}, unchanged {unchanged}, rejected {rejected},"
                    " photos {photos}"
                ).format(
                    kind=word(kind),
                    name=name,
                    rows=res.n_rows,
                    new=res.new,
                    unchanged=res.unchanged,
                    rejected=res.rejected_rows,
                    photos=res.photos,
                )
                + (_(" (see {path})").format(path=res.rejects_path) if res.rejects_path else "")
            )
        settings = EncodeSettings()
        enc = encode_pending(store, settings, workers=workers)
        built = build_indexes(store, settings.key)
        n_names, n_places = compute_name_keys(store), compute_place_keys(store)
        report.lines.append(
            _(
                "index {version}: {encoded} photos encoded ({bad} without a usable face); face index missing"
                " {missing}, residents {residents}; {names} names keyed, places resolved for {places} records"
            ).format(
                version=built.version,
                encoded=enc.encoded,
                bad=enc.failed + enc.no_face,
                missing=built.sizes["missing"],
                residents=built.sizes["residents"],
                names=n_names,
                places=n_places,
            )
        )
        job = run_match(store, "all", top_k=20)
        report.lines.append(
            _("match job {job}: {residents} residents, {scored} pairs scored, {stored} candidates stored").format(
                job=job.job_id, residents=job.residents, scored=job.candidates_scored, stored=job.stored
            )
        )
        rows = list_candidates(store, job.job_id)
        report.lines.extend(_showcase(rows))
        report.lines.extend(_accuracy(rows, samples / "truth.csv"))
        html_path = ws.exports / "demo-candidates.html"
        shown = [(r["resident"]["source"], r["resident"]["id"]) for r in rows if r["rank"] == 1]
        picked = [x for x in shown if x[0] == "showcase"] + [x for x in shown if x[0] == "synth"][:3]
        ids = [store.resident_id(src, ext) for src, ext in dict.fromkeys(picked)]
        m = export(store, html_path, fmt="html", job=job.job_id, resident_ids=ids or None, top_k=3, by="demo")
        report.lines.append(
            _(
                "HTML report for police verification (showcase and three generated residents, top 3, redacted):"
                " {path} ({n} cards)"
            ).format(path=html_path, n=m["rows"])
        )
    report.lines.append(
        _("photos: from {path}").format(path=faces)
        if faces
        else _(
            "photos: not used (pass --faces DIR, e.g. ../shared/data/faces, to give the sample records real face"
            " photos)"
        )
    )
    report.lines.append(
        _(
            "done in {seconds:.0f}s. See a pair's evidence with: uv run reunite --home {root} explain"
            " JZ-2024-001 XQ-0001"
        ).format(seconds=time.perf_counter() - t0, root=ws.root)
    )
    report.lines.append(
        _(
            "all candidates: uv run reunite --home {root} candidates; exports: reunite export --format"
            " csv|xlsx|html|pfif; station figures: reunite report"
        ).format(root=ws.root)
    )
    return report


def _showcase(rows: list[dict]) -> list[str]:
    out = [_("showcase residents, top candidates (weight; strongest evidence):")]
    for r in rows:
        if r["resident"]["source"] != "showcase" or r["direction"] != "resident" or r["rank"] > 2:
            continue
        why = strongest(r["terms"])
        out.append(f"  {r['resident']['id']} -> {r['missing']['id']} #{r['rank']} ({r['weight']:+.1f}; {why})")
    return out


def _accuracy(rows: list[dict], truth_path: Path) -> list[str]:
    """recall@1/@10 of the true record for the generated residents who have one (samples/truth.csv)."""
    if not truth_path.is_file():
        return []
    with open(truth_path, encoding="utf-8") as fh:
        truth = {r["resident_id"]: r["case_id"] for r in csv.DictReader(fh) if r["case_id"]}
    ranks: dict[str, int] = {}
    for r in rows:
        if r["resident"]["source"] == "synth" and truth.get(r["resident"]["id"]) == r["missing"]["id"]:
            ranks[r["resident"]["id"]] = r["rank"]
    n = len(truth)
    at1 = sum(1 for k in truth if ranks.get(k, 99) <= 1)
    at10 = sum(1 for k in truth if ranks.get(k, 99) <= 10)
    return [
        _(
            "generated residents with a record: {n}; true record ranked 1st for {at1} ({p1:.0%}), in the top 10 for"
            " {at10} ({p10:.0%})"
        ).format(n=n, at1=at1, p1=at1 / max(n, 1), at10=at10, p10=at10 / max(n, 1))
    ]

"""The station's figures, like the ones stations publish: by month, residents received, candidates referred,
confirmed, reunited, escorted home, the median days from intake to reunion, and how each reunion was found."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import date

from reunite.decisions import all_decisions, standing
from reunite.store import Store

EVIDENCE_TERMS = ("face", "name", "place")


def _month(iso: str | None) -> str | None:
    return iso[:7] if iso and len(iso) >= 7 else None


def station_report(store: Store, date_from: str | None = None, date_to: str | None = None) -> dict:
    lo, hi = date_from or "0000", (date_to or "9999") + "~"  # '~' sorts after any time suffix
    months: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for (found,) in store.conn.execute("SELECT found_date FROM residents WHERE found_date BETWEEN ? AND ?", (lo, hi)):
        if m := _month(found):
            months[m]["residents_received"] += 1
    days: list[int] = []
    how: dict[str, int] = defaultdict(int)
    rows = store.conn.execute(
        "SELECT d.id, d.decision, d.at, d.resident_id, d.missing_id, r.found_date FROM decisions d"
        " JOIN residents r ON r.id = d.resident_id WHERE d.at BETWEEN ? AND ? ORDER BY d.id",
        (lo, hi),
    ).fetchall()
    in_force = {d.id for stack in standing(all_decisions(store)).values() for d in stack}
    for d in rows:
        if d["id"] not in in_force:  # taken back by a correction (or a correction itself)
            continue
        m = _month(d["at"])
        months[m][d["decision"]] += 1
        if d["decision"] == "reunited":
            months[m]["escorted_home"] += 1
            if d["found_date"] and len(d["found_date"]) == 10:
                days.append((date.fromisoformat(d["at"][:10]) - date.fromisoformat(d["found_date"])).days)
            how[_found_by(store, d["resident_id"], d["missing_id"])] += 1
    return {
        "from": date_from,
        "to": date_to,
        "by_month": {k: dict(v) for k, v in sorted(months.items())},
        "totals": {
            k: sum(v.get(k, 0) for v in months.values())
            for k in ("residents_received", "referred", "confirmed", "reunited", "escorted_home", "rejected")
        },
        "median_days_intake_to_reunion": statistics.median(days) if days else None,
        "reunions_found_by": dict(how),
    }


def _found_by(store: Store, resident_id: int, missing_id: int) -> str:
    """Which evidence carried the pair when it was proposed: face, name, place, several or other."""
    row = store.conn.execute(
        "SELECT terms FROM candidates WHERE resident_id = ? AND missing_id = ? ORDER BY job_id DESC LIMIT 1",
        (resident_id, missing_id),
    ).fetchone()
    if row is None:
        return "outside reunite"
    strong = [t["term"] for t in json.loads(row["terms"]) if t["term"] in EVIDENCE_TERMS and t["weight"] >= 3]
    return "several" if len(strong) > 1 else strong[0] if strong else "other"

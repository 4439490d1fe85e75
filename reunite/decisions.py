"""Review decisions on pairs: append-only, correctable, and guarded against a second confirmation.

A decision is never changed or deleted (the table refuses updates). A mistake is taken back by appending a
`corrected` row naming the decision it undoes; the pair's current decision is then the one before it, and
whatever the mistake closed (the record found, the resident returned and put on the returned-person
registry) is opened again. A resident or a record can be confirmed to one other side only, unless the
caseworker forces it with a note (twins, a duplicate registration); both stay in the history.
"""

from __future__ import annotations

from dataclasses import dataclass

from reunite.errors import NotFoundError, ReuniteError, UsageError
from reunite.i18n import _, local_time
from reunite.store import Store, current_actor, now_iso

DECISIONS = ("rejected", "referred", "confirmed", "reunited")
CLOSING = ("confirmed", "reunited")  # these close the record and return the resident
CORRECTED = "corrected"


class DecisionConflictError(ReuniteError):
    """A confirmation that would give a resident or a record a second identity."""

    exit_code = 1


@dataclass(frozen=True)
class Decision:
    id: int
    resident_id: int
    missing_id: int
    decision: str
    note: str | None
    by: str
    at: str
    corrects: int | None
    forced: bool


def all_decisions(store: Store, resident_ids: list[int] | None = None) -> list[Decision]:
    """Every decision (of these residents), oldest first, corrections included."""
    sql = "SELECT id, resident_id, missing_id, decision, note, by, at, corrects, forced FROM decisions"
    args: list = []
    if resident_ids:
        sql += f" WHERE resident_id IN ({', '.join('?' for _ in resident_ids)})"
        args = list(resident_ids)
    return [Decision(*row[:8], bool(row[8])) for row in store.conn.execute(sql + " ORDER BY id", args)]


def standing(decisions: list[Decision]) -> dict[tuple[int, int], list[Decision]]:
    """Per pair, its decisions still in force, oldest first: a correction takes back the one it names."""
    stacks: dict[tuple[int, int], list[Decision]] = {}
    for d in decisions:
        stack = stacks.setdefault((d.resident_id, d.missing_id), [])
        if d.decision == CORRECTED:
            stack[:] = [x for x in stack if x.id != d.corrects]
        else:
            stack.append(d)
    return stacks


def current_decisions(store: Store) -> dict[tuple[int, int], str]:
    """Each decided pair's current decision (pairs whose every decision was taken back are left out)."""
    return {pair: stack[-1].decision for pair, stack in standing(all_decisions(store)).items() if stack}


def _closing(stacks: dict[tuple[int, int], list[Decision]]) -> dict[tuple[int, int], Decision]:
    return {pair: s[-1] for pair, s in stacks.items() if s and s[-1].decision in CLOSING}


def pair_label(store: Store, resident_id: int, missing_id: int) -> str:
    """A pair by its records' external ids (R1 ~ M1); a side a purge removed reads "(purged)". Decisions and
    their audit rows name pairs by internal id, so that a purge leaves no identifier behind."""
    r = store.conn.execute("SELECT external_id FROM residents WHERE id = ?", (resident_id,)).fetchone()
    m = store.conn.execute("SELECT external_id FROM missing_persons WHERE id = ?", (missing_id,)).fetchone()
    return f"{r[0] if r else '(purged)'} ~ {m[0] if m else '(purged)'}"


def record_decision(
    store: Store,
    resident_id: int,
    missing_id: int,
    decision: str,
    note: str | None,
    by: str | None,
    force: bool = False,
) -> Decision:
    """Append a decision. Confirming closes the record and returns the resident (who becomes a
    returned-person registry entry); a second confirmation for either side needs `force` and a note."""
    if decision not in DECISIONS:
        raise UsageError(
            _("unknown decision {decision!r} (one of {choices})").format(
                decision=decision, choices=", ".join(DECISIONS)
            )
        )
    if force and not (note or "").strip():
        raise ReuniteError(_("--force needs --note: say why this pair is confirmed despite the other one"))
    with store.transaction():
        if decision in CLOSING:
            others = [
                d
                for pair, d in _closing(standing(all_decisions(store))).items()
                if pair != (resident_id, missing_id) and (pair[0] == resident_id or pair[1] == missing_id)
            ]
            if others and not force:
                taken = "; ".join(
                    f"{pair_label(store, d.resident_id, d.missing_id)} ({_(d.decision)} {local_time(d.at)})"
                    for d in others
                )
                raise DecisionConflictError(
                    _(
                        "{pair}: already {taken}. Undo that decision first (reunite review ... --undo), or confirm"
                        " both with --force --note"
                    ).format(pair=pair_label(store, resident_id, missing_id), taken=taken)
                )
        at = now_iso()
        actor = by or current_actor()
        cur = store.conn.execute(
            "INSERT INTO decisions (resident_id, missing_id, decision, note, by, at, forced)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (resident_id, missing_id, decision, note, actor, at, int(force)),
        )
        if decision in CLOSING:
            store.conn.execute("UPDATE missing_persons SET status = 'found' WHERE id = ?", (missing_id,))
            store.set_resident_status(resident_id, "returned")
        detail = {"decision": decision, **({"forced": True} if force else {})}
        store.audit("review", subject=f"{resident_id}~{missing_id}", actor=by, detail=detail)
    return Decision(int(cur.lastrowid), resident_id, missing_id, decision, note, actor, at, None, force)


def undo_decision(store: Store, resident_id: int, missing_id: int, note: str | None, by: str | None) -> Decision:
    """Take back the pair's current decision with a `corrected` row; reopen what it alone closed. Returns the
    decision taken back."""
    with store.transaction():
        stacks = standing(all_decisions(store))
        stack = stacks.get((resident_id, missing_id)) or []
        if not stack:
            raise NotFoundError(
                _("{pair}: no decision in force to undo").format(pair=pair_label(store, resident_id, missing_id))
            )
        undone = stack[-1]
        store.conn.execute(
            "INSERT INTO decisions (resident_id, missing_id, decision, note, by, at, corrects)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (resident_id, missing_id, CORRECTED, note, by or current_actor(), now_iso(), undone.id),
        )
        stack.pop()
        if undone.decision in CLOSING and not (stack and stack[-1].decision in CLOSING):
            closing = _closing(stacks)
            if not any(pair[1] == missing_id for pair in closing):
                store.conn.execute(
                    "UPDATE missing_persons SET status = 'open' WHERE id = ? AND status = 'found'", (missing_id,)
                )
            if not any(pair[0] == resident_id for pair in closing):
                _back_in_care(store, resident_id)
        store.audit(
            "review",
            subject=f"{resident_id}~{missing_id}",
            actor=by,
            detail={"decision": CORRECTED, "corrects": undone.id, "undone": undone.decision},
        )
    return undone


def _back_in_care(store: Store, resident_id: int) -> None:
    """A resident returned by mistake is in care again, and off the returned-person registry."""
    row = store.conn.execute("SELECT status FROM residents WHERE id = ?", (resident_id,)).fetchone()
    if row is not None and row[0] == "returned":
        store.set_resident_status(resident_id, "in_care")
        store.conn.execute(
            "UPDATE missing_persons SET status = 'closed' WHERE from_resident_id = ? AND kind = 'returned'"
            " AND status = 'open'",
            (resident_id,),
        )


def history(store: Store, resident_id: int, missing_id: int | None = None) -> list[dict]:
    """A resident's decisions (or one pair's), oldest first, each saying whether it is still in force."""
    decisions = [d for d in all_decisions(store, [resident_id]) if missing_id is None or d.missing_id == missing_id]
    in_force = {d.id for stack in standing(decisions).values() for d in stack}
    out = []
    for d in decisions:
        m = store.conn.execute(
            "SELECT source, external_id FROM missing_persons WHERE id = ?", (d.missing_id,)
        ).fetchone()
        out.append(
            {
                "id": d.id,
                "missing": {"source": m[0], "id": m[1]},
                "decision": d.decision,
                "corrects": d.corrects,
                "in_force": d.decision == CORRECTED or d.id in in_force,  # a correction is never taken back
                "forced": d.forced,
                "note": d.note,
                "by": d.by,
                "at": d.at,
            }
        )
    return out

"""The comparison terms, one object each, in the order of the comparison vector.

A new term is one class (levels, m, u, compare, detail) added to TABLE_TERMS, plus its table test in
tests/test_terms.py; scoring, the pruned search and the explanations pick it up from here.
"""

from __future__ import annotations

from reunite.terms.base import NULL_LEVELS, Level, Term
from reunite.terms.demographic import Age, Height, Sex, Timeline
from reunite.terms.face import Face
from reunite.terms.features import Features
from reunite.terms.name import Name
from reunite.terms.place import Accent, Place

FACE = Face()
NAME = Name()
# compared on the missing side's columns alone, for every blocked candidate at once
TABLE_TERMS: tuple[Term, ...] = (Place(), Sex(), Age(), Height(), Timeline(), Features(), Accent())
SCORED_TERMS: tuple[Term, ...] = (NAME, *TABLE_TERMS)  # the terms weighed by a level's m and u
TERMS = (FACE.name, *(t.name for t in SCORED_TERMS))  # the comparison vector's order

__all__ = ["FACE", "NAME", "NULL_LEVELS", "SCORED_TERMS", "TABLE_TERMS", "TERMS", "Level", "Term"]

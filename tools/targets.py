"""What a chapter's ``target`` in ``book/chapters.yml`` means: the one definition that the benchmark
(bench/run.py: does a seed meet it?) and the status page (tools/pages.py: how is it worded?) share.

    0.80                   a decimal is a minimum: the headline must be at least 0.80
    40625                  an integer is an exact fact: the headline must equal it
    "46–96 (Mar 11–Apr 30)"  a range, both ends included; a note in parentheses may follow
    "1 ± 0.001"            a value and a tolerance, both ends included; a note may follow
    "all asserted"         the headline counts the checks the self-check asserted: a positive integer

Anything else is a mistake in book/chapters.yml and raises ValueError naming the chapter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUMBER = r"-?\d+(?:\.\d+)?"
_NOTE = r"(?:\s*\((?P<note>[^()]*)\))?\s*$"  # "(Mar 11–Apr 30)": words for the reader, no meaning
RANGE = re.compile(rf"^\s*(?P<low>{_NUMBER})\s*[–-]\s*(?P<high>{_NUMBER}){_NOTE}")
PLUS_MINUS = re.compile(rf"^\s*(?P<centre>{_NUMBER})\s*±\s*(?P<tol>\d+(?:\.\d+)?){_NOTE}")
ALL_ASSERTED = "all asserted"
FORMS = ('a decimal minimum (0.80), an exact integer (40625), a range "a–b", "x ± d" or "all asserted"')


@dataclass(frozen=True)
class Target:
    kind: str  # "minimum", "exact", "range", "tolerance" or "all asserted"
    low: float = -math.inf
    high: float = math.inf

    @property
    def is_fact(self) -> bool:
        """An exact fact or a count of asserted checks: no seed changes it, so a seed study says nothing."""
        return self.kind in ("exact", ALL_ASSERTED)

    def met_by(self, value: float | None) -> bool:
        """Whether a headline value meets the target; None (the run broke or reported nothing) never does."""
        if value is None:
            return False
        if self.kind == ALL_ASSERTED:  # the count of checks that passed in a run that finished
            return float(value).is_integer() and value >= 1
        return self.low <= value <= self.high


def parse(target: object, chapter: str) -> Target:
    """The meaning of ``target`` (chapter ``chapter``'s entry in book/chapters.yml)."""
    if isinstance(target, bool):  # YAML reads yes/no/true as booleans, which are ints in Python
        pass
    elif isinstance(target, int):
        return Target("exact", target, target)
    elif isinstance(target, float) and math.isfinite(target):
        return Target("minimum", low=target)
    elif isinstance(target, str):
        if target.strip() == ALL_ASSERTED:
            return Target(ALL_ASSERTED)
        if m := RANGE.match(target):
            low, high = float(m["low"]), float(m["high"])
            if low <= high:
                return Target("range", low, high)
        elif m := PLUS_MINUS.match(target):
            centre, tol = float(m["centre"]), float(m["tol"])
            return Target("tolerance", centre - tol, centre + tol)
    raise ValueError(f"chapter {chapter}: book/chapters.yml gives the target {target!r}, which means nothing "
                     f"to the benchmark; write {FORMS} (numbers unquoted)")


def meets(value: float | None, target: object, chapter: str) -> bool:
    """Whether ``value`` meets chapter ``chapter``'s ``target`` (see the module's docstring)."""
    return parse(target, chapter).met_by(value)

"""Exact fast path for the most common math answers: numbers and bracketed lists of numbers.

Most RL math answers are integers, fractions, decimals, or small intervals/sets/tuples of them. For those, a
LaTeX parse (antlr, 2-30 ms) is unnecessary: both sides are read with a small regular grammar and compared
exactly with `fractions.Fraction`. `fast_equivalent` returns None whenever either side falls outside the
grammar, or when a verdict could depend on math-verify's decimal rounding (unequal values involving a decimal),
so the full checker decides those. Semantics match rewards/math_answer.py: percent signs stripped, exact
comparison between exact values, sets unordered, intervals and tuples ordered with their brackets.
"""
from __future__ import annotations

import re
from fractions import Fraction

_NUM = r"-?(?:\d+(?:\.\d+)?|\.\d+|\\frac\{-?\d+\}\{-?\d+\}|\d+/\d+)"
_NUM_RE = re.compile(rf"^{_NUM}$")
_SEQ_RE = re.compile(rf"^([\[(]){_NUM}(?:,{_NUM})+([\])])$")
_SET_RE = re.compile(rf"^\\\{{{_NUM}(?:,{_NUM})*\\\}}$")
_STRIP_RE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\ |\s|\\%|%|^\$+|\$+$")
_MAX_DIGITS = 60  # longer numbers go to the full checker (and its guard rails)


def _clean(text: str) -> str:
    text = _STRIP_RE.sub("", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return text.rstrip(".")


def _value(tok: str) -> tuple[Fraction, bool] | None:
    """(exact value, is_decimal) of one number token."""
    neg = tok.startswith("-")
    body = tok[1:] if neg else tok
    if body.startswith("\\frac"):
        num, den = re.findall(r"\{(-?\d+)\}", body)
        val, dec = (Fraction(int(num), int(den)) if int(den) != 0 else None), False
    elif "/" in body:
        num, den = body.split("/")
        val, dec = (Fraction(int(num), int(den)) if int(den) != 0 else None), False
    else:
        val, dec = Fraction(body), "." in body
    if val is None:
        return None
    return (-val if neg else val), dec


def _split(inner: str) -> list[str]:
    return re.findall(_NUM, inner)


def _read(text: str) -> tuple[str, list[tuple[Fraction, bool]]] | None:
    """('num' | 'set' | '(]' style brackets, values) or None when outside the grammar."""
    t = _clean(text)
    if not t or len(t) > 400 or max((len(d) for d in re.findall(r"\d+", t)), default=0) > _MAX_DIGITS:
        return None
    if _NUM_RE.match(t):
        kind, toks = "num", [t]
    elif m := _SEQ_RE.match(t):
        kind, toks = m.group(1) + m.group(2), _split(t[1:-1])
    elif _SET_RE.match(t):
        kind, toks = "set", _split(t[2:-2])
    else:
        return None
    vals = [_value(tok) for tok in toks]
    if any(v is None for v in vals):
        return None
    return kind, vals  # type: ignore[return-value]


def fast_equivalent(pred: str, gold: str) -> bool | None:
    """True/False when both answers are in the simple grammar and the verdict is exact; None otherwise."""
    a, b = _read(pred), _read(gold)
    if a is None or b is None:
        return None
    seq_kinds = a[0] not in ("num", "set") and b[0] not in ("num", "set")
    for kind, vals in (a, b):  # a 2-element bracket may be an interval: leave empty/degenerate ones to sympy
        if kind not in ("num", "set") and len(vals) == 2 and vals[0][0] >= vals[1][0]:
            return None
    if seq_kinds and a[0] != b[0] and len(a[1]) == len(b[1]) == 2:
        return False  # intervals: open/closed ends differ ((1,2] vs [1,2)); the full checker agrees
    if a[0] != b[0] or (len(a[1]) != len(b[1]) and a[0] != "set"):
        return None
    if a[0] == "set":
        same = {v for v, _ in a[1]} == {v for v, _ in b[1]}
    else:
        same = all(x == y for (x, _), (y, _) in zip(a[1], b[1]))
    if same:
        return True
    involves_decimal = any(d for _, d in a[1] + b[1])
    return None if involves_decimal else False

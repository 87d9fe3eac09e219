"""Second readings of a math answer that the plain comparison (rewards/math_answer.py) misses: percentages and
complex numbers. Pure functions; rewards/math_answer.py tries them only after the plain comparison said "no".

Percentages (`percent_forms`). The plain comparison strips percent signs (`40\\%` == `40`). In a percent context,
`p\\%` also means p/100: the context is a percent sign in the answer or in the reference, or a prompt that asks
for a percentage (`asks_for_percent`: "what percent(age)", "as a percent(age)", "in percent", "to the nearest
percent"; merely mentioning "20%" or "40 percent of" does not count). Then the answer is also compared with its
percent sign read as /100 against the reference with its percent sign read as /100, a bare reference being read as
a percentage figure when the prompt asks for one. So for reference `40\\%`: `40\\%`, `40`, `0.4`, `2/5`,
`\\frac{2}{5}` match and `0.04`, `4\\%` do not; for reference `0.4` or `2/5`: `40\\%` matches; for reference `40`
and a prompt asking "what percent": `0.4` matches. Without a percent sign on either side and no percent prompt
there is no x100 rule: `40` != `0.4` (unlike graders that accept any x100 factor).

Complex numbers (`complex_equal`). math-verify reads `i` as a plain symbol, so `i^2` != `-1`. Here both sides
are also read with the symbol `i` as the imaginary unit when that makes each of them a number (no other
symbols; only +, -, x, /, powers, roots, exp, log, trig, |.|, factorials: no sums, limits or integrals) and one of
them mentions `i` or the root of a negative number. They match when the difference, split into real and
imaginary parts (`expand_complex`), simplifies to exactly 0: no floating-point tolerance, so 1/2004! i and
1/2006! i stay different (a numeric look at NUMERIC_DIGITS digits only rules out clearly different numbers before
`simplify`). `\\sqrt{-4}` == `2i`, `i^2` == `-1`, `e^{i\\pi}` == `-1`, `(1+i)^2` == `2i`, `\\frac{1}{i}` == `-i`;
`2i` != `2`, `i` != `1`. When the prompt uses `i` as an index (`a_i`, `\\sum_{i=1}`, `i = 1`, `i \\in`, `i \\le`,
`i-th`), `i` stays a symbol (`prompt_uses_index_i`). The prediction has already passed the guard rails
(rewards/math_guard.py), whose bounds on exponents, expansions and nesting hold here too, and the comparison runs
inside the answer's CPU budget (rewards/math_verifier.py); expressions over MAX_COMPLEX_OPS operations are not
tried.
"""
from __future__ import annotations

import cmath
import re
from dataclasses import dataclass
from typing import Any

import sympy

MAX_COMPLEX_OPS = 200  # sympy.count_ops of one side; bigger expressions keep the plain verdict
NUMERIC_DIGITS = 30  # precision of the numeric look that rules out clearly different numbers

_ASKS_PERCENT_RE = re.compile(
    r"\b(?:what|which)\s+(?:[a-z]+\s+){0,2}?per\s?cent(?:age)?s?\b"
    r"|\b(?:as|in|into)\s+(?:a\s+)?per\s?cent(?:age)?s?\b"
    r"|\bnearest\s+(?:[a-z]+\s+){0,3}?per\s?cent\b"
    r"|\bhow\s+many\s+per\s?cent\b",
    re.I,
)
_INDEX_I_RE = re.compile(
    r"_\s*\{?\s*i\s*[}+\-,]|_\s*i(?![A-Za-z])|\\(?:sum|prod)_\{?\s*i\s*="
    r"|(?<![A-Za-z\\])i\s*(?:=\s*[-\d]|\\in\b|\\le|\\ge|<|>)|\bi\s*-?\s*th\b|\bi\^\{?th\b"
)
_PERCENT_TAIL_RE = re.compile(r"^(?P<value>.*?)(?:\s|\\[,;:! ])*\\?%$", re.S)
_SEPARATOR_RE = re.compile(r"[,;=%]|\\(?:approx|cup|pm|mp|text|quad)(?![A-Za-z])|\b(?:or|and)\b")


@dataclass(frozen=True)
class PromptHints:
    """What the prompt says about the expected answer: asks_percent (it asks for a percentage), index_i (it uses
    `i` as an index, so `i` in an answer is not the imaginary unit)."""

    asks_percent: bool = False
    index_i: bool = False


def prompt_hints(prompt: str) -> PromptHints:
    return PromptHints(asks_for_percent(prompt), prompt_uses_index_i(prompt))


def asks_for_percent(prompt: str) -> bool:
    return bool(prompt) and _ASKS_PERCENT_RE.search(prompt) is not None


def prompt_uses_index_i(prompt: str) -> bool:
    return bool(prompt) and _INDEX_I_RE.search(prompt) is not None


# ------------------------------------------------------------------------------------------------- percentages


def _single_value(text: str) -> bool:
    """One value: no list separator, relation, text annotation or second percent sign."""
    return bool(text.strip()) and _SEPARATOR_RE.search(text) is None


def _over_100(text: str) -> str:
    return f"\\frac{{{text.strip()}}}{{100}}"


def _percent_value(text: str) -> str | None:
    """`p\\%` (one value with a trailing percent sign) as `\\frac{p}{100}`; None for anything else."""
    m = _PERCENT_TAIL_RE.match(text.strip())
    if m is None or not _single_value(m.group("value")):
        return None
    return _over_100(m.group("value"))


def percent_forms(pred: str, gold: str, asks_percent: bool) -> tuple[str, str] | None:
    """(pred, gold) with percent signs read as /100 (and a bare gold read as a percentage figure when the prompt
    asks for one), or None when there is no percent context or nothing to rewrite."""
    pred_value, gold_value = _percent_value(pred), _percent_value(gold)
    if gold_value is None and asks_percent and "%" not in gold and _single_value(gold):
        gold_value = _over_100(gold)
    if pred_value is None and gold_value is None:
        return None
    return pred_value or pred, gold_value or gold


# ---------------------------------------------------------------------------------------------- complex numbers

_FUNCTIONS = (sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.sec, sympy.csc, sympy.cot, sympy.sinh,
              sympy.cosh, sympy.tanh, sympy.Abs, sympy.conjugate, sympy.re, sympy.im, sympy.arg, sympy.factorial)


def _maybe_complex(expr: Any) -> bool:
    """Does `expr` mention the symbol `i`, the imaginary unit, or a root of a negative number?"""
    for node in sympy.preorder_traversal(expr):
        if (isinstance(node, sympy.Symbol) and node.name == "i") or node is sympy.I:
            return True
        if isinstance(node, sympy.Pow) and node.base.is_negative and not node.exp.is_integer:
            return True
    return False


def _as_number(expr: Any) -> Any:
    """`expr` rebuilt (so evaluated) with the symbol `i` as the imaginary unit, or None when it holds another
    symbol or anything but arithmetic and the functions in _FUNCTIONS."""
    if isinstance(expr, sympy.Symbol):
        return sympy.I if expr.name == "i" else None
    if expr.is_Atom:
        return expr if expr.is_number else None
    if not isinstance(expr, (sympy.Add, sympy.Mul, sympy.Pow) + _FUNCTIONS):
        return None
    args = [_as_number(arg) for arg in expr.args]
    return None if any(a is None for a in args) else expr.func(*args)


def complex_equal(pred_expr: Any, gold_expr: Any) -> bool:
    """Are the two parsed answers the same complex number (rules in the module docstring)? False when the rule
    does not apply."""
    if not isinstance(pred_expr, sympy.Expr) or not isinstance(gold_expr, sympy.Expr):
        return False
    if not (_maybe_complex(pred_expr) or _maybe_complex(gold_expr)):
        return False  # a real comparison: the plain verdict stands
    if max(sympy.count_ops(pred_expr), sympy.count_ops(gold_expr)) > MAX_COMPLEX_OPS:
        return False
    pred_value, gold_value = _as_number(pred_expr), _as_number(gold_expr)
    if pred_value is None or gold_value is None:
        return False
    diff = sympy.expand_complex(pred_value - gold_value)
    if diff == 0:
        return True
    if diff.is_Number or _clearly_nonzero(diff, pred_value, gold_value):
        return False
    return sympy.simplify(diff) == 0


def _approx(expr: Any) -> complex | None:
    try:
        value = complex(sympy.N(expr, NUMERIC_DIGITS))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    return value if cmath.isfinite(value) else None


def _clearly_nonzero(diff: Any, pred_value: Any, gold_value: Any) -> bool:
    """A numeric look before the exact one: `simplify` can take seconds on two clearly different numbers (sin(3+i)^20
    against i), so a difference far from 0 (relative 1e-9) is a mismatch at once. A difference near 0 is never
    called equal here: `simplify` decides it exactly (1/2004! i and 1/2006! i differ by about 1e-5700)."""
    values = [_approx(x) for x in (diff, pred_value, gold_value)]
    if any(v is None for v in values):
        return True  # not a finite number we can evaluate: keep the plain verdict
    d, a, b = values
    return abs(d) > 1e-9 * max(1.0, abs(a), abs(b))

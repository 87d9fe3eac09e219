"""Guard rails for math predictions: cheap structural bounds checked BEFORE sympy parses or expands anything.

A small scanner walks the LaTeX/plain answer (nothing is ever evaluated) and bounds, for every sub-expression,
log10 of its magnitude and its size once expanded: terms, total degree, and the generators it mentions (letters
and commands such as `x`, `i`, `\\pi`, `\\sqrt`). `guard(pred, max_chars)` returns the reason to refuse it:
- "too_long": more than `max_chars` characters, or brackets nested more than MAX_GROUP_NESTING deep.
- "power_tower": exponents nested more than MAX_POWER_NESTING levels, an exponent or factorial argument that may
  exceed MAX_EXPONENT, or a number (powers, factorials, binomials) that may exceed MAX_DIGITS digits.
- "expansion": an expression sympy would expand into more than MAX_EXPANDED_TERMS terms, a sum of several terms
  whose degree may exceed MAX_POLY_DEGREE, or an answer whose expansion generates more than MAX_EXPANSION_WORK
  terms before like terms are collected (a power of a t-term sum generates C(n + t - 1, t - 1) terms, a product
  of sums the product of their term counts), or a denominator (of \\frac, `/`, a negative power) that expands to
  more than MAX_DENOMINATOR_TERMS terms.
  Examples: (x+1)^{5000}, (x+y+z)^{100}, \\frac{x^{3000}-1}{x-1}, \\prod_{k=1}^{10000}(x+k). A monomial such as
  x^{10000} or \\frac{1}{x^{5000}} is cheap and passes.
Rules of the estimate: symbols count as 1; `a + b` as 2 max(a, b) with terms added; juxtaposition, `\\cdot` and
`/` multiply; `\\frac` multiplies magnitudes and keeps the larger of its parts' sizes; `a^n` with a numeric n
expands multinomially; a symbolic exponent keeps the power unexpanded; `n!` is n**n; a trig function is a
two-term sum of degree TRIG_DEGREE (simplify rewrites trig powers: \\sin(x)^{400} took 22 s against gold 2, and
\\sin(x)^{30} 8.7 s against gold \\cos(x)^{30}). Terms are also capped by the number of monomials of that degree in
those generators. The bounds are conservative: an exotic but legitimate
answer (say (1+\\sqrt{2})^{2024}) is refused and scores 0. Measured worst cases that pass are listed in
tests/unit/test_math_guard.py.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MAX_POWER_NESTING = 2  # a^{b^{c}} is allowed, a^{b^{c^{d}}} is refused
MAX_EXPONENT = 10_000  # also the largest factorial argument
MAX_DIGITS = 100_000  # largest number (in decimal digits) the guard lets through
MAX_GROUP_NESTING = 50
MAX_EXPANDED_TERMS = 200  # terms of any one expanded sub-expression
MAX_POLY_DEGREE = 100  # degree of a sub-expression with more than one term
MAX_EXPANSION_WORK = 1_000  # terms generated while expanding, summed over the whole answer
MAX_DENOMINATOR_TERMS = 30  # terms of an expanded denominator (rational functions cost far more to cancel)
TRIG_DEGREE = 5  # degree of one trig value: \sin(x)^{20} passes, \sin(x)^{21} is refused

_TOKEN_RE = re.compile(r"\\[A-Za-z]+|\\.|\*\*|\d+(?:\.\d*)?|\.\d+|\s+|.", re.S)
_NEUTRAL = {"\\left", "\\right", "\\big", "\\Big", "\\bigg", "\\Bigg", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr",
            "\\displaystyle"}
_OPENERS = {"{", "(", "[", "\\{", "\\lbrace"}
_CLOSERS = {"}", ")", "]", "\\}", "\\rbrace"}
_MUL_OPS = {"*", "/", "\\cdot", "\\times", "\\div"}
_ADD_OPS = {"+", "-", "\\pm", "\\mp"}
_FRACS = {"\\frac", "\\dfrac", "\\tfrac", "\\cfrac"}
_BINOMS = {"\\binom", "\\dbinom", "\\tbinom"}
_TRIG = {"\\sin", "\\cos", "\\tan", "\\sec", "\\csc", "\\cot", "\\sinh", "\\cosh", "\\tanh", "\\sech", "\\csch",
         "\\coth"}
_RELATIONS = {"\\le", "\\leq", "\\ge", "\\geq", "\\ne", "\\neq", "\\in", "\\approx", "\\to", "\\cup", "\\cap",
              "\\setminus", "\\lt", "\\gt", "\\quad", "\\qquad"}
_LOG2 = math.log10(2)
_SLACK = 1e-6  # the estimates go through floats: C(30, 1) may come out as 30.0000000005
_HUGE = 1e300


class Refused(Exception):
    """The prediction is too big, too deep or would expand too far to hand to sympy."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.reason = reason


@dataclass(frozen=True)
class Size:
    """Upper bounds for one sub-expression: log10 of its magnitude, its terms once expanded, its total degree in
    `gens` (the letters/commands it mentions). A number is Size(log) with one term and degree 0."""

    log: float = 0.0
    terms: float = 1.0
    degree: float = 0.0
    gens: frozenset[str] = frozenset()


def _log_comb(n: float, k: float) -> float:
    """Natural log of C(n, k) for real n >= k >= 0."""
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _capped_terms(terms: float, degree: float, gens: frozenset[str]) -> float:
    """`terms`, capped by the number of monomials of total degree <= `degree` in len(gens) variables."""
    if not gens or degree <= 0:
        return 1.0
    return min(terms, math.exp(min(_log_comb(degree + len(gens), len(gens)), 690.0)))


def _add(a: Size, b: Size) -> Size:
    gens, degree = a.gens | b.gens, max(a.degree, b.degree)
    return Size(max(a.log, b.log) + _LOG2, _capped_terms(a.terms + b.terms, degree, gens), degree, gens)


def _mul(a: Size, b: Size) -> Size:
    gens, degree = a.gens | b.gens, a.degree + b.degree
    return Size(a.log + b.log, _capped_terms(a.terms * b.terms, degree, gens), degree, gens)


def _binom_log(n: Size, k: Size) -> float:
    """log10 bound of C(n, k): min(n log10 2, k log10 n)."""
    if n.log > 300:
        return _HUGE if k.log > 0 else n.log
    n_val, k_val = 10**n.log, 10 ** min(k.log, 300.0)
    return min(n_val * _LOG2, k_val * n.log)


class _Scanner:
    """Recursive descent over the answer's tokens; every method returns the Size of what it consumed and raises
    Refused when a limit in the module docstring would be crossed."""

    def __init__(self, text: str) -> None:
        self.toks = [t for t in _TOKEN_RE.findall(text) if not t.isspace() and t not in _NEUTRAL]
        self.i = 0
        self.groups = 0
        self.work = 0.0  # expanded terms so far, over the whole answer

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def starts_factor(self, tok: str | None) -> bool:
        if tok is None or tok in _CLOSERS or tok in _RELATIONS:
            return False
        return tok in _OPENERS or tok[0].isalnum() or tok[0] == "." or (tok[0] == "\\" and tok[1:2].isalpha())

    def check(self, size: Size, work: float = 0.0) -> Size:
        """Refuse `size` if it breaks a limit; `work`: terms sympy generates to build it by expansion (before
        collecting like terms), added to the answer's total."""
        if size.log > MAX_DIGITS:
            raise Refused("power_tower", f"a number may exceed {MAX_DIGITS} digits")
        if size.terms > MAX_EXPANDED_TERMS + _SLACK:
            raise Refused("expansion", f"an expansion may exceed {MAX_EXPANDED_TERMS} terms")
        if size.terms > 1.5 and size.degree > MAX_POLY_DEGREE + _SLACK:
            raise Refused("expansion", f"a sum of terms may reach degree {size.degree:.0f} > {MAX_POLY_DEGREE}")
        self.work += work
        if self.work > MAX_EXPANSION_WORK + _SLACK:
            raise Refused("expansion", f"expanding may generate more than {MAX_EXPANSION_WORK} terms")
        return size

    def seq(self, depth: int, in_group: bool) -> Size:
        """Comma/relation separated expressions up to a closer (in a group) or the end."""
        total: Size | None = None
        while (tok := self.peek()) is not None:
            if in_group and tok in _CLOSERS:
                break
            if self.starts_factor(tok) or tok in _ADD_OPS:
                item = self.expr(depth)
                total = item if total is None else self.check(_add(total, item))
            else:
                self.i += 1  # separator such as , = < | &
        return total or Size()

    def expr(self, depth: int) -> Size:
        total = self.term(depth)
        while self.peek() in _ADD_OPS:
            self.i += 1
            total = self.check(_add(total, self.term(depth)))
        return total

    def term(self, depth: int) -> Size:
        while self.peek() in _ADD_OPS:  # unary sign
            self.i += 1
        total = self.factor(depth) if self.starts_factor(self.peek()) else Size()
        divide = False
        while True:
            tok = self.peek()
            if tok in _MUL_OPS:
                self.i += 1
                divide = tok in ("/", "\\div")
                continue
            if not self.starts_factor(tok):
                return total
            nxt = self.denominator(self.factor(depth)) if divide else self.factor(depth)
            divide = False
            work = total.terms * nxt.terms if total.terms > 1.5 and nxt.terms > 1.5 else 0.0
            total = self.check(_mul(total, nxt), work)

    def factor(self, depth: int) -> Size:
        value = self.atom(depth)
        while (tok := self.peek()) is not None:
            if tok in ("^", "**"):
                if depth + 1 > MAX_POWER_NESTING:
                    raise Refused("power_tower", f"exponents nested more than {MAX_POWER_NESTING} levels")
                self.i += 1
                negative = self.toks[self.i : self.i + 2] == ["{", "-"]
                exp = self.factor(depth + 1) if self.starts_factor(self.peek()) else Size()
                value = self.denominator(self.power(value, exp)) if negative else self.power(value, exp)
            elif tok == "!":
                self.i += 1
                value = self.factorial(value)
            elif tok == "_":  # subscript: an index, not a value
                self.i += 1
                if self.starts_factor(self.peek()):
                    self.atom(depth)
            elif tok == "'":
                self.i += 1
            else:
                break
        return value

    def denominator(self, size: Size) -> Size:
        if size.terms > MAX_DENOMINATOR_TERMS + _SLACK:
            raise Refused("expansion", f"a denominator may expand to more than {MAX_DENOMINATOR_TERMS} terms")
        return size

    def power(self, base: Size, exp: Size) -> Size:
        if exp.log > math.log10(MAX_EXPONENT):
            raise Refused("power_tower", f"an exponent may exceed {MAX_EXPONENT}")
        log = max(base.log, _LOG2) * 10**exp.log
        if exp.gens:  # a symbolic exponent: sympy keeps the power as it is
            return self.check(Size(log, 1.0, 1.0, base.gens | exp.gens))
        n = round(10**exp.log, 6)  # {200} is exactly 200, not 200.00000000000003
        if base.terms <= 1.5:
            return self.check(Size(log, 1.0, base.degree * n, base.gens))
        generated = math.exp(min(_log_comb(n + base.terms - 1, base.terms - 1), 690.0))  # multinomial terms
        terms = _capped_terms(generated, base.degree * n, base.gens)
        return self.check(Size(log, terms, base.degree * n, base.gens), work=generated)

    def factorial(self, value: Size) -> Size:
        if value.gens:  # a symbolic factorial stays a gamma function
            return Size(0.0, 1.0, 1.0, value.gens)
        if value.log > math.log10(MAX_EXPONENT):
            raise Refused("power_tower", f"a factorial argument may exceed {MAX_EXPONENT}")
        n = 10**value.log
        return self.check(Size(n * math.log10(max(n, 2))))

    def atom(self, depth: int) -> Size:
        tok = self.toks[self.i]
        self.i += 1
        if tok[0].isdigit() or tok[0] == ".":
            digits = tok.split(".")[0].lstrip("0")
            return Size(math.log10(int(digits)) if 0 < len(digits) <= 15 else float(len(digits)))
        if tok in _OPENERS:
            self.groups += 1
            if self.groups > MAX_GROUP_NESTING:
                raise Refused("too_long", f"brackets nested more than {MAX_GROUP_NESTING} deep")
            value = self.seq(depth, in_group=True)
            self.groups -= 1
            if self.peek() in _CLOSERS:
                self.i += 1
            return value
        if tok in _TRIG:
            return self.trig(tok, depth)
        if tok in _FRACS or tok in _BINOMS:
            first = self.atom(depth) if self.starts_factor(self.peek()) else Size()
            second = self.atom(depth) if self.starts_factor(self.peek()) else Size()
            return self.two_args(tok, first, second)
        return Size(0.0, 1.0, 1.0, frozenset({tok}))  # a symbol or a command such as \pi, \sqrt, \text, \circ

    def trig(self, tok: str, depth: int) -> Size:
        """`\\sin x`, `\\sin(x)^{n}`, `\\sin^{n} x`: simplify rewrites trig powers (sin^2 = 1 - cos^2, ...), so a trig
        value counts as a two-term sum of degree TRIG_DEGREE and its powers as expansions."""
        exp = None
        if self.peek() in ("^", "**"):
            if depth + 1 > MAX_POWER_NESTING:
                raise Refused("power_tower", f"exponents nested more than {MAX_POWER_NESTING} levels")
            self.i += 1
            exp = self.factor(depth + 1) if self.starts_factor(self.peek()) else Size()
        arg = self.atom(depth) if self.starts_factor(self.peek()) else Size()
        value = Size(0.0, 2.0, TRIG_DEGREE, arg.gens | {tok})
        return value if exp is None else self.power(value, exp)

    def two_args(self, tok: str, first: Size, second: Size) -> Size:
        gens = first.gens | second.gens
        if tok in _BINOMS:
            if gens:
                return Size(0.0, 1.0, 1.0, gens)
            return self.check(Size(_binom_log(first, second)))
        self.denominator(second)
        terms = _capped_terms(max(first.terms, second.terms), max(first.degree, second.degree), gens)
        return self.check(Size(first.log + second.log, terms, max(first.degree, second.degree), gens))


def guard(pred: str, max_chars: int) -> str | None:
    """Reason to refuse `pred` before parsing ("too_long" | "power_tower" | "expansion"), or None if safe."""
    if len(pred) > max_chars:
        return "too_long"
    try:
        _Scanner(pred).seq(0, in_group=False)
    except Refused as err:
        logger.debug("refused answer (%s): %s", err.reason, err)
        return err.reason
    except RecursionError:  # commands nested hundreds deep (\sin\sin..., \frac\frac...) with a large max_chars
        return "too_long"
    return None

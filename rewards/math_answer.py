"""Final-answer extraction and equivalence for math rewards, built on math-verify 0.9.0.

Pure functions, no Verifier class (see rewards/math_verifier.py):
- `extract_boxed(text)`: content of the last top-level `\\boxed{...}` / `\\fbox{...}` / `\\boxed 5`.
- `answers_equivalent(pred, gold)`: is the extracted prediction equal to the gold answer (or any of a list)?
- `check_answer(response, gold)`: both, plus details {"extracted", "reason"} for logging.

Rules (see /work/shared/notes/verifiers.md for why):
- The prediction is parsed strictly (LaTeX only, boxed first, no anchor-less extraction, no malformed-operator or
  nit fixes), so hedged answers such as "2 or 3" do not match gold "2". Gold is parsed with the defaults.
- Percent signs are stripped from both sides with no x100 rule: "50\\%" == "50" but "50\\%" != "0.5". Units in
  `\\text{5 cm}` and `°` are normalised to forms math-verify already drops.
- When both sides are exact rationals (integers, fractions, integer powers, factorials of small integers) they are
  compared exactly, because math-verify's evalf path calls 1/2004! and 1/2006! equal.
- Guard rails run on the prediction string BEFORE sympy sees it: more than `max_chars` characters ("too_long", also
  used for absurd bracket nesting), and growth bombs ("power_tower"): exponents nested more than 2 levels, an
  exponent or factorial argument that may exceed 10_000, or a number that may exceed 100_000 digits. The bounds are
  conservative estimates from a small scanner; nothing from the model is ever `eval`-ed.

Timeouts: math-verify's own timeouts use `signal.alarm`, which only works on the main thread and does not stop
C-level work, so they are disabled here (`parsing_timeout=None`, `timeout_seconds=None`). The caller must run
these functions in a worker process whose parent enforces a wall-clock deadline. The guard rails above only make
the known bombs cheap to reject; they are not a substitute for that deadline.
"""
from __future__ import annotations

import logging
import math
import re
from fractions import Fraction
from typing import Any, Sequence

import sympy
from latex2sympy2_extended.latex2sympy2 import NormalizationConfig
from math_verify import LatexExtractionConfig, parse, verify

from rewards.math_fastpath import fast_equivalent

logger = logging.getLogger(__name__)
# math-verify warns once per process that its (signal-based) timeouts are off; that is deliberate here (see above).
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).setLevel(logging.ERROR)

DEFAULT_MAX_CHARS = 1000
MAX_POWER_NESTING = 2  # a^{b^{c}} is allowed, a^{b^{c^{d}}} is refused
MAX_EXPONENT = 10_000  # also the largest factorial argument
MAX_DIGITS = 100_000  # largest number (in decimal digits) the guard lets through
MAX_GROUP_NESTING = 50
_MAX_EXACT_BITS = 400_000

PRED_EXTRACTION = [
    LatexExtractionConfig(
        boxed_match_priority=0,
        try_extract_without_anchor=False,
        normalization_config=NormalizationConfig(
            basic_latex=True, units=True, malformed_operators=False, nits=False, boxed="all", equations=False
        ),
    )
]

# --------------------------------------------------------------------------------------------- extraction

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_TOKEN_RE = re.compile(r"[^\s$]+")


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the `}` matching the `{` at `start`; escaped braces (`\\{`) do not count."""
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def extract_boxed(text: str) -> str | None:
    """Content of the last top-level `\\boxed{...}`, `\\fbox{...}` or `\\boxed <token>`; None if there is none
    or the last one is never closed (a truncated response)."""
    last: str | None = None
    pos = 0
    while (m := _BOX_RE.search(text, pos)) is not None:
        j = m.end()
        while j < len(text) and text[j].isspace():
            j += 1
        if j < len(text) and text[j] == "{":
            end = _balanced_end(text, j)
            if end is None:
                return None
            last, pos = text[j + 1 : end - 1].strip(), end
            continue
        tok = _TOKEN_RE.match(text, j)
        if tok is None:
            pos = j
            continue
        last, pos = tok.group(0).rstrip(".,;:"), tok.end()
    return last


# ---------------------------------------------------------------------------------------------- guard rails


class _Refused(Exception):
    """The prediction is too big or too deep to hand to sympy."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.reason = reason


_GUARD_TOKEN_RE = re.compile(r"\\[A-Za-z]+|\\.|\*\*|\d+(?:\.\d*)?|\.\d+|\s+|.", re.S)
_OPENERS = {"{", "(", "[", "\\{", "\\lbrace"}
_CLOSERS = {"}", ")", "]", "\\}", "\\rbrace"}
_MUL_OPS = {"*", "/", "\\cdot", "\\times", "\\div"}
_ADD_OPS = {"+", "-", "\\pm", "\\mp"}
_TWO_ARG = {"\\frac", "\\dfrac", "\\tfrac", "\\cfrac", "\\binom", "\\dbinom", "\\tbinom"}
_RELATIONS = {"\\le", "\\leq", "\\ge", "\\geq", "\\ne", "\\neq", "\\in", "\\approx", "\\to", "\\cup", "\\cap",
              "\\setminus", "\\lt", "\\gt", "\\quad", "\\qquad"}
_LOG2 = math.log10(2)


class _MagnitudeScanner:
    """Upper-bounds log10|value| of every number-like piece of a LaTeX/plain answer without evaluating it.

    Symbols count as 1, `a + b` as 2 max(a, b), juxtaposition / `\\cdot` / `/` / `\\frac` as a product, `a^e` as
    a**e, `n!` as n**n. Raises _Refused when a limit in the module docstring would be crossed.
    """

    def __init__(self, text: str) -> None:
        self.toks = [t for t in _GUARD_TOKEN_RE.findall(text) if not t.isspace()]
        self.i = 0
        self.groups = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def starts_factor(self, tok: str | None) -> bool:
        if tok is None or tok in _CLOSERS or tok in _RELATIONS:
            return False
        return tok in _OPENERS or tok[0].isalnum() or tok[0] == "." or (tok[0] == "\\" and tok[1:2].isalpha())

    def seq(self, depth: int, in_group: bool) -> float:
        """Comma/relation separated expressions up to a closer (in a group) or the end."""
        best = 0.0
        while (tok := self.peek()) is not None:
            if in_group and tok in _CLOSERS:
                break
            if self.starts_factor(tok) or tok in _ADD_OPS:
                best = max(best, self.expr(depth))
            else:
                self.i += 1  # separator such as , = < | &
        return best

    def expr(self, depth: int) -> float:
        total = self.term(depth)
        while self.peek() in _ADD_OPS:
            self.i += 1
            total = max(total, self.term(depth)) + _LOG2
        return total

    def term(self, depth: int) -> float:
        while self.peek() in _ADD_OPS:  # unary sign
            self.i += 1
        total = self.factor(depth) if self.starts_factor(self.peek()) else 0.0
        while True:
            tok = self.peek()
            if tok in _MUL_OPS:
                self.i += 1
                continue
            if not self.starts_factor(tok):
                return total
            total += self.factor(depth)
            self.check_digits(total)

    def factor(self, depth: int) -> float:
        value = self.atom(depth)
        while (tok := self.peek()) is not None:
            if tok in ("^", "**"):
                if depth + 1 > MAX_POWER_NESTING:
                    raise _Refused("power_tower", f"exponents nested more than {MAX_POWER_NESTING} levels")
                self.i += 1
                exp_log = self.factor(depth + 1) if self.starts_factor(self.peek()) else 0.0
                if exp_log > math.log10(MAX_EXPONENT):
                    raise _Refused("power_tower", f"an exponent may exceed {MAX_EXPONENT}")
                value = max(value, _LOG2) * 10**exp_log
                self.check_digits(value)
            elif tok == "!":
                self.i += 1
                if value > math.log10(MAX_EXPONENT):
                    raise _Refused("power_tower", f"a factorial argument may exceed {MAX_EXPONENT}")
                n = 10**value
                value = n * math.log10(max(n, 2))
                self.check_digits(value)
            elif tok == "_":  # subscript: an index, not a value
                self.i += 1
                if self.starts_factor(self.peek()):
                    self.atom(depth)
            elif tok == "'":
                self.i += 1
            else:
                break
        return value

    def atom(self, depth: int) -> float:
        tok = self.toks[self.i]
        self.i += 1
        if tok[0].isdigit() or tok[0] == ".":
            digits = tok.split(".")[0].lstrip("0")
            return math.log10(int(digits)) if 0 < len(digits) <= 15 else float(len(digits))
        if tok in _OPENERS:
            self.groups += 1
            if self.groups > MAX_GROUP_NESTING:
                raise _Refused("too_long", f"brackets nested more than {MAX_GROUP_NESTING} deep")
            value = self.seq(depth, in_group=True)
            self.groups -= 1
            if self.peek() in _CLOSERS:
                self.i += 1
            return value
        if tok in _TWO_ARG:
            first = self.atom(depth) if self.starts_factor(self.peek()) else 0.0
            second = self.atom(depth) if self.starts_factor(self.peek()) else 0.0
            return first + second
        return 0.0  # a symbol or a command such as \pi, \sqrt, \text, \circ

    @staticmethod
    def check_digits(log_value: float) -> None:
        if log_value > MAX_DIGITS:
            raise _Refused("power_tower", f"a number may exceed {MAX_DIGITS} digits")


def _guard(pred: str, max_chars: int) -> str | None:
    """Reason to refuse `pred` before parsing ("too_long" | "power_tower"), or None if it is safe to parse."""
    if len(pred) > max_chars:
        return "too_long"
    try:
        _MagnitudeScanner(pred).seq(0, in_group=False)
    except _Refused as err:
        logger.debug("refused answer (%s): %s", err.reason, err)
        return err.reason
    return None


# ----------------------------------------------------------------------------------------------- equivalence

_PERCENT_RE = re.compile(r"\\?%")
_TEXT_NUMBER_RE = re.compile(r"\\(?:text|textrm|textnormal|mbox|mathrm)\s*\{\s*([-+]?\d[\d.,]*)\s*([^{}]*)\}")


def _normalize(answer: str) -> str:
    """Strip percent signs, turn `°` into `^{\\circ}` and `\\text{5 cm}` into `5\\text{ cm}`."""
    answer = _PERCENT_RE.sub("", answer).replace("°", "^{\\circ}")
    return _TEXT_NUMBER_RE.sub(lambda m: m.group(1) + (f"\\text{{ {m.group(2)}}}" if m.group(2) else ""), answer)


def _exact_rational(expr: Any) -> Fraction | None:
    """The exact value of an integer/rational arithmetic expression, or None (floats, symbols, big numbers)."""
    if isinstance(expr, sympy.Rational):  # Integer is a subclass
        return Fraction(int(expr.p), int(expr.q))
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        acc = Fraction(0 if isinstance(expr, sympy.Add) else 1)
        for arg in expr.args:
            val = _exact_rational(arg)
            if val is None:
                return None
            acc = acc + val if isinstance(expr, sympy.Add) else acc * val
            if max(acc.numerator.bit_length(), acc.denominator.bit_length()) > _MAX_EXACT_BITS:
                return None
        return acc
    if isinstance(expr, sympy.Pow):
        base, exp = _exact_rational(expr.base), _exact_rational(expr.exp)
        if base is None or exp is None or exp.denominator != 1 or abs(exp) > MAX_EXPONENT or (base == 0 and exp < 0):
            return None
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits * abs(int(exp)) > _MAX_EXACT_BITS:
            return None
        return base ** int(exp)
    if isinstance(expr, sympy.factorial) and isinstance(expr.args[0], sympy.Integer):
        n = int(expr.args[0])
        return Fraction(math.factorial(n)) if 0 <= n <= MAX_EXPONENT else None
    return None


def _first_expr(parsed: Sequence[Any]) -> Any:
    """The sympy object math-verify extracted (it appends the raw string as a fallback)."""
    return next((p for p in parsed if isinstance(p, (sympy.Basic, sympy.MatrixBase))), None)


def _parse_gold(gold: str) -> list[Any]:
    text = _normalize(str(gold)).strip()
    if "$" not in text and "\\boxed" not in text:
        text = f"${text}$"
    parsed = parse(text, parsing_timeout=None)
    if not parsed:
        raise ValueError(f"gold answer {gold!r} could not be parsed; fix the dataset's reference column")
    return parsed


def _judge(pred: str, gold: str | Sequence[str], max_chars: int) -> str:
    """"too_long" | "power_tower" | "mismatch" | "match" for an extracted prediction against gold answer(s)."""
    refusal = _guard(pred, max_chars)
    if refusal is not None:
        return refusal
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds:
        raise ValueError("empty list of gold answers; give at least one reference answer")
    fast = [fast_equivalent(pred, str(g)) for g in golds]
    if any(f is True for f in fast):
        return "match"
    if all(f is False for f in fast):
        return "mismatch"
    pred_parsed = parse(f"\\boxed{{{_normalize(pred)}}}", extraction_config=PRED_EXTRACTION, parsing_timeout=None)
    if not pred_parsed:
        return "mismatch"
    pred_exact = _exact_rational(_first_expr(pred_parsed))
    for one_gold in golds:
        gold_parsed = _parse_gold(one_gold)
        gold_exact = _exact_rational(_first_expr(gold_parsed))
        if pred_exact is not None and gold_exact is not None:
            same = pred_exact == gold_exact
        else:
            same = verify(gold_parsed, pred_parsed, timeout_seconds=None)
        if same:
            return "match"
    return "mismatch"


def answers_equivalent(pred: str, gold: str | Sequence[str], *, max_chars: int = DEFAULT_MAX_CHARS) -> bool:
    """True if the extracted answer `pred` equals `gold` (or any item of a list of golds).

    Returns False without calling sympy for answers refused by the guard rails (logged at debug level; use
    `check_answer` to get the reason). Raises ValueError if a gold answer cannot be parsed.
    """
    return _judge(pred, gold, max_chars) == "match"


def check_answer(
    response: str, gold: str | Sequence[str], *, max_chars: int = DEFAULT_MAX_CHARS
) -> tuple[bool, dict[str, Any]]:
    """(correct, {"extracted": str | None, "reason": "no_boxed"|"too_long"|"power_tower"|"mismatch"|"match"})
    for a full policy response."""
    extracted = extract_boxed(response)
    if extracted is None:
        return False, {"extracted": None, "reason": "no_boxed"}
    reason = _judge(extracted, gold, max_chars)
    shown = extracted if len(extracted) <= max_chars else extracted[:max_chars] + "..."
    return reason == "match", {"extracted": shown, "reason": reason}

"""Final-answer extraction and equivalence for math rewards, built on math-verify 0.9.0.

Pure functions, no Verifier class (see rewards/math_verifier.py):
- `extract_boxed(text)`: content of the last top-level `\\boxed{...}` / `\\fbox{...}` / `\\boxed 5`.
- `answers_equivalent(pred, gold)`: is the extracted prediction equal to the gold answer (or any of a list)?
- `check_answer(response, gold)`: both, plus details {"extracted", "reason"} for logging.

Rules (see /work/shared/notes/verifiers.md for why):
- The prediction is parsed strictly (LaTeX only, boxed first, no anchor-less extraction, no malformed-operator or
  nit fixes), so hedged answers such as "2 or 3" do not match gold "2". Gold is parsed with the defaults.
- Percent signs are stripped from both sides ("50\\%" == "50"). In a percent context (a percent sign on either
  side, or a prompt that asks for a percentage) `p\\%` also reads as p/100: "40\\%" == "0.4" == "2/5" both ways,
  "40\\%" != "0.04", and with no percent sign and no percent prompt "40" != "0.4" (rewards/math_readings.py).
  Units in `\\text{5 cm}` and `°` are normalised to forms math-verify already drops.
- Complex numbers: when the plain comparison fails, both sides are also read with `i` as the imaginary unit when
  that makes them numbers: "\\sqrt{-4}" == "2i", "i^2" == "-1", "e^{i\\pi}" == "-1", "2i" != "2", exactly (no
  tolerance), unless the prompt uses `i` as an index (rewards/math_readings.py).
- When both sides are exact rationals (integers, fractions, integer powers, factorials of small integers) they are
  compared exactly, because math-verify's evalf path calls 1/2004! and 1/2006! equal.
- Guard rails (rewards/math_guard.py) run on the prediction string BEFORE sympy sees it: "too_long",
  "power_tower" (towers, huge exponents, factorials, numbers) and "expansion" (polynomial blow-up such as
  (x+1)^{5000}). Nothing from the model is ever `eval`-ed.
- Hedged answers score 0 with reason "hedged". Text (`\\text`, `\\mathrm`, `\\mbox`, ... groups) may only
  annotate ONE answer: a text group is a hedge when it holds a hedge word (or, either, maybe, possibly, perhaps,
  probably, likely, not, unsure, guess, wrong, incorrect, alternatively, otherwise, else, and) that no gold answer
  uses, or a digit other than a leading number and `^2`/`_2` style indices ("\\text{2 or 3}", "2\\text{, or
  possibly 3}", "\\text{2 is wrong; the answer is 5}"), unless the same text appears in a gold answer. So
  "\\text{2 apples}", "2 \\text{ cm}", "5\\,\\mathrm{m}^2" still match gold 2/5, while "2 \\text{ (multiplicity 2)}"
  does not: a box holds the answer, not commentary with numbers. When a gold answer holds several values (a comma
  or semicolon, \\cup, \\pm, "or"/"and"), listing values is the answer: "or", "either", "and" and digits in text
  are allowed ("x = -1 \\text{ or } x = 3" vs gold "-1, 3") and math-verify compares the collections.
- Chains `a = b = c` / `a \\approx b` (when no gold answer is itself an equation, an approximation or a
  collection, and there is no top-level comma or semicolon): every member must equal the gold, except a leading
  label without digits outside its subscripts/arguments (`x`, `f(2)`, `a_{10}`, `AB`, `(x, y)`) and a decimal
  after `\\approx` that is the gold value rounded or truncated to that decimal's digits (`\\pi \\approx 3.14`,
  not `\\sqrt{2} \\approx 1.5`). So "x = 2" and "x = \\frac{4}{2} = 2" match gold 2, "2 \\approx 3 \\approx 4"
  and "3 = 2" do not ("hedged" when some members match, "mismatch" when none does).

Timeouts: math-verify's own timeouts (wall-clock `signal.alarm`, main thread only, and a timeout reads as "not
equal") are disabled here (`parsing_timeout=None`, `timeout_seconds=None`). The guard rails make known blow-ups
cheap wrong answers; rewards/math_verifier.py gives each answer a CPU-time budget (past it: score 0, "too_slow");
the reward process pool's wall-clock deadline is the infrastructure's last resort (status timeout, masked). Call
these functions in such a worker process.
"""
from __future__ import annotations

import functools
import logging
import math
import re
from fractions import Fraction
from typing import Any, Sequence

import sympy
from latex2sympy2_extended.latex2sympy2 import NormalizationConfig
from math_verify import LatexExtractionConfig, parse, verify

from rewards.math_fastpath import fast_equivalent
from rewards.math_guard import MAX_EXPONENT, guard
from rewards.math_readings import PromptHints, complex_equal, percent_forms, prompt_hints

logger = logging.getLogger(__name__)
# math-verify warns once per process that its (signal-based) timeouts are off; that is deliberate here (see above).
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).setLevel(logging.ERROR)

DEFAULT_MAX_CHARS = 1000
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


@functools.lru_cache(maxsize=1024)
def _parse_gold_cached(gold: str) -> tuple[Any, ...]:
    text = _normalize(gold).strip()
    if "$" not in text and "\\boxed" not in text:
        text = f"${text}$"
    parsed = parse(text, parsing_timeout=None)
    if not parsed:
        raise ValueError(f"gold answer {gold!r} could not be parsed; fix the dataset's reference column")
    return tuple(parsed)


def _parse_gold(gold: str) -> list[Any]:
    """math-verify's parse of a gold answer (cached: a prompt's samples share their reference)."""
    return list(_parse_gold_cached(str(gold)))


def parse_golds(golds: Sequence[str]) -> None:
    """Parse (and cache) every gold answer now; raises ValueError naming an unparseable one."""
    for gold in golds:
        _parse_gold(gold)


def _same_value(pred: str, golds: Sequence[str], complex_i: bool) -> bool:
    """Is `pred` (already through the guard rails) equal to any gold? Fast path, exact rationals, math-verify, and
    (when `complex_i`) the complex-number reading."""
    fast = [fast_equivalent(pred, str(g)) for g in golds]
    if any(f is True for f in fast):
        return True
    if all(f is False for f in fast):
        return False
    pred_parsed = parse(f"\\boxed{{{_normalize(pred)}}}", extraction_config=PRED_EXTRACTION, parsing_timeout=None)
    if not pred_parsed:
        return False
    pred_expr = _first_expr(pred_parsed)
    pred_exact = _exact_rational(pred_expr)
    for one_gold in golds:
        gold_parsed = _parse_gold(one_gold)
        gold_expr = _first_expr(gold_parsed)
        gold_exact = _exact_rational(gold_expr)
        if pred_exact is not None and gold_exact is not None:
            same = pred_exact == gold_exact
        else:
            same = verify(gold_parsed, pred_parsed, timeout_seconds=None)
            same = same or (complex_i and complex_equal(pred_expr, gold_expr))
        if same:
            return True
    return False


def _matches(pred: str, golds: Sequence[str], hints: PromptHints = PromptHints()) -> bool:
    """`_same_value`, then the percent reading of each (pred, gold) pair (rewards/math_readings.py)."""
    if _same_value(pred, golds, not hints.index_i):
        return True
    for gold in golds:
        forms = percent_forms(pred, str(gold), hints.asks_percent)
        if forms is None:
            continue
        try:
            if _same_value(forms[0], [forms[1]], not hints.index_i):
                return True
        except ValueError:  # the gold read as a percentage did not parse: only the plain reading counts
            continue
    return False


# ---------------------------------------------------------------------------------------------------- hedging

_TEXT_CMD_RE = re.compile(r"\\(?:text(?:rm|normal|bf|it|sf|tt|up)?|[mh]box|math(?:rm|bf|it|sf|tt)|operatorname)\s*\{")
HEDGE_WORDS = frozenset({"or", "either", "maybe", "possibly", "perhaps", "probably", "likely", "not", "unsure",
                         "guess", "wrong", "incorrect", "alternatively", "otherwise", "else", "and"})
LIST_WORDS = frozenset({"or", "either", "and"})  # fine when the gold itself has several values
_MULTI_RE = re.compile(r"(?<!\\)[,;]|\\(?:cup|pm|mp)(?![A-Za-z])|\b(?:or|and)\b")
_LEADING_NUMBER_RE = re.compile(r"^\s*[-+]?\d[\d.,]*")
_INDEX_RE = re.compile(r"[\^_]\s*(?:\{\s*\d+\s*\}|\d)")


def _text_runs(text: str) -> list[str]:
    """Contents of the text groups (`\\text{...}`, `\\mathrm{...}`, ...) of `text`, whitespace collapsed."""
    runs = []
    for m in _TEXT_CMD_RE.finditer(text):
        end = _balanced_end(text, m.end() - 1)
        runs.append(" ".join(text[m.end() : (end or len(text) + 1) - 1].split()))
    return runs


def _multi_valued(golds: Sequence[str]) -> bool:
    """Is some gold answer a collection of values ("-1, 3", "1 \\pm \\sqrt{2}", "x<0 \\text{ or } x>1", a union)?"""
    return any(_MULTI_RE.search(str(g)) for g in golds)


def _hedged_text(pred: str, golds: Sequence[str]) -> bool:
    """Does a text group of `pred` hedge or list alternatives (rules in the module docstring)?"""
    gold_texts = {run for g in golds for run in _text_runs(str(g))}
    gold_words = set(re.findall(r"[a-z]+", " ".join(str(g) for g in golds).lower()))
    multi = _multi_valued(golds)  # then listing values is the answer: math-verify compares the collections
    hedges = HEDGE_WORDS - gold_words - (LIST_WORDS if multi else frozenset())
    for run in _text_runs(pred):
        if run in gold_texts:
            continue
        if set(re.findall(r"[a-z]+", run.lower())) & hedges:
            return True
        if not multi and re.search(r"\d", _INDEX_RE.sub("", _LEADING_NUMBER_RE.sub("", run, count=1))):
            return True
    return False


_RELATION_RE = re.compile(r"\\(?:approx|thickapprox|simeq|coloneqq)(?![A-Za-z])|≈|:=|(?<![<>!=])=(?!=)")
_APPROX = ("\\approx", "\\thickapprox", "\\simeq", "≈")
_DECIMAL_RE = re.compile(r"^([-+]?\d+)(?:\.(\d+))?(?:\\[lc]?dots|\.\.\.)?$")
_OPEN, _CLOSE = "([{", ")]}"


def _chain(pred: str, golds: Sequence[str]) -> list[tuple[str, bool]] | None:
    """Members of a top-level relation chain as (text, follows an approximation sign), or None when the chain rule
    does not apply (no relation, a top-level comma/semicolon, or a gold answer that is itself a relation)."""
    if _multi_valued(golds) or any(_RELATION_RE.search(str(g)) for g in golds):
        return None
    members, start, depth, approx = [], 0, 0, False
    for i, ch in enumerate(pred):
        depth += (ch in _OPEN) - (ch in _CLOSE)
        if depth == 0 and ch in ",;" and (i == 0 or pred[i - 1] != "\\"):
            return None
    for m in _RELATION_RE.finditer(pred):
        before = pred[: m.start()]
        if sum(c in _OPEN for c in before) != sum(c in _CLOSE for c in before):
            continue  # inside brackets
        members.append((pred[start : m.start()].strip(), approx))
        start, approx = m.end(), m.group(0) in _APPROX
    if not members:
        return None
    return members + [(pred[start:].strip(), approx)]


def _is_label(member: str) -> bool:
    """A leading name such as x, f(2), a_{10}, AB, (x, y) (or nothing, as in "= 2"): no digits outside subscripts
    and argument lists."""
    bare = re.sub(r"_\s*(?:\{[^{}]*\}|\w)|(?<=[A-Za-z])\([^()]*\)", "", member)
    return not re.search(r"\d", bare)


def _squeeze(text: str) -> str:
    return re.sub(r"\s|\\[,;!: ]", "", text)


def _approximates(member: str, gold: str) -> bool:
    """Is `member` a decimal that rounds or truncates the gold's real value to its own number of decimals?"""
    m = _DECIMAL_RE.match(_squeeze(member))
    expr = _first_expr(_parse_gold(gold))
    if m is None or expr is None or not getattr(expr, "is_number", False):
        return False
    try:
        value = complex(sympy.N(expr, 30))
    except (TypeError, ValueError, OverflowError):
        return False
    if value.imag != 0 or not math.isfinite(value.real):
        return False
    step = 10.0 ** -len(m.group(2) or "")
    approx = float(f"{m.group(1)}.{m.group(2) or '0'}")
    rounded = abs(value.real - approx) <= step / 2 * (1 + 1e-9)
    return rounded or math.trunc(value.real / step) == round(approx / step)


def _chain_verdicts(members: list[tuple[str, bool]], gold: str, hints: PromptHints) -> list[bool]:
    """One verdict per member that must agree with `gold` (labels dropped; see the module docstring)."""
    (first, _), rest = members[0], members[1:]
    approx: list[str] = []
    exact: list[str] = []
    for text, after in rest:
        (approx if after and _DECIMAL_RE.match(_squeeze(text)) else exact).append(text)
    first_ok = _matches(first, [gold], hints)
    verdicts = [] if (not first_ok and _is_label(first)) else [first_ok]
    verdicts += [_matches(m, [gold], hints) for m in exact]
    if not verdicts:  # only approximations after a label, e.g. x \approx 2: judged exactly
        return [_matches(m, [gold], hints) for m in approx]
    return verdicts + [_approximates(m, gold) for m in approx]


def _judge(pred: str, gold: str | Sequence[str], max_chars: int, hints: PromptHints = PromptHints()) -> str:
    """"too_long" | "power_tower" | "expansion" | "hedged" | "mismatch" | "match" for an extracted prediction
    against gold answer(s)."""
    refusal = guard(pred, max_chars)
    if refusal is not None:
        return refusal
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds:
        raise ValueError("empty list of gold answers; give at least one reference answer")
    if _hedged_text(pred, golds):
        return "hedged"
    members = _chain(pred, golds)
    if members is None:
        return "match" if _matches(pred, golds, hints) else "mismatch"
    per_gold = [_chain_verdicts(members, str(g), hints) for g in golds]
    if any(all(v) for v in per_gold):
        return "match"
    return "hedged" if any(any(v) for v in per_gold) else "mismatch"


def answers_equivalent(pred: str, gold: str | Sequence[str], *, max_chars: int = DEFAULT_MAX_CHARS,
                       prompt: str = "") -> bool:
    """True if the extracted answer `pred` equals `gold` (or any item of a list of golds). `prompt` (the problem
    text) may ask for a percentage or use `i` as an index (rewards/math_readings.py).

    Returns False without calling sympy for answers refused by the guard rails (logged at debug level; use
    `check_answer` to get the reason). Raises ValueError if a gold answer cannot be parsed.
    """
    return _judge(pred, gold, max_chars, prompt_hints(prompt)) == "match"


def check_answer(
    response: str, gold: str | Sequence[str], *, max_chars: int = DEFAULT_MAX_CHARS, prompt: str = ""
) -> tuple[bool, dict[str, Any]]:
    """(correct, {"extracted": str | None, "reason": ...}) for a full policy response; reason is one of no_boxed,
    too_long, power_tower, expansion (guard rails), hedged, mismatch, match. `prompt`: as in answers_equivalent."""
    extracted = extract_boxed(response)
    if extracted is None:
        return False, {"extracted": None, "reason": "no_boxed"}
    reason = _judge(extracted, gold, max_chars, prompt_hints(prompt))
    shown = extracted if len(extracted) <= max_chars else extracted[:max_chars] + "..."
    return reason == "match", {"extracted": shown, "reason": reason}

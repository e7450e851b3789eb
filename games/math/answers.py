"""Whether a final answer equals a reference answer, without ever running the answer's text.

Numbers and arithmetic are decided here exactly (games/math/exact.py). Symbolic answers (LaTeX
fractions, roots, pi) go to Hugging Face's math-verify, which calls sympy's `parse_expr`, and
that evaluates Python: so text reaches it only after a gate that admits digits, operators,
brackets, single letters and a short list of math names and LaTeX commands, and only in a
worker process with a memory limit and a time limit (signal-based timeouts, math-verify's own,
work only in a main thread, which the worker's is). Text that fails the gate is wrong.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
import unicodedata
from fractions import Fraction

from games.math.exact import ExprError, evaluate

MAX_ANSWER_CHARS = 200
SYMBOLIC_SECONDS = 5.0
_MATH_NAMES = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "pi", "infty", "inf", "frac",
               "dfrac", "tfrac", "cdot", "times", "div", "left", "right", "boxed", "text", "mathrm", "pm", "mp", "le",
               "ge", "leq", "geq", "neq", "circ", "degree", "deg", "cup", "cap", "emptyset", "in", "and", "or"}
_GATE_CHARS = re.compile(r"^[0-9A-Za-z\s+\-*/^=<>()\[\]{}\\.,:;|!%$]*$")
_WORD = re.compile(r"[A-Za-z]+")
_BOXED = re.compile(r"\\boxed\{(.*)\}")
_ARITHMETIC = re.compile(r"^[\d\s.+\-*/()]+$")  # text that is only arithmetic is decided exactly


def normalize(text: str) -> str:
    """NFKC, then every Unicode decimal digit as its ASCII digit (full-width, Arabic-Indic, ...);
    a final full stop, surrounding `$` and `\\boxed{}` removed, thousands separators dropped."""
    t = unicodedata.normalize("NFKC", str(text))
    t = "".join(str(unicodedata.digit(ch)) if ch.isdigit() and not ch.isascii() else ch for ch in t)
    t = t.strip().rstrip(".").strip().strip("$").strip()
    m = _BOXED.fullmatch(t)
    if m:
        t = m.group(1).strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", t):
        t = t.replace(",", "")
    return t


def reference_of(text: str) -> str:
    """A reference answer as datasets give it: GSM8K's solutions end with `#### 42`."""
    t = str(text)
    return t.rsplit("####", 1)[1].strip() if "####" in t else t.strip()


def numeric(text: str) -> Fraction | None:
    """The exact value of a number or an arithmetic expression (`3/4`, `-2.5`, `(1+2)*3`), or
    None when the text is not one within the limits."""
    try:
        return evaluate(normalize(text)).value if len(text) <= MAX_ANSWER_CHARS * 4 else None
    except ExprError:
        return None


def passes_gate(text: str) -> bool:
    """Whether text may be handed to the symbolic checker: short, math characters only, every
    word a single letter or a known math name, few exponents, bounded nesting and digits."""
    if not text or len(text) > MAX_ANSWER_CHARS or not _GATE_CHARS.match(text):
        return False
    if any(len(w) > 1 and w.lower() not in _MATH_NAMES for w in _WORD.findall(text)):
        return False
    powers = text.replace("**", "^")
    if powers.count("^") > 3 or re.search(r"\d{41,}", text):
        return False
    if re.search(r"\^[^-+*/=,]*\^", powers) or re.search(r"\^\s*\{?\s*-?\d{4,}", powers):
        return False  # a tower of powers, or an exponent of four digits or more: sizes explode
    if re.search(r"[A-Za-z_]\s*\.|\.\s*[A-Za-z_]", text):
        return False  # a dot only as a decimal point: no attribute access
    depth = deepest = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        deepest = max(deepest, depth)
    return deepest <= 12


def equivalent(answer: str | None, reference: str) -> bool:
    """Whether `answer` equals `reference` (numbers exactly, else symbolically behind the gate)."""
    if answer is None:
        return False
    a, r = normalize(answer), normalize(reference_of(reference))
    if not a or len(a) > MAX_ANSWER_CHARS:
        return False
    na, nr = numeric(a), numeric(r)
    if na is not None and nr is not None:
        return na == nr
    if (na is None and _ARITHMETIC.match(a)) or (nr is None and _ARITHMETIC.match(r)):
        return False  # arithmetic that does not evaluate (1/0, unbalanced): wrong, whatever it equals
    if not (passes_gate(a) and passes_gate(r)):
        return False
    return a == r or _symbolic.equal(a, r)


# ---- the symbolic checker's worker process -------------------------------------------------
def _serve(conn, memory_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from math_verify import parse, verify

    while True:
        try:
            a, r = conn.recv()
        except EOFError:
            return
        try:
            ok = bool(verify(parse(f"${r}$"), parse(f"${a}$")))
        except BaseException:  # noqa: BLE001 - whatever the parser does, the answer is simply not equal
            ok = False
        conn.send(ok)


class _SymbolicWorker:
    """One long-lived process (started on first use, restarted after a timeout or a crash)."""

    def __init__(self, memory_bytes: int = 2 << 30):
        self.memory_bytes, self.lock, self.proc, self.conn = memory_bytes, threading.Lock(), None, None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, self.memory_bytes), daemon=True)
        self.proc.start()

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
        self.proc = self.conn = None

    def equal(self, a: str, r: str, timeout: float = SYMBOLIC_SECONDS) -> bool:
        with self.lock:
            if self.proc is None or not self.proc.is_alive():
                self._start()
            try:
                self.conn.send((a, r))
                if self.conn.poll(timeout):
                    return bool(self.conn.recv())
            except (EOFError, OSError):
                pass
            self._stop()  # too slow or crashed: that answer is wrong, and the next one gets a fresh worker
            return False


_symbolic = _SymbolicWorker()

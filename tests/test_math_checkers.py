"""Answer checkers: hand-written (answer, reference, expected) cases, equivalent forms and near
misses alike; hostile outputs rejected fast with nothing run (a sentinel file such output would
create never appears)."""

from __future__ import annotations

import time

import pytest

from games.math import make_task
from games.math.answers import equivalent, normalize, passes_gate, reference_of

CASES = [
    # integers, signs, separators, Unicode digits
    ("42", "42", True), ("42", "43", False), ("-7", "-7", True), ("-7", "7", False), ("+5", "5", True),
    ("007", "7", True), ("1,234", "1234", True), ("1,234,567", "1234567", True), ("1,23", "123", False),
    ("４２", "42", True), ("٤٢", "42", True), ("42.", "42", True), (" 42 ", "42", True), ("$42$", "42", True),
    # decimals and fractions, exactly
    ("0.5", "1/2", True), ("1/2", "0.5", True), ("0.50", "0.5", True), ("2/4", "1/2", True), ("0.33", "1/3", False),
    ("3.0", "3", True), ("3.01", "3", False), ("10/5", "2", True), ("-3/4", "-0.75", True), ("3/4", "-0.75", False),
    ("1/3", "2/6", True), ("22/7", "3.14", False),
    # arithmetic expressions as answers
    ("2+2", "4", True), ("(1+2)*3", "9", True), ("2*3+1", "7", True), ("2*(3+1)", "7", False), ("10-2*3", "4", True),
    # GSM8K references
    ("18", "Janet sells 16 - 3 - 4 = 9 eggs. #### 18", True), ("9", "#### 18", False), ("72", "####72", True),
    # LaTeX, symbolically
    (r"\frac{1}{2}", "0.5", True), (r"\dfrac{3}{4}", "0.75", True), (r"\frac{2}{3}", "0.67", False),
    (r"\boxed{12}", "12", True), (r"\boxed{\frac{1}{4}}", "0.25", True), (r"\sqrt{2}/2", r"\frac{\sqrt{2}}{2}", True),
    (r"\sqrt{4}", "2", True), (r"\sqrt{8}", r"2\sqrt{2}", True), (r"\sqrt{3}", "1.732", False),
    (r"2\pi", r"\pi \cdot 2", True), (r"\pi", "3.14159", False), ("x+1", "1+x", True), ("x+1", "x-1", False),
    ("2x", "x*2", True), ("x^2-1", "(x-1)(x+1)", True), ("x^2+1", "(x+1)^2", False), (r"\frac{x}{2}", "x/2", True),
    # not answers at all
    ("", "42", False), ("   ", "42", False), ("forty-two", "42", False), ("42 apples", "42", False),
    ("the answer is 42", "42", False), (None, "42", False), ("4 2", "42", False), ("42/0", "42", False),
    ("1/0", "1/0", False), ("x", "x", True), ("inf", "5", False),
    # near misses in size
    ("1000000", "1000001", False), ("999999999999", "999999999999", True), ("0", "-0", True), ("0.1", "0.10", True),
    ("1e3", "1000", False), ("25%", "25", True),
]


@pytest.mark.parametrize("answer, reference, expected", CASES)
def test_hand_written_cases(answer, reference, expected):
    assert equivalent(answer, reference) is expected


def test_there_are_at_least_sixty_cases_of_both_kinds():
    assert len(CASES) >= 60 and sum(c[2] for c in CASES) >= 25 and sum(not c[2] for c in CASES) >= 25


def test_normalize_and_reference():
    assert normalize("  $\\boxed{1,234}$. ") == "1234" and normalize("３") == "3"
    assert reference_of("work... #### 1,000") == "1,000" and reference_of("17") == "17"


def hostile(sentinel) -> list[str]:
    """Outputs that would run code, explode in size or nest without end if anything evaluated them."""
    path = str(sentinel)
    return [
        f"__import__('os').system('touch {path}')",
        f"exec(\"open('{path}','w')\")",
        f"eval(compile('open(\"{path}\",\"w\")','x','exec'))",
        f"(lambda: open('{path}', 'w'))()",
        f"open('{path}','w').write('x')",
        "().__class__.__bases__[0].__subclasses__()",
        "9**9**9**9", "9^9^9^9", r"10^{10^{10^{10}}}", "1/0", "9" * 1_000_000, "(" * 10_000 + "1" + ")" * 10_000,
        r"\frac{" * 5_000 + "1" + "}{2}" * 5_000, "lambda x: x", "x.__class__", "a" * 100_000,
        "2" + "*2" * 199, "factorial(factorial(100))", r"\sqrt{" * 40 + "2" + "}" * 40, "9^9^9", "x^{y^{z}}",
        "2^99999999", "(9^9)^9^9",
    ]


def test_hostile_outputs_are_wrong_fast_and_run_nothing(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    countdown = make_task("countdown")
    problem = countdown.make_problem([25, 5, 4, 7], 80, "p")
    arith = make_task("arith")
    aproblem = arith.problems("heldout", 1)[0]
    for text in hostile(sentinel):
        t0 = time.perf_counter()
        assert not equivalent(text, "42")
        assert not equivalent(text, text[:50])
        assert not countdown.check_answer(problem, text)
        assert not countdown.check(problem, f"answer: {text}\n") and not countdown.check(problem, text)
        assert not countdown.check_answer(problem, countdown.step(problem, "", text).answer)
        assert not arith.check(aproblem, f"answer: {text}\n")
        assert time.perf_counter() - t0 < 1.0, text[:40]  # well under a second each (a ceiling, not a speed goal)
    assert not sentinel.exists()


def test_the_gate_admits_math_and_nothing_else():
    for ok in [r"\frac{1}{2}", "x^2+1", r"2\sqrt{3}", r"\pi", "sin(x)", "(a+b)/c"]:
        assert passes_gate(ok), ok
    for bad in ["__import__('os')", "exec(1)", "open(1)", "x.y", "chr(111)", "a_b", "'x'", '"x"', "9^9^9^9^9",
                "os", "system(1)", "globals()", "1" * 50]:
        assert not passes_gate(bad), bad


def test_the_sentinel_would_appear_if_the_text_were_run(tmp_path):
    """The hostile outputs above are real: run as Python, the first one creates the sentinel."""
    import subprocess
    import sys

    sentinel = tmp_path / "SENTINEL"
    subprocess.run([sys.executable, "-c", hostile(sentinel)[0]], check=True, timeout=60)
    assert sentinel.exists()

"""Arithmetic read from text without ever running it: a whitelist tokenizer (numbers, + - * /,
parentheses, spaces) and a recursive-descent parser with hard limits on length, digits, tokens
and nesting, evaluated in exact rationals. Anything else is an `ExprError`, decided in
microseconds: `9**9**9**9`, `__import__(...)`, a megabyte of digits and 10,000 nested
parentheses never get further than the limits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_CHARS = 400
MAX_DIGITS = 40  # per number
MAX_TOKENS = 200
MAX_DEPTH = 32  # nested parentheses and unary minus
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([-+*/()]))")


class ExprError(ValueError):
    """Text that is not an arithmetic expression within the limits."""


@dataclass(frozen=True)
class Value:
    value: Fraction
    leaves: tuple[Fraction, ...]  # the numbers written, in order


def tokenize(text: str) -> list[str]:
    if len(text) > MAX_CHARS:
        raise ExprError(f"longer than {MAX_CHARS} characters")
    tokens, pos, end = [], 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected {text[pos:pos + 10]!r}")
        tok = m.group(1) or m.group(2)
        if m.group(1) and len(m.group(1).replace(".", "")) > MAX_DIGITS:
            raise ExprError(f"a number longer than {MAX_DIGITS} digits")
        tokens.append(tok)
        if len(tokens) > MAX_TOKENS:
            raise ExprError(f"more than {MAX_TOKENS} tokens")
        pos = m.end()
    if not tokens:
        raise ExprError("empty")
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], unary_minus: bool):
        self.tokens, self.i, self.unary_minus, self.leaves = tokens, 0, unary_minus, []

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ExprError("ends too early")
        self.i += 1
        return tok

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            value = value + self.term(depth) if self.take() == "+" else value - self.term(depth)
        return value

    def term(self, depth: int) -> Fraction:
        value = self.factor(depth)
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.factor(depth)
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise ExprError("division by zero")
            else:
                value /= rhs
        return value

    def factor(self, depth: int) -> Fraction:
        if depth > MAX_DEPTH:
            raise ExprError(f"nested deeper than {MAX_DEPTH}")
        tok = self.take()
        if tok == "(":
            value = self.expr(depth + 1)
            if self.take() != ")":
                raise ExprError("unbalanced parentheses")
            return value
        if tok in "+-" and self.unary_minus:  # a sign (answers); Countdown's expressions take none
            value = self.factor(depth + 1)
            return -value if tok == "-" else value
        if tok[0].isdigit():
            number = Fraction(tok)
            self.leaves.append(number)
            return number
        raise ExprError(f"unexpected {tok!r}")


def evaluate(text: str, unary_minus: bool = True) -> Value:
    """The exact value of an arithmetic expression, and the numbers it was written with."""
    parser = _Parser(tokenize(text), unary_minus)
    value = parser.expr(0)
    if parser.peek() is not None:
        raise ExprError(f"unexpected {parser.peek()!r}")
    return Value(value, tuple(parser.leaves))

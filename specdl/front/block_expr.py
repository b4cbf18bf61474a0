"""Arithmetic on block parameters: ``"$c * 6"``, ``"$c // 4"``, ``"($c + $d) % 8"``.

Parsed with ``ast`` and walked over a whitelist (integer literals, the block's
parameters, + - * // % and unary +/-); never ``eval``ed."""

from __future__ import annotations

import ast
import operator
import re

REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_PREFIX = "_p_"
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_LEN = 200


class ExprError(ValueError):
    """The expression cannot be evaluated; the message says why, ``arg`` which argument."""

    def __init__(self, message: str, arg: str | None = None):
        super().__init__(message)
        self.arg = arg


def is_expression(text) -> bool:
    """Whether a block-body string is an expression over parameters (not a bare ``$c``)."""
    return isinstance(text, str) and bool(REF.search(text))


def names_in(text: str) -> list[str]:
    return REF.findall(text)


def evaluate(text: str, args: dict) -> int:
    """The integer value of ``text`` with each ``$name`` taken from ``args``."""
    if len(text) > MAX_LEN:
        raise ExprError(f"the expression is longer than {MAX_LEN} characters")
    try:
        tree = ast.parse(REF.sub(lambda m: _PREFIX + m[1], text.strip()), mode="eval")
    except SyntaxError:
        raise ExprError(f"`{text}` is not an expression: use $parameters, whole numbers, "
                        "+ - * // % and parentheses") from None
    return _walk(tree.body, args, text)


def _walk(node, args: dict, text: str) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name) and node.id.startswith(_PREFIX):
        name = node.id[len(_PREFIX):]
        value = args[name]
        if type(value) is not int:
            raise ExprError(f"`${name}` is {value!r}; `{text}` takes whole numbers", name)
        return value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand, args, text))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left, args, text), _walk(node.right, args, text)
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and right == 0:
            names = [n.id[len(_PREFIX):] for n in ast.walk(node.right) if isinstance(n, ast.Name)]
            raise ExprError(f"`{text}` divides by zero", names[0] if names else None)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        raise ExprError(f"`{text}`: `/` gives a fraction; use `//` (whole-number division)")
    raise ExprError(f"`{text}` may use only $parameters, whole numbers, + - * // % and "
                    "parentheses (no names, calls, attributes or fractions)")

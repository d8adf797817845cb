"""Text a person typed, read as an integer, a number or a boolean: one reading for a recipe's
parameters (`-p`, a form's field) and a connection's fields (`--field`), which say alike that
a value is "parsed into its declared type".

Python's `int()` and `float()` are too lenient for it: they take `1_0` (10), the digit
separator of Python's source, which no form or command line user means; digits of any
script (a full-width "３"), which JSON cannot carry; and `float()` takes nan and inf, which
JSON (the store, the REST API) cannot hold. papermill's `-p` passes text to
them as it is, so it would inject 10. Kept free of heavy imports: kernels load the SDK.
"""

from __future__ import annotations

import math
import operator
from typing import Any

__all__ = ["SCALARS", "NotFinite", "from_numpy", "integral", "parse_scalar", "whole"]

#: The JSON Schema types `parse_scalar` reads.
SCALARS = frozenset({"integer", "number", "boolean"})
#: The words a boolean takes, in any case.
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


class NotFinite(ValueError):
    """Text that reads as NaN or an infinity (`nan`, `-Infinity`, `1e400`): a number JSON
    has no form for, kept as `value` for the refusal to show."""

    def __init__(self, text: str, value: float) -> None:
        super().__init__(f"{text!r} is not a finite number")
        self.value = value


def integral(value: object) -> int | None:
    """`value` as the int it is when it is an integral number given in Python (an int,
    numpy's int64 from a frame, anything with `__index__`), else None: not a bool (True is
    no job's number nor a count), a float or text. The one check behind job ids, counts,
    limits and offsets passed to the Python API; each caller words its own refusal."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def whole(value: object) -> int | None:
    """`value` as an int when it is a number without a fraction (7, JSON's 7.0 or 7e0), else
    None (7.5, a boolean, text): JSON has one number type, and JSON Schema's `integer` is any
    number whose fraction is zero. The one rule for an integer given as a float, whichever
    way it came (`-p`, a form, a REST body, a call's input, a connection's field)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return integral(value)


def parse_scalar(kind: str, text: str) -> int | float | bool:
    """`text` as a JSON Schema `integer`, `number` or `boolean`, around any spaces; ValueError
    for text that is none (NotFinite, one, for NaN and infinities), worded for the caller to
    replace by its own refusal naming its field. An integer may be written as a whole float
    ("3.0", "3e2": `whole`), as JSON's 3.0 is one; "3.5" is none."""
    word = text.strip()
    if "_" in word:  # read by int() and float() as a digit separator
        raise ValueError(f"{text!r} holds an underscore")
    if not word.isascii():  # int() and float() read any script's digits ("３"), JSON none
        raise ValueError(f"{text!r} holds a character that is not ASCII")
    if kind == "integer":
        try:
            return int(word, 10)
        except ValueError:  # "3.0" or "3e2": a whole number written as a float (`whole`)
            integral = whole(float(word))
        if integral is None:
            raise ValueError(f"{text!r} is not a whole number")
        return integral
    if kind == "number":
        number = float(word)
        if not math.isfinite(number):
            raise NotFinite(text, number)
        return number
    if kind == "boolean":
        if word.lower() in _TRUE:
            return True
        if word.lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not one of the words for true or false")
    raise TypeError(f"{kind!r} is none of {sorted(SCALARS)}")  # a caller's mistake


def from_numpy(value: Any) -> Any:
    """numpy's scalars as the Python numbers and booleans they are, its arrays as lists:
    pandas' counts, sums and index values are `numpy.int64` and `numpy.bool_`, neither int
    nor bool, which JSON and the checks of ints refused. Its datetimes and durations, and
    any other value, as they are (their `tolist()` gives nanoseconds as an int). Without
    importing numpy: a value of it means numpy is loaded."""
    numpy = type(value).__module__ == "numpy" and hasattr(value, "tolist")
    if numpy and value.dtype.kind not in "mM":
        return value.tolist()  # a scalar's is its Python value
    return value

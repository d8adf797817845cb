"""What a job's result says of its Proactive recipients: one rule for `lpstudio show`, the
Jobs panel and the dashboard, so that each counts the same recipients. `show` counts a
result's `accepted`, `failed` and `rejected` by `counted`, and the Jobs panel shows the same
figures, read from the job's REST answer (`recipients`, `jobviews.job_to_dict`): it counts
only the result's other keys itself.

A result reports recipients when it holds any of:

- `accepted`: how many LivePerson accepted, a whole number (`5`, or `5.0` as a pandas sum
  of a column with a NaN gives it);
- `failed` (recipients LivePerson refused one by one) and `rejected` (those of a request it
  refused whole): a whole number, or a list whose entries each stand for one recipient, or
  for the `recipients` an entry of a batch says.

The dashboard's *failed* is both kinds of refusal, `failed` plus `rejected`. Recipients a
campaign never sent (`unsendable`, `not_sent`, `uncertain`) count in neither. A number of 16
digits or more is no count of recipients (PostgreSQL's BIGINT sums could overflow adding a
few): it counts as none. A test run's result counts nowhere (it sent nothing).

The database computes the same from the stored JSON (`SQLITE_FIGURES` here; migration 0020
keeps the count triggers and PostgreSQL's `lpstudio_result_counts` by the same rule, frozen
there as migrations are, and `tests/test_proactive_counts.py` checks the two agree).
"""

from __future__ import annotations

from typing import Any

from .scalars import whole

__all__ = ["REFUSED", "SQLITE_FIGURES", "counted", "proactive", "recipients"]

#: The result's keys whose recipients LivePerson refused: the dashboard's *failed*.
REFUSED = ("failed", "rejected")
#: The first number that is no count of recipients (16 digits).
TOO_MANY = 10**15


def _count(value: Any) -> int | None:
    """`value` as a count: a whole number below `TOO_MANY` in size, else None."""
    number = whole(value)
    return number if number is not None and abs(number) < TOO_MANY else None


def recipients(value: Any) -> int | None:
    """How many recipients a result's value stands for: a count itself, or a list's entries
    (a batch's entry says how many with `recipients`, any other is one); None for anything
    else (text, a boolean, an object)."""
    count = _count(value)
    if count is not None:
        return count
    if isinstance(value, list):
        return sum(_entry(entry) for entry in value)
    return None


def _entry(entry: Any) -> int:
    count = _count(entry.get("recipients")) if isinstance(entry, dict) else None
    return 1 if count is None else count


def counted(result: Any) -> dict[str, int] | None:
    """The recipients of a result by key (`accepted`, then `REFUSED`), each key it reports
    them in; None when it reports none. A job's REST answer gives it as `recipients`."""
    if not isinstance(result, dict):
        return None
    counts = {"accepted": _count(result.get("accepted"))}
    counts.update((key, recipients(result.get(key))) for key in REFUSED)
    found = {key: count for key, count in counts.items() if count is not None}
    return found or None


def proactive(result: Any) -> tuple[int, int] | None:
    """(accepted, refused) recipients of a result, or None when it reports none."""
    counts = counted(result)
    if counts is None:
        return None
    return counts.get("accepted", 0), sum(counts.get(key, 0) for key in REFUSED)


def _sqlite_whole(json: str, path: str) -> str:
    value = f"json_extract({json}, '{path}')"
    return (
        f"(json_type({json}, '{path}') = 'integer' OR json_type({json}, '{path}') = 'real' "
        f"AND {value} = CAST({value} AS INTEGER)) AND abs({value}) < {TOO_MANY}"
    )


def _sqlite_recipients(json: str, path: str) -> str:
    """`recipients` of the value at `path` of the JSON text `json`, 0 for none."""
    entry = (
        f"CASE WHEN e.type = 'object' AND {_sqlite_whole('e.value', '$.recipients')} "
        "THEN CAST(json_extract(e.value, '$.recipients') AS INTEGER) ELSE 1 END"
    )
    return (
        f"CASE WHEN {_sqlite_whole(json, path)} THEN CAST(json_extract({json}, '{path}') AS "
        f"INTEGER) WHEN json_type({json}, '{path}') = 'array' THEN (SELECT coalesce(sum("
        f"{entry}), 0) FROM json_each({json}, '{path}') AS e) ELSE 0 END"
    )


def _sqlite_figures(json: str) -> dict[str, str]:
    """`reported` (1 when the result reports recipients), `accepted` and `failed` (both kinds
    of refusal) of the JSON text `json`, as SQLite computes them."""
    refusals = [f"$.{key}" for key in REFUSED]
    listed = " OR ".join(
        f"{_sqlite_whole(json, path)} OR json_type({json}, '{path}') = 'array'" for path in refusals
    )
    valid = f"json_valid({json})"
    return {
        "reported": f"CASE WHEN {valid} AND ({_sqlite_whole(json, '$.accepted')} OR {listed}) "
        "THEN 1 ELSE 0 END",
        "accepted": f"CASE WHEN {valid} AND {_sqlite_whole(json, '$.accepted')} "
        f"THEN CAST(json_extract({json}, '$.accepted') AS INTEGER) ELSE 0 END",
        "failed": f"CASE WHEN {valid} THEN "
        + " + ".join(f"({_sqlite_recipients(json, path)})" for path in refusals)
        + " ELSE 0 END",
    }


#: What a job's result reports (`jobs.result`), as SQLite computes it.
SQLITE_FIGURES = _sqlite_figures("jobs.result")

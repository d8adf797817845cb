"""A value of `-y` or `-f` refused for its type says what the user wrote and how YAML read
it, with the fix in YAML. YAML 1.1 (papermill's, so lpstudio's) reads `+14155550199` as the
number 14155550199, `0612345670` as the octal 103402424, `no` as false, and `1e3` as text:
the refusals quoted only what YAML read ("expects a string, got 103402424"; fix: "pass a
string, for example: text"), and told a user of `ratio: 1e3` to write it "without quotes",
as they had. The same values given by `-p` keep their words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.conftest import job_rows, run_json, write_recipe

TYPED = 'phone: str = "+14155550100"  # the phone\nratio: float = 1.0  # the ratio'


@pytest.fixture
def typed(ws: Path) -> Path:
    write_recipe(ws, "p/typed", TYPED, cells=("print(phone, ratio)",))
    return ws


def refused(ws: Path, *given: str) -> dict[str, Any]:
    """The error of `lpstudio run p/typed` with the options `given`: before any job."""
    code, answer = run_json("run", "p/typed", *given, "-w", str(ws))
    assert code == 2, answer
    assert job_rows(ws) == 0
    return dict(answer["error"])


def test_a_plus_phone_number_in_y_is_said_as_written_and_quoted_in_the_fix(typed: Path) -> None:
    error = refused(typed, "-y", "phone: +14155550199")
    assert error == {
        "code": "ParameterError",
        "message": "parameter 'phone' expects a string, but YAML reads +14155550199 in -y as "
        "the number 14155550199",
        "field": "phone",
        "fix": "write it in quotes: -y 'phone: \"+14155550199\"'",
    }


def test_a_leading_zero_read_as_octal_shows_what_was_written(typed: Path) -> None:
    """PyYAML reads no YAML 1.2 and papermill's loader types 0612345670 as YAML 1.1 does."""
    error = refused(typed, "-y", "phone: 0612345670")
    assert error["field"] == "phone", error
    assert error["message"] == (
        "parameter 'phone' expects a string, but YAML reads 0612345670 in -y as the number "
        "103402424"
    )
    assert error["fix"] == "write it in quotes: -y 'phone: \"0612345670\"'", error
    # In a file, the fix is its line there; a JSON file's as JSON writes it.
    (typed / "params.yaml").write_text("ratio: 2.5\nphone: 0612345670\n")
    (typed / "params.json").write_text('{"phone": 14155550199}')
    error = refused(typed, "-f", str(typed / "params.yaml"))
    assert f"reads 0612345670 in -f {typed / 'params.yaml'} as the number" in error["message"]
    assert error["fix"] == f'write it in quotes: phone: "0612345670" in {typed / "params.yaml"}'
    error = refused(typed, "-f", str(typed / "params.json"))
    assert error["fix"] == (
        f'write it in quotes: "phone": "14155550199" in {typed / "params.json"}'
    ), error


def test_no_read_as_false_is_said_as_written(typed: Path) -> None:
    error = refused(typed, "-y", "phone: no")
    assert (
        error["message"] == "parameter 'phone' expects a string, but YAML reads no in -y as false"
    )
    assert error["fix"] == "write it in quotes: -y 'phone: \"no\"'", error


def test_1e3_read_as_text_is_told_the_yaml_that_reads_as_a_number(typed: Path) -> None:
    """The fix said "1000.0, without quotes" of a value written with none. YAML 1.1 reads
    1.0e3 as text too: its floats need a dot and a signed exponent (1.0e+3)."""
    error = refused(typed, "-y", "ratio: 1e3")
    assert error["field"] == "ratio", error
    assert (
        error["message"] == "parameter 'ratio' expects a number, but YAML reads 1e3 in -y as text"
    )
    assert error["fix"] == "write it as YAML reads a number: -y 'ratio: 1000.0'", error
    code, _ = run_json("run", "p/typed", "-y", "ratio: 1000.0", "--prepare-only", "-w", str(typed))
    assert code == 0


def test_p_keeps_its_words_and_takes_what_y_misreads(typed: Path) -> None:
    """-p reads text by the parameter's type: the phone is text, 1e3 a number, and a -p
    value overrides -y's before any check of it."""
    code, answer = run_json(
        "run",
        "p/typed",
        *("-y", "phone: 0612345670", "-p", "phone", "+14155550199", "-p", "ratio", "1e3"),
        "--prepare-only",
        "-w",
        str(typed),
    )
    assert code == 0, answer
    injected = nbformat.read(answer["output_path"], as_version=4).cells[1].source
    assert 'phone = "+14155550199"' in injected and "ratio = 1000.0" in injected, injected
    assert refused(typed, "-p", "ratio", "abc") == {
        "code": "ParameterError",
        "message": "parameter 'ratio' expects a number, got \"abc\"",
        "field": "ratio",
        "fix": "pass a number, for example: 2.5",
    }

"""A failed job's traceback in `--json` answers is plain text: IPython colours it for a
terminal (`\\u001b[31m...`), which a bot or script reading JSON is not. The job's row and
its output notebook keep the colours, as Jupyter does."""

from __future__ import annotations

from pathlib import Path

import nbformat

from lpstudio.studio import Studio

from .conftest import run_cli, run_json, write_recipe

ESC = "\x1b"


def test_json_answers_give_a_failed_job_its_traceback_without_terminal_colours(
    ws: Path,
) -> None:
    write_recipe(ws, "p/boom", cells=("def f():\n    raise ValueError('boom')", "f()"))
    code, ran = run_json("run", "p/boom", "--workspace", str(ws))
    assert code == 1 and ran["status"] == "failed"
    _, shown = run_json("show", str(ran["id"]), "--workspace", str(ws))
    _, listed = run_json("jobs", "--workspace", str(ws))
    for job in (ran, shown, listed[0]):
        traceback = "\n".join(job["error"]["traceback"])
        assert ESC not in traceback, traceback
        assert "ValueError: boom" in traceback and "----> 1 f()" in traceback
    text = run_cli("show", str(ran["id"]), "--workspace", str(ws)).stdout
    assert ESC not in text and "ValueError: boom" in text
    with Studio.open(ws, user="alice") as studio:  # kept as IPython wrote it
        assert ESC in "".join(studio.job(ran["id"]).error["traceback"])
    outputs = [
        o
        for c in nbformat.read(ran["output_path"], as_version=4).cells
        for o in c.get("outputs", ())
        if o.get("output_type") == "error"
    ]
    assert ESC in "".join(outputs[0]["traceback"])


def test_rarer_terminal_escapes_are_taken_out_of_a_traceback_too() -> None:
    """`tput sgr0` ends colours with `ESC ( B`, some terminals' programs write the 8-bit CSI,
    and a line may end in the middle of an escape: none of it is text for a JSON reader."""
    from lpstudio.jobviews import plain_error

    error = {
        "ename": "ValueError",
        "traceback": [
            "\x1b[0;31mValueError\x1b[0m: boom\x1b(B",
            "\x9b31mred\x9b0m",
            "cut short\x1b",
            "\x1b]8;;https://example.org\x07a link\x1b]8;;\x07",
        ],
    }
    assert plain_error(error) == {
        "ename": "ValueError",
        "traceback": ["ValueError: boom", "red", "cut short", "a link"],
    }

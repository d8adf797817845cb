"""An output notebook names its job (reviewer X): a folder of them read with nbformat is
joined to the job table by `metadata.lpstudio.job`, not by parsing `<id>-<name>.ipynb`, and
its job's result is the last `RESULT_MIME` output, as the README says."""

from __future__ import annotations

from pathlib import Path

import nbformat

from lpstudio.kernel import RESULT_MIME

from .conftest import run_json, write_recipe


def test_an_output_notebook_names_its_job_and_its_last_result_is_the_job_s(ws: Path) -> None:
    write_recipe(
        ws,
        "an/counts",
        cells=(
            "import lpstudio.kernel as lp",
            "lp.set_result({'accepted': 1})",  # a partial result, replaced by the next
            "lp.set_result({'accepted': 2, 'failed': [], 'x': x})",
        ),
    )
    code, job = run_json("run", "an/counts", "-p", "x", "3", "--workspace", str(ws))
    assert code == 0 and job["status"] == "succeeded", job
    output = Path(job["output_path"])
    nb = nbformat.read(output if output.is_absolute() else ws / output, as_version=4)

    assert nb.metadata.lpstudio.job == {
        "id": job["id"],
        "recipe": "an/counts.ipynb",
        "trigger": "manual",
    }
    assert nb.metadata.lpstudio.title == "an/counts"  # the recipe's own metadata, kept
    # papermill's as papermill writes it: its parameters and paths
    assert nb.metadata.papermill.parameters == {"x": 3}
    assert nb.metadata.papermill.output_path == str(output if output.is_absolute() else ws / output)
    results = [
        out.data[RESULT_MIME]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if RESULT_MIME in out.get("data", {})
    ]
    assert len(results) == 2 and results[-1] == job["result"] == {
        "accepted": 2,
        "failed": [],
        "x": 3,
    }

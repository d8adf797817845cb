"""A big output notebook over REST, through a real `lpstudio serve` on loopback: its HTML
page is refused (413, naming its .ipynb and the setting) before the server reads it, where
rendering a 46 MB one took 80 s and 2 GB of the server's memory; its .ipynb is served
whole, and a notebook under the bound is rendered as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import API, Served, serving
from tests.test_openapi_contract import assert_fits

#: The bound the test server renders up to (`LpstudioApp.max_output_view_bytes`).
BOUND = 30_000
#: What the big recipe prints: enough to put its output notebook over `BOUND`.
PRINTED = "row " * 20_000


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.set_role("otto", "operator")
        write_recipe(root, "p/small")
        write_recipe(root, "p/big", cells=(f"print({PRINTED!r})",))
        for recipe in ("p/small", "p/big"):  # jobs 1 and 2
            assert studio.run(recipe).status == "succeeded"
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws, f"--LpstudioApp.max_output_view_bytes={BOUND}") as running:
        yield running


def output_of(ws: Path, job_id: int) -> Path:
    (found,) = (ws / "history").glob(f"*/{job_id}-*.ipynb")
    return found


def test_an_output_notebook_over_the_bound_is_not_rendered_and_says_how_to_get_it(
    served: Served, ws: Path
) -> None:
    size = output_of(ws, 2).stat().st_size
    assert size > BOUND > output_of(ws, 1).stat().st_size
    answer = served.api("otto", "GET", "/jobs/2/output.html")
    assert answer.status_code == 413, answer.text
    error = answer.json()["error"]
    assert error["code"] == "OutputTooLarge" and error["field"] == "kind", error
    assert error["message"] == (
        f"job 2's output notebook is {size} bytes, over the {BOUND} bytes the server renders "
        "as HTML"
    )
    assert f"GET {API}/jobs/2/output.ipynb" in error["fix"], error
    assert "--LpstudioApp.max_output_view_bytes" in error["fix"], error
    doc = served.api("otto", "GET", "/openapi.json").json()
    assert_fits(doc, "/jobs/{job_id}/output.{kind}", "get", answer)

    # The fix works: the notebook itself, whole.
    notebook = served.api("otto", "GET", "/jobs/2/output.ipynb")
    assert notebook.status_code == 200 and PRINTED in notebook.text

    # One under the bound is rendered as before.
    page = served.api("otto", "GET", "/jobs/1/output.html")
    assert page.status_code == 200 and "<html" in page.text, page.text[:500]


def test_a_notebook_grown_over_the_bound_is_refused_unread(served: Served, ws: Path) -> None:
    """The bound is the file's size, checked before it is read: a file too big to render is
    refused even when it would not even parse."""
    output_of(ws, 1).write_text("{" + " " * BOUND)
    answer = served.api("otto", "GET", "/jobs/1/output.html")
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "OutputTooLarge"

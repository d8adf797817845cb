"""The Jupyter server's token is kept from every kernel, through real servers and kernels.

`make studio` handed JupyterLab its token in `JUPYTER_TOKEN_FILE`, and `lpstudio serve` is
given it in `JUPYTER_TOKEN` or `JUPYTER_TOKEN_FILE` (README): every kernel (JupyterLab's,
the kernel pool's, the fork server and its forks) inherited them, and a recipe run as a job
printed the token into its output notebook, which the REST API serves to every role; the
token logs in as the server's admin. The server drops them from its environment once it has
read its token, the launcher removes its token file once JupyterLab answers, and a job's
output notebook and error mask the token as they mask connection secrets.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from lpstudio.studio import Studio
from tests.conftest import printed, wait_for, write_recipe
from tests.servers import JUPYTER_TOKEN, Served, serving
from tests.test_launch import launched

API = "/lpstudio/api/v1"
MASK = "****"


def peeking(ws: Path) -> tuple[str, ...]:
    """A recipe's cells that look for the token where a kernel could find it: its
    environment, and the launcher's token files."""
    return (
        "import glob, os",
        "print(sorted((k, v) for k, v in os.environ.items() if k.startswith('JUPYTER_TOKEN')))",
        f"print([open(p).read() for p in glob.glob({str(ws / '.runtime' / 'lab-token-*')!r})])",
    )


def telling(token: str) -> tuple[str, ...]:
    """Cells that print the token, and fail quoting it, as a recipe that found it would:
    written in two halves, so that the recipe's own code does not hold it."""
    half = len(token) // 2
    spelt = f"{token[:half]!r} + {token[half:]!r}"
    return (f"print({spelt})", f"raise ValueError({spelt})")


def descendants(pid: int) -> list[Path]:
    """The /proc folders of every process under `pid`: its kernels, the kernel pool's
    fork server and its forks, their guards."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, of in parents.items() if of == parent]
        found += [Path("/proc") / str(child) for child in children]
        todo += children
    return found


def environ(proc: Path) -> bytes:
    try:
        return (proc / "environ").read_bytes()
    except OSError:  # ended meanwhile
        return b""


def run_job(url: str, headers: dict[str, str], recipe: str) -> dict[str, object]:
    """Runs `recipe` over the REST API and returns the job once it ended."""
    started = httpx.post(f"{url}{API}/recipes/{recipe}/run", headers=headers, json={}, timeout=30)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]

    def ended() -> dict[str, object] | None:
        job = httpx.get(f"{url}{API}/jobs/{job_id}", headers=headers, timeout=30).json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return dict(wait_for(ended, timeout=120, what=f"job {job_id}'s end"))


def answers_of(url: str, headers: dict[str, str], job_id: object) -> str:
    """Everything the REST API answers of a job: its row, its output notebook as ipynb and
    HTML, and the job list."""
    paths = (f"/jobs/{job_id}", f"/jobs/{job_id}/output.ipynb", f"/jobs/{job_id}/output.html")
    answers = [httpx.get(f"{url}{API}{path}", headers=headers, timeout=30) for path in paths]
    answers.append(httpx.get(f"{url}{API}/jobs", headers=headers, timeout=30))
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    return "\n".join(answer.text for answer in answers)


def printed_by(output: Path) -> list[str]:
    """What each code cell of an output notebook printed (papermill puts markdown cells
    of its own before a failing one)."""
    nb = nbformat.read(output, as_version=4)
    return [printed(cell) for cell in nb.cells if cell.cell_type == "code"]


def assert_kept_from(url: str, headers: dict[str, str], ws: Path, token: str) -> None:
    """A job that looks for the token finds nothing; one that prints it, or fails quoting
    it, shows it masked, in its output notebook and every REST answer of it."""
    peek = run_job(url, headers, "t/peek.ipynb")
    assert peek["status"] == "succeeded", peek
    # No JUPYTER_TOKEN nor JUPYTER_TOKEN_FILE, no token file left to read.
    assert printed_by(ws / str(peek["output_path"]))[-2:] == ["[]\n", "[]\n"]
    assert token not in answers_of(url, headers, peek["id"])

    tell = run_job(url, headers, "t/tell.ipynb")
    assert tell["status"] == "failed", tell
    error = tell["error"]
    assert isinstance(error, dict) and error["evalue"] == MASK, error
    assert printed_by(ws / str(tell["output_path"]))[-2] == f"{MASK}\n"
    shown = answers_of(url, headers, tell["id"])
    assert token not in shown and token not in (ws / str(tell["output_path"])).read_text()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True).close()  # its admin: this OS user, as make studio's
    write_recipe(root, "t/peek", cells=peeking(root))
    return root


def test_no_kernel_of_make_studio_learns_its_token(ws: Path, tmp_path: Path) -> None:
    proc, port, _, lines = launched(ws, tmp_path / "launch.log")
    try:
        token = lines[2].split("token=")[1].strip()
        lab, headers = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
        # JupyterLab answered, having read it: the file is gone, not kept until it stops.
        assert list((ws / ".runtime").glob("lab-token-*")) == []

        # A kernel of JupyterLab's own, started as Jupyter starts them.
        kernel = httpx.post(f"{lab}/api/kernels", headers=headers, json={}, timeout=60)
        assert kernel.status_code == 201, kernel.text
        write_recipe(ws, "t/tell", cells=telling(token))
        assert_kept_from(lab, headers, ws, token)

        (jupyterlab,) = [p for p in descendants(proc.pid) if _runs(p, "-m\0jupyterlab")]

        def started() -> list[Path]:
            under = descendants(int(jupyterlab.name))
            return under if any(_runs(p, "ipykernel_launcher") for p in under) else []

        under = wait_for(started, what="JupyterLab's kernel")
        assert any(_runs(p, "lpstudio.forkserver") for p in under)  # the pool's, and its forks
        for found in under:
            kept = environ(found)
            assert b"JUPYTER_TOKEN" not in kept and token.encode() not in kept, found
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)


@pytest.fixture
def served(ws: Path, tmp_path: Path) -> Iterator[Served]:
    """`lpstudio serve` given its token as the README has a service give it: in
    `JUPYTER_TOKEN_FILE` (here also in `JUPYTER_TOKEN`, which Jupyter reads first)."""
    path = tmp_path / "token"
    path.write_text(JUPYTER_TOKEN)
    given = {"JUPYTER_TOKEN": JUPYTER_TOKEN, "JUPYTER_TOKEN_FILE": str(path)}
    with serving(ws, environ=given) as running:
        yield running


def test_no_job_of_lpstudio_serve_learns_its_token(served: Served, ws: Path) -> None:
    write_recipe(ws, "t/tell", cells=telling(JUPYTER_TOKEN))
    headers = {"Authorization": f"token {JUPYTER_TOKEN}"}
    assert_kept_from(served.url, headers, ws, JUPYTER_TOKEN)
    under = descendants(served.proc.pid)
    assert any(_runs(p, "lpstudio.forkserver") for p in under), under
    assert all(b"JUPYTER_TOKEN" not in environ(found) for found in under)


def _runs(proc: Path, what: str) -> bool:
    """Whether the process's command line names `what`."""
    try:
        return what.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False

"""A forked kernel whose fork server pre-imported a module that reads the environment as it
loads (matplotlib reads MPLBACKEND): the kernel must behave as a kernel started cold, which
imports it after ipykernel has chosen the inline backend, or after its environment chose
another."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lpstudio.studio import Studio

from .conftest import full_pool, printed, write_recipe
from .test_pool import install_specs

#: The backend ipykernel chooses for a kernel whose environment names none.
INLINE = "module://matplotlib_inline.backend_inline"

PLOT = "import matplotlib.pyplot as plt\nprint(plt.get_backend())\nplt.plot([1, 2, 3])\nplt.show()"


def pre_import_matplotlib(root: Path) -> None:
    """Adds matplotlib's pyplot to the workspace's `[kernels] preimport`."""
    config = root / "lpstudio.toml"
    default = 'preimport = ["pandas", "httpx"]'
    assert default in config.read_text()
    config.write_text(
        config.read_text().replace(default, 'preimport = ["pandas", "httpx", "matplotlib.pyplot"]')
    )


def plotted(root: Path, job: object) -> tuple[str, list[str]]:
    """What the plotting cell of a job printed (its backend) and the kinds of data it showed."""
    assert getattr(job, "status", None) == "succeeded", getattr(job, "error", None)
    nb = nbformat.read(root / job.output_path, as_version=4)
    cell = next(c for c in nb.cells if "plt.show()" in c.source)
    kinds = [kind for out in cell.outputs for kind in out.get("data", {})]
    return printed(cell).strip(), kinds


def test_a_forked_kernel_shows_figures_with_matplotlib_pre_imported(ws: Path) -> None:
    pre_import_matplotlib(ws)
    write_recipe(ws, "p/plot", cells=(PLOT,))

    with full_pool(ws) as studio:
        jobs = [studio.run("p/plot"), studio.run("p/plot")]

    for job in jobs:
        backend, kinds = plotted(ws, job)
        assert backend == INLINE
        assert "image/png" in kinds


def test_the_backend_a_forked_kernels_environment_names_is_the_one_it_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MPLBACKEND set in the studio's environment, or in a kernel spec's `env`, wins over
    ipykernel's inline backend, as in a kernel started cold."""
    install_specs(tmp_path, monkeypatch, {"svg-spec": {"MPLBACKEND": "svg"}})
    monkeypatch.setenv("MPLBACKEND", "pdf")
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    pre_import_matplotlib(root)
    write_recipe(root, "p/plot", cells=(PLOT,))
    svg = write_recipe(root, "p/svg", cells=(PLOT,))
    nb = nbformat.read(svg, as_version=4)
    nb.metadata.kernelspec = {"name": "svg-spec", "display_name": "svg", "language": "python"}
    nbformat.write(nb, svg)

    with Studio.open(root, user="alice") as studio:
        kernels = studio.executor.kernels
        assert kernels is not None
        kernels.warm(("python3", "svg-spec"))
        assert kernels.wait_full("python3", 120) and kernels.wait_full("svg-spec", 120)
        assert kernels._ready["svg-spec"][0].prepared  # forked on the prepared shell
        studio_env, spec_env = studio.run("p/plot"), studio.run("p/svg")

    assert plotted(root, studio_env) == ("pdf", [])
    assert plotted(root, spec_env) == ("svg", [])

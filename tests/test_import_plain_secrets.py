"""A package whose connection carries a secret of the importing workspace in a plain field:
`connections add` refuses such a value (plain fields are shown as they are), and `import`
created the placeholder with it, in clear in the store and in every listing. The import is
refused whole, naming the package's connection and field, the value never said. So is a
package whose recipe saved such a secret as a parameter's value, naming the recipe.

Two real workspaces with the README's `acme` connector in their `connectors/`, the CLI
in-process.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_packages import answer, invoke, refused, rewritten, state

SECRET = "crmkey-SuperSecret-7731"  # the importing workspace's crm key
ACME = """
from lpstudio.sdk import Connector, Field

connector = Connector(
    "acme",
    title="Acme CRM",
    fields=[
        Field("base_url", "API base URL", type="url"),
        Field("api_key", "API key", secret=True),
    ],
)
"""


def acme_workspace(root: Path, key: str) -> Path:
    """A workspace with the acme connector and a connection `crm` whose key is `key`."""
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        (root / "connectors").mkdir(exist_ok=True)
        (root / "connectors/acme.py").write_text(ACME)
        studio.connections.add(
            "crm", "acme", {"base_url": "http://127.0.0.1:9", "api_key": key}, "alice"
        )
    return root


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """Project `crm` of another workspace: recipe `r`, its acme slot bound to `crm`."""
    root = acme_workspace(tmp_path / "source", "other-key-5120")
    write_recipe(root, "crm/r", metadata={"title": "r", "connections": {"acme": {"type": "acme"}}})
    with Studio.open(root, user="alice") as studio:
        studio.save_settings("crm/r", {}, connections={"acme": "crm"})
    exported = tmp_path / "crm.zip"
    assert invoke(root, "export", "crm", "-o", str(exported)).exit_code == 0
    return exported


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return acme_workspace(tmp_path / "target", SECRET)


def carrying(package: Path, base_url: str) -> Path:
    """The package with a connection `crm3` of those plain fields, bound to `r`'s slot."""

    def edit(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
        manifest["connections"]["crm3"] = {
            "type": "acme",
            "fields": {"base_url": base_url},
            "secrets": ["api_key"],
        }
        manifest["recipes"]["r.ipynb"]["settings"]["connections"]["acme"] = "crm3"

    return rewritten(package, edit)


@pytest.mark.parametrize(
    "base_url",
    [
        SECRET,  # no URL: it was refused for its type, not as a secret
        f"http://127.0.0.1:9/{SECRET}",
        f"http://127.0.0.1:9/?k={base64.b64encode(SECRET.encode()).decode()}",
    ],
    ids=["bare", "in-a-url", "base64"],
)
def test_a_package_carrying_a_secret_in_a_plain_field_is_refused_whole(
    package: Path, target: Path, base_url: str
) -> None:
    bad = carrying(package, base_url)
    before = state(target)

    result = invoke(target, "import", str(bad), "--into", "u3", "--json")

    error = refused(result)
    assert error["field"] == "connections.crm3.fields.base_url", error
    assert "crm3" in error["message"] and "'base_url' holds a secret" in error["message"]
    assert "lpstudio-package.json" in error["fix"] and "remove" in error["fix"], error
    assert SECRET not in result.output and base_url not in result.output
    assert state(target) == before  # no placeholder, no settings, no file


def test_a_package_whose_plain_fields_hold_no_secret_still_imports(
    package: Path, target: Path
) -> None:
    """The check refuses the secret, not the connection: the same package with a harmless
    URL creates crm3 as a placeholder."""
    imported = answer(
        invoke(target, "import", str(carrying(package, "http://127.0.0.1:9/v2")), "--json")
    )

    assert {c["name"]: c["status"] for c in imported["connections"]} == {"crm3": "placeholder"}
    with Studio.open(target, user="bob") as studio:
        assert studio.connections.get("crm3").fields == {"base_url": "http://127.0.0.1:9/v2"}


def test_a_recipe_s_saved_value_holding_a_secret_is_refused_naming_the_recipe(
    target: Path, tmp_path: Path
) -> None:
    """The reviewer's case: recipe f429's saved campaign_name held a secret of the importing
    workspace, and the text said `parameter 'campaign_name' holds the secret of a
    connection`, not which of the package's recipes (only --json's field did), with a run's
    fix (give the secret to a connection). It names the recipe, and an import's fix."""
    root = acme_workspace(tmp_path / "source", "other-key-5120")
    write_recipe(root, "crm/f429", parameters="campaign_name: str = 'Spring'  # its name")
    with Studio.open(root, user="alice") as studio:
        studio.save_settings("crm/f429", {"campaign_name": SECRET})  # no secret there
    package = tmp_path / "crm.zip"
    assert invoke(root, "export", "crm", "-o", str(package)).exit_code == 0
    before = state(target)

    result = invoke(target, "import", str(package), "--into", "newshop")

    assert result.exit_code == 2 and result.stdout == "", result.output
    said, fix = result.stderr.split("\n  fix: ")
    assert said == (
        "lpstudio: error: recipe newshop/f429: parameter 'campaign_name' holds the secret of "
        "a connection"
    ), said
    assert fix == (
        "the package must not carry it: remove campaign_name from recipes.f429.ipynb."
        "settings.parameters in its lpstudio-package.json (or clear it where it was "
        "exported, and export again) and import it again; then give it its value here with "
        "`lpstudio settings newshop/f429 -p campaign_name VALUE`\n"
    ), fix
    error = refused(invoke(target, "import", str(package), "--into", "newshop", "--json"))
    assert error["field"] == "recipes.newshop/f429.settings.parameters.campaign_name", error
    assert SECRET not in result.output
    assert state(target) == before

"""A poll trigger's condition naming a field its records do not have is refused when the
recipe is read, as a misspelt key of a rule is: a Shopify checkout has no `totl_price`, and
a poll compared every checkout with nothing and dropped them all without a word. Triggers
whose records' fields cannot be known (a SQL table's rows, a CSV file's) take any field.

The recipe is read where every surface reads it (`lpstudio recipes`, `run`, `run --test`,
`start`, the REST API, the lab's form); a condition on a field below one (`customer.
first_name`) passes the real sandbox's checkouts it names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.errors import RecipeError
from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio
from lpstudio.widgets.form import RecipeForm

from .conftest import job_rows, write_recipe

CART = "p/cart.ipynb"
FIELD = "metadata.lpstudio.trigger.conditions.rules.1.field"


def cart_recipe(
    ws: Path, field: str, connector: str = "shopify", trigger: str = "", **rule: Any
) -> None:
    """p/cart, polled with a condition on `field` (`>= 50` unless `rule` says otherwise),
    its second rule: the field named is its index's."""
    rules = [
        {"field": "currency", "op": "==", "value": "USD"},
        {"field": field, "op": ">=", "value": 50, **rule},
    ]
    write_recipe(
        ws,
        "p/cart",
        cells=("import lpstudio.kernel as lp\nlp.set_result({'event': lp.event})",),
        metadata={
            "title": "cart",
            "trigger": {
                "kind": "poll",
                "connection": "shop",
                "trigger": trigger or "new_or_updated_abandoned_checkout",
                "conditions": {"match": "all", "rules": rules},
            },
            "connections": {"shop": {"type": connector}},
        },
    )


def cli(ws: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--workspace", str(ws), "--json"])


def refused(ws: Path, *args: str) -> dict[str, Any]:
    """The error of a CLI command that must refuse (exit 2)."""
    result = cli(ws, *args)
    assert result.exit_code == 2, result.output
    return json.loads(result.stdout)["error"]


@pytest.mark.parametrize(
    ("field", "said", "fixed"),
    [
        ("totl_price", "'totl_price'", "total_price"),
        ("Total_Price", "'Total_Price'", "total_price"),
        ("line_items.price", "line_items", "line_items"),
        ("total_price.amount", "total_price", "total_price"),
        ("customer.frist_name", "'customer.frist_name'", "customer.first_name"),
        # Ordered (`>= 50`), a list, an object or true or false never passes: all dropped.
        ("line_items", "'line_items' is a list", "a number or a text"),
        ("customer", "'customer' is an object", "a number or a text"),
        ("buyer_accepts_marketing", "is true or false", "with == or !="),
    ],
    ids=[
        "misspelt",
        "cased",
        "inside a list",
        "inside a text",
        "misspelt in an object",
        "a list ordered",
        "an object ordered",
        "a boolean ordered",
    ],
)
def test_a_condition_on_a_field_no_checkout_has_is_refused_wherever_the_recipe_is_read(
    ws: Path, field: str, said: str, fixed: str
) -> None:
    cart_recipe(ws, field)
    with Studio.open(ws, user="alice") as studio, pytest.raises(RecipeError) as caught:
        studio.recipe(CART)
    error = caught.value
    assert error.field == FIELD, error
    assert said in error.message and "checkout" in error.message, error.message
    assert error.fix is not None and fixed in error.fix, error.fix
    listed = json.loads(cli(ws, "recipes").stdout)
    [problem] = [row["problem"] for row in listed if row["recipe"] == CART]
    assert problem.startswith(error.message), problem
    for command in (("run", "p/cart"), ("run", "p/cart", "--test"), ("start", "p/cart")):
        assert refused(ws, *command) == error.to_dict(), command
    with Studio.open(ws, user="alice") as studio:
        with pytest.raises(RecipeError) as form:
            RecipeForm("p/cart", studio)
        assert form.value.field == FIELD
    assert job_rows(ws) == 0


def test_the_fix_names_the_nearest_fields_of_a_checkout(ws: Path) -> None:
    cart_recipe(ws, "totl")
    with Studio.open(ws, user="alice") as studio, pytest.raises(RecipeError) as caught:
        studio.recipe(CART)
    fix = caught.value.fix or ""
    assert "total_price" in fix and "total_tax" in fix, fix
    assert "abandoned_checkout_url" not in fix, fix  # the nearest, not every field


@pytest.mark.parametrize(
    "field",
    [
        "total_price",
        "note",  # a field of Shopify's checkouts the connector does not describe
        "customer.first_name",
        "customer.email",
        "shipping_address.country_code",  # below a field whose own fields are not all declared
    ],
)
def test_a_condition_on_a_field_a_checkout_has_is_accepted(ws: Path, field: str) -> None:
    cart_recipe(ws, field)
    with Studio.open(ws, user="alice") as studio:
        assert studio.recipe(CART).metadata["trigger"]["conditions"]["rules"][1]["field"] == field


def test_a_field_no_op_orders_is_compared_with_equals(ws: Path) -> None:
    """True or false is no number: `>= 50` on it is refused, `== true` taken."""
    cart_recipe(ws, "buyer_accepts_marketing", op="==", value=True)
    with Studio.open(ws, user="alice") as studio:
        assert studio.recipe(CART).metadata["trigger"]["conditions"]["rules"][1]["op"] == "=="


@pytest.mark.parametrize(("connector", "trigger"), [("sql", "new_rows"), ("csv_file", "new_rows")])
def test_a_trigger_whose_records_fields_cannot_be_known_takes_any_field(
    ws: Path, connector: str, trigger: str
) -> None:
    cart_recipe(ws, "totl_price", connector, trigger)
    with Studio.open(ws, user="alice") as studio:
        assert studio.recipe(CART).trigger_kind == "poll"


def test_a_condition_on_a_field_below_a_checkout_s_field_passes_the_checkouts_it_names(
    sandbox_ws: Path, sandbox: Sandbox
) -> None:
    cart_recipe(sandbox_ws, "customer.first_name", op="==", value="Zoe")
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.start(CART)
        carts = [{"customer": {"first_name": name}} for name in ("Zoe", "Ann", "Zoe")]
        answer = httpx.post(f"{sandbox.url}/_sandbox/shopify/checkouts", json=carts, timeout=30)
        assert answer.status_code == 200, answer.text
        zoes = [c["id"] for c in answer.json()["checkouts"] if c["customer"]["first_name"] == "Zoe"]
        queued = studio.poll(CART, run=False)
    assert sorted(job.event["id"] for job in queued) == sorted(zoes)


# -- through the REST API ------------------------------------------------------------------


async def test_the_rest_api_refuses_to_start_it_naming_the_rule(jp_fetch: Any, ws: Path) -> None:
    cart_recipe(ws, "totl_price")

    async def fetch(method: str, *path: str, body: Any = None) -> tuple[int, Any]:
        answer = await jp_fetch(
            "lpstudio",
            "api",
            "v1",
            *path,
            method=method,
            body=None if body is None else json.dumps(body),
            headers={"X-Test-User": "alice"},
            raise_error=False,
        )
        return answer.code, json.loads(answer.body)

    code, answer = await fetch("GET", "recipes")
    assert code == 200, answer
    [problem] = [row["problem"] for row in answer["recipes"] if row["recipe"] == CART]
    assert "'totl_price'" in problem, problem
    for action in ("start", "run", "test"):
        code, answer = await fetch("POST", "recipes", "p", "cart.ipynb", action, body={})
        assert code == 400, (action, answer)
        assert answer["error"]["field"] == FIELD, (action, answer)
        assert "total_price" in answer["error"]["fix"], (action, answer)
    assert job_rows(ws) == 0

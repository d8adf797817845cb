"""The Shopify connection's `shop` as an admin moving to a real shop meets it: a shop URL
Shopify cannot be reached at is refused when saved, a web page where the shop should be
fails the connection's test naming `shop`, a failure that may pass says to test again (no
poll follows a test), and an empty `api_version` is its default on add as on update. Each
through the CLI and the REST API (which the lab's Connections panel uses)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.sandbox import Sandbox, SandboxSettings
from lpstudio.studio import Studio

from .servers import rest
from .test_shopify import fixed_page

TOKEN = {"LPSTUDIO_SECRET_ACCESS_TOKEN": SandboxSettings().shopify_token}
UPDATE = "`lpstudio connections update shop --field shop=...`"
SHPAT = "shpat_x-test-token"
#: What a store's own domain is told: Shopify serves the Admin API at its myshopify.com one.
STOREFRONT = (
    "is not a *.myshopify.com domain, where Shopify serves a shop's Admin API (a store's own "
    "domain serves only its storefront): give the store's myshopify.com domain, e.g. "
    "acme.myshopify.com"
)
WEB_PAGE = b"<html><head><title>Welcome</title></head><body>A shop front</body></html>"


@pytest.fixture
def ws(tmp_path: Path, sandbox: Sandbox) -> Path:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
    return root


@pytest.fixture
def cli(ws: Path) -> Callable[..., Result]:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--workspace", str(ws)], env=env)

    return invoke


def add_shop(cli: Callable[..., Result], *fields: str) -> Result:
    given = [arg for field in fields for arg in ("--field", field)]
    return cli(
        "connections", "add", "shop", "--type", "shopify", *given, "--secret", "access_token",
        "--json", env=TOKEN,
    )  # fmt: skip


REFUSED = [
    ("https://admin.shopify.com/store/brand-2", "give the store's name, brand-2.myshopify.com"),
    ("https://brand.myshopify.com/admin/settings", "holds a path"),
    ("brand.myshopify.com/admin", "holds a path"),
    ("http://brand.myshopify.com", "is plain http, which would send the access token unencrypted"),
    ("https://shop.example.com", STOREFRONT),
    ("shop.example.com/", STOREFRONT),
]


@pytest.mark.parametrize(("shop", "why"), REFUSED)
def test_a_shop_shopify_cannot_be_reached_at_is_refused_when_saved(cli, shop, why):
    """Saved, the admin's page or a path had every request go to a wrong address, and plain
    http to a real shop sent the access token in clear."""
    added = add_shop(cli, f"shop={shop}")

    assert added.exit_code == 2, added.output
    assert "connection field 'shop' (Shop) is invalid" in added.stderr and why in added.stderr
    assert "fix: your-store.myshopify.com" in added.stderr
    assert "shop" not in json.loads(cli("connections", "list", "--json").stdout)


@pytest.mark.parametrize(
    "shop",
    [
        "http://127.0.0.1:9",
        "http://localhost:9/",
        "https://[::1]:9",
        "b.myshopify.com",
        "https://b-2.myshopify.com/",
    ],
)
def test_the_sandbox_s_address_and_a_shop_name_are_saved(cli, shop):
    assert add_shop(cli, f"shop={shop}").exit_code == 0


async def test_the_rest_api_refuses_a_shop_s_admin_page_naming_the_store_to_give(jp_fetch, ws):
    body = {
        "name": "shop",
        "type": "shopify",
        "fields": {"shop": "https://admin.shopify.com/store/brand", "access_token": SHPAT},
    }
    status, answer = await rest(jp_fetch, "POST", "connections", body=body)

    assert status == 400, answer
    error = answer["error"]
    assert error["field"] == "shop" and "brand.myshopify.com" in error["message"], error
    assert error["fix"].startswith("your-store.myshopify.com"), error


async def test_the_rest_api_refuses_a_store_s_own_domain_naming_the_myshopify_one(jp_fetch, ws):
    """A brand's storefront domain was saved, and its token sent there at the first test,
    which found no Admin API; the lab's Connections panel saves through this call."""
    fields = {"shop": "https://shop.example.com", "access_token": SHPAT}
    body = {"name": "shop", "type": "shopify", "fields": fields}
    status, answer = await rest(jp_fetch, "POST", "connections", body=body)

    assert status == 400, answer
    error = answer["error"]
    assert error["field"] == "shop" and STOREFRONT in error["message"], error
    assert error["fix"].startswith("your-store.myshopify.com"), error


def test_a_stored_shop_over_plain_http_is_refused_before_the_token_is_sent(cli, ws):
    """Saved before the rule: its test refuses it naming `shop`, sending nothing."""
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add(
            "shop", "shopify", {"shop": "brand.myshopify.com", "access_token": SHPAT}, "alice"
        )
        with studio.store.write() as s:
            from lpstudio.models import Connection as ConnectionRow

            s.get_one(ConnectionRow, "shop").fields = {"shop": "http://brand.myshopify.com"}

    tested = json.loads(cli("connections", "test", "shop", "--json").stdout)

    assert tested["status"] == "disconnected", tested
    assert "is plain http" in tested["status_message"] and UPDATE in tested["status_message"]


def test_a_web_page_where_the_shop_should_be_fails_the_test_naming_shop(cli, serve):
    """A web site answering 200 at `shop`: the test said connected, and the poll then said
    to test again, which said connected again."""
    site = fixed_page(serve, WEB_PAGE, {"Content-Type": "text/html; charset=utf-8"})
    assert add_shop(cli, f"shop={site}").exit_code == 0

    tested = cli("connections", "test", "shop", "--json")

    assert tested.exit_code == 1, tested.output
    said = json.loads(tested.stdout)["status_message"]
    assert "no checkouts list (text/html)" in said and "test again later" in said, said
    assert "fix: check that shop (your-store.myshopify.com) leads to your shop" in said, said
    assert UPDATE in said and "next poll" not in said, said


async def test_the_rest_test_of_a_web_page_where_the_shop_should_be_names_shop(jp_fetch, ws, serve):
    site = fixed_page(serve, WEB_PAGE, {"Content-Type": "text/html"})
    body = {"name": "shop", "type": "shopify", "fields": {"shop": site, "access_token": SHPAT}}
    assert (await rest(jp_fetch, "POST", "connections", body=body))[0] == 201

    status, info = await rest(jp_fetch, "POST", "connections", "shop", "test", body={})

    assert status == 200 and info["status"] == "disconnected", info
    assert "no checkouts list" in info["status_message"], info
    assert (
        '/lpstudio/api/v1/connections/shop {"fields": {"shop": ...}}' in info["status_message"]
    ), info


def faulty(sandbox: Sandbox) -> None:
    """Every Shopify request of the sandbox answers 503 from now on."""
    import httpx

    fault = {"error_rate": 1.0, "error_status": 503, "scope": "shopify"}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault).raise_for_status()


def test_a_test_the_shop_fails_says_to_test_again_not_that_a_poll_follows(cli, sandbox):
    faulty(sandbox)

    tested = cli("connections", "test", "shopify", "--json")

    said = json.loads(tested.stdout)["status_message"]
    assert "Shopify answered HTTP 503, 3 tries; test again later" in said, said
    assert "next poll" not in said and "`lpstudio connections test shopify`" in said, said


async def test_a_rest_test_the_shop_fails_says_to_test_again(jp_fetch, ws, sandbox):
    faulty(sandbox)

    status, info = await rest(jp_fetch, "POST", "connections", "shopify", "test", body={})

    assert status == 200 and info["status"] == "disconnected", info
    assert "3 tries; test again later" in info["status_message"], info
    assert "next poll" not in info["status_message"], info


def test_a_test_run_the_shop_fails_says_no_poll_follows(cli, ws, sandbox):
    """`run --test` of a poll recipe reads the latest events first: its error said "...; the
    next poll tries again", where no poll follows a Test (the recipe may not be started)."""
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("cart_abandonment", "demo")
    faulty(sandbox)

    tested = cli("run", "demo/cart_abandonment", "--test", "--json")

    assert tested.exit_code != 0, tested.output
    error = json.loads(tested.stdout)["error"]  # refused before any job: nothing to look at
    assert error["message"] == "Shopify answered HTTP 503, 3 tries", error
    assert "`lpstudio connections test shopify`" in error["fix"], error


def test_an_empty_api_version_on_add_is_its_default_as_on_update(cli, sandbox):
    """Empty was refused as required on add, and taken as the default on update."""
    added = add_shop(cli, f"shop={sandbox.url}", "api_version=")

    assert added.exit_code == 0, added.output
    assert "api_version" not in json.loads(added.stdout)["fields"]
    assert cli("connections", "test", "shop").exit_code == 0  # in the default version
    assert add_shop(cli, "shop=").exit_code == 2  # no default: still required
    refused = cli("connections", "add", "x", "--type", "shopify", "--field", "shop=", "--json")
    assert "connection field 'shop' (Shop) is required" in refused.stderr, refused.output


async def test_the_rest_api_takes_an_empty_api_version_on_add_as_its_default(jp_fetch, ws):
    fields = {"shop": "brand.myshopify.com", "access_token": SHPAT, "api_version": ""}
    body = {"name": "shop", "type": "shopify", "fields": fields}
    status, info = await rest(jp_fetch, "POST", "connections", body=body)

    assert status == 201, info
    assert "api_version" not in info["fields"], info

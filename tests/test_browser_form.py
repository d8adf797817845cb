"""The recipe form in a real JupyterLab, in Debian's chromium: lists from the sandbox, Test."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import expect

from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio

from .browser import browser_page, jupyterlab, open_notebook, screenshot


def test_the_cart_template_form_in_jupyterlab(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        root = tmp_path / "ws"
        Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
        with Studio.open(root, user="alice") as studio:
            studio.try_template("cart_abandonment", "shop")
        with jupyterlab(root, tmp_path / "jupyter") as (url, token), browser_page() as page:
            open_notebook(page, url, token, "projects/shop/cart_abandonment.ipynb")
            page.locator(".jp-Notebook .jp-Cell").nth(1).click()
            page.keyboard.press("Shift+Enter")
            page.wait_for_selector("text=Proactive message", timeout=90_000)

            def options(label: str, count: int | None = None) -> list[str]:
                dropdown = page.locator(".widget-dropdown", has_text=label).first
                if count is not None:  # pick lists load after the form shows
                    expect(dropdown.locator("option")).to_have_count(count, timeout=60_000)
                return dropdown.locator("option").all_inner_texts()

            handoffs = options("handoff", 4)  # the default that stands, and three
            assert handoffs[0].replace("\xa0", " ") == "(default: H1000000001)", handoffs
            assert any("wa" in h and "sms" in h for h in handoffs), handoffs
            assert {"billing", "sales", "support"} <= set(options("skill", 4))
            assert page.locator("text=Hi Ava").count() >= 1  # the live preview
            page.get_by_role("button", name="Test").click()
            page.wait_for_selector("text=What would be sent", timeout=90_000)
            assert page.locator("text=templateId").count() >= 1
            screenshot(page, "recipe-form")
        received = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()
        assert received["campaigns"] == []  # Test sends nothing

"""The recipe form in a real JupyterLab, in Debian's chromium: lists from the sandbox, Test,
and its coloured texts readable in the dark theme as in the light one."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import expect

from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio

from .browser import browser_page, jupyterlab, open_notebook, screenshot
from .test_lab_themes_and_narrow import contrast, use_theme


def test_the_cart_template_form_in_jupyterlab(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        root = tmp_path / "ws"
        Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
        with Studio.open(root, user="alice") as studio:
            studio.try_template("cart_abandonment", "shop")
        exposed = ["--LabApp.expose_app_in_browser=True"]  # for `use_theme`
        with (
            jupyterlab(root, tmp_path / "jupyter", args=exposed) as (url, token),
            browser_page() as page,
        ):
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
            # Its help texts and the Test's result at >= 4.5:1 on the output's background
            # in both themes: their colours are the theme's (#555 was 2.5:1 on Dark's #111).
            for theme in ("JupyterLab Dark", "JupyterLab Light"):
                use_theme(page, theme)
                coloured = page.locator(".jp-OutputArea-output [style*='color']")
                shown = [c for c in coloured.all() if c.is_visible() and c.inner_text().strip()]
                assert len(shown) >= 3, coloured.all_inner_texts()
                for text in shown:
                    ratio = contrast(text)
                    assert ratio >= 4.5, (theme, text.inner_text()[:60], ratio)
        received = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()
        assert received["campaigns"] == []  # Test sends nothing

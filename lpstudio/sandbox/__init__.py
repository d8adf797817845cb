"""The sandbox: loopback emulators of LivePerson and Shopify for test mode, demos and tests.

Like a payment provider's test keys, it behaves as API-FACTS.md says the real services do
(token expiry, rate limits, recipients per request, strict variables) and records what it
received, so a test can prove what was sent and that nobody was sent twice.

    from lpstudio.sandbox import Sandbox
    with Sandbox() as sandbox:
        sandbox.url        # http://127.0.0.1:<port>: every emulated API and /_sandbox/

Modules: `settings` (limits and credentials), `liveperson` and `shopify` (the emulated
APIs), `control` (the `/_sandbox/` API), `campaigns` and `reporting` (Proactive rules),
`state` (what is remembered, behind a lock), `handlers` (what every endpoint shares),
`faults`, `limits`, `seed`, `app` (the servers).
"""

from __future__ import annotations

from typing import Any

import httpx

from .app import Sandbox, serve
from .settings import SandboxSettings

__all__ = ["Sandbox", "SandboxSettings", "sandbox_answers", "sandbox_connections", "serve"]


def sandbox_answers(url: str, timeout: float = 2.0) -> bool:
    """Whether a sandbox answers at `url`, asked once with a short timeout: its control API
    answers there, where anything else (nothing listening, another server) does not."""
    try:
        httpx.get(f"{url.rstrip('/')}/_sandbox/settings", timeout=timeout).raise_for_status()
    except httpx.HTTPError:
        return False
    return True


def sandbox_connections(url: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The connections a workspace needs to use a sandbox at `url` (its default keys)."""
    settings = SandboxSettings()
    url = url.rstrip("/")
    return {
        "liveperson": (
            "liveperson_proactive",
            {
                "account_id": settings.account_id,
                "client_id": settings.client_id,
                "client_secret": settings.client_secret,
                "base_url": url,
            },
        ),
        "shopify": ("shopify", {"shop": url, "access_token": settings.shopify_token}),
    }

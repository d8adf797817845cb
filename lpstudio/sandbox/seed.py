"""The data a fresh sandbox starts with: handoffs, templates, skills and abandoned checkouts.

Phone numbers come from ranges reserved for fiction (North American 555-01xx, UK
07700 900xxx), so a sandbox address can never reach a real person if it leaks into a
real send.
"""

from __future__ import annotations

import random
import re
import reprlib
from datetime import UTC, datetime, timedelta
from typing import Any

from ..times import aware
from .settings import require_finite

SHOP_DOMAIN = "sandbox-shop.myshopify.com"

HANDOFFS: tuple[dict[str, Any], ...] = (
    {
        "id": "H1000000001",
        # The templates' handoff: each recipe writes its whole text into {{1}}.
        "title": "SMS message (your text, then the opt-out)",
        "lookBackPeriod": 1440,
        "channels": [
            {
                "channel": "sms",
                "outboundNumber": "+14155550000",
                "template": "{{1}} Reply STOP to opt out.",
            }
        ],
    },
    {
        "id": "H1000000002",
        "title": "Order update WhatsApp, SMS fallback",
        "lookBackPeriod": 4320,
        "channels": [
            {
                "channel": "wa",
                "outboundNumber": "+14155550001",
                "templateId": "order_update_v1",
                "template": "Hello {{1}}, your order {{2}} is on its way.",
            },
            {
                "channel": "sms",
                "outboundNumber": "+14155550000",
                "template": "Hi {{1}}, order {{2}} has shipped.",
            },
        ],
    },
    {
        "id": "H1000000003",
        "title": "Payment due SMS (name and amount)",
        "lookBackPeriod": 60,
        "channels": [
            {
                "channel": "sms",
                "outboundNumber": "+14155550000",
                "template": "Hi {{1}}, a payment of {{2}} is due soon.",
            }
        ],
    },
)

#: The message templates a campaign may name in `templateId` instead of a handoff (it then
#: gives the `outboundNumber` itself): every approved WhatsApp template a handoff uses, and
#: the account's SMS template.
TEMPLATES: tuple[dict[str, Any], ...] = (
    *(
        {"id": channel["templateId"], "channel": "wa", "template": channel["template"]}
        for handoff in HANDOFFS
        for channel in handoff["channels"]
        if channel["channel"] == "wa"
    ),
    {"id": "sms_text_v1", "channel": "sms", "template": "{{1}} Reply STOP to opt out."},
)

SKILLS: tuple[dict[str, Any], ...] = (
    {"id": 1000001, "name": "billing"},
    {"id": 1000002, "name": "sales"},
    {"id": 1000003, "name": "support"},
)

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")

_FIRST_NAMES = ("Ava", "Noah", "Mia", "Liam", "Zoe", "Ethan", "Isla", "Omar", "Lena", "Ravi")
_LAST_NAMES = ("Garcia", "Smith", "Nguyen", "Okafor", "Rossi", "Patel", "Kim", "Murphy")
_PRODUCTS = (
    ("Trail running shoes", "89.00"),
    ("Merino wool socks", "14.50"),
    ("Insulated water bottle", "24.99"),
    ("Packable rain jacket", "119.00"),
    ("Headlamp 300 lm", "34.95"),
    ("Yoga mat", "42.00"),
)
_FIRST_CHECKOUT_ID = 30_000_000_001
_FIRST_CUSTOMER_ID = 7_000_000_001


def placeholders(handoff: dict[str, Any]) -> set[str]:
    """The body variable names (`{{1}}` -> "1") over all of a handoff's channels."""
    return {
        name
        for channel in handoff["channels"]
        for name in _PLACEHOLDER.findall(channel["template"])
    }


def timestamp(moment: datetime) -> str:
    """Shopify's timestamp form: ISO 8601 with an explicit offset."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(text: str) -> datetime:
    """Read a timestamp as Shopify accepts it; one without an offset is taken as UTC.

    Raises ValueError (or TypeError for a non-string) on anything else.
    """
    return aware(datetime.fromisoformat(text))


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return f"+1{rng.choice(('415', '212', '312', '646'))}55501{rng.randrange(100):02d}"
    return f"+447700900{rng.randrange(1000):03d}"


def check_amounts(checkout: dict[str, Any]) -> None:
    """Refuses a line item given without its price or quantity, a line item's price that is
    no finite number, and a quantity that is no whole number of at least
    1, naming it (`line_items[0].price`): "NaN" or "1e400" were taken, and the checkout then
    served `"total_price": "nan"` or `"inf"`; a quantity "x" failed with Python's own words,
    and 2.7 was cut to 2. ValueError, as every invalid checkout."""
    items = checkout.get("line_items") or []
    if not isinstance(items, list):
        raise ValueError("line_items must be a list of line items")
    prices = {}
    for index, item in enumerate(items):
        name = f"line_items[{index}]"
        if not isinstance(item, dict) or not {"price", "quantity"} <= item.keys():
            raise ValueError(f"{name} must be an object with its price and quantity")
        prices[f"{name}.price"] = item["price"]
        require_whole(f"{name}.quantity", item["quantity"])
    for name, price in prices.items():
        require_finite(name, price, 'Shopify\'s "24.99"')


def require_whole(name: str, value: Any) -> None:
    """Refuses a quantity that is no whole number of at least 1 (as text too: "2")."""
    try:
        whole = int(str(value)) if not isinstance(value, bool) else 0
    except ValueError:
        whole = 0
    if whole < 1:
        raise ValueError(
            f"{name} must be a whole number of at least 1, such as 2, not {reprlib.repr(value)}"
        )


def make_checkout(
    index: int, rng: random.Random, created: datetime, given: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One abandoned checkout numbered `index`; fields in `given` replace the invented ones.

    The checkout id always comes from `index`, so ids stay unique and ascending.
    """
    given = dict(given or {})
    check_amounts(given)
    given.pop("id", None)
    if "created_at" in given:
        created = parse_time(given.pop("created_at"))
    for name in ("updated_at", "completed_at"):
        if given.get(name) is not None:
            given[name] = timestamp(parse_time(given[name]))
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    phone = given.get("phone", _phone(rng))
    email = given.get("email", f"{first}.{last}{index}@example.com".lower())
    items = given.get("line_items") or [
        {"title": title, "quantity": rng.randint(1, 3), "price": price}
        for title, price in rng.sample(_PRODUCTS, rng.randint(1, 3))
    ]
    total = sum(float(item["price"]) * int(item["quantity"]) for item in items)
    token = f"{rng.getrandbits(128):032x}"
    customer = {
        "id": _FIRST_CUSTOMER_ID + index,
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "email": email,
    }
    customer.update(given.pop("customer", None) or {})
    checkout = {
        "id": _FIRST_CHECKOUT_ID + index,
        "token": token,
        "created_at": timestamp(created),
        "updated_at": timestamp(created + timedelta(minutes=rng.randint(1, 9))),
        "completed_at": None,
        "abandoned_checkout_url": (
            f"https://{SHOP_DOMAIN}/62830000001/checkouts/{token}/recover"
            f"?key={rng.getrandbits(64):016x}"
        ),
        "email": email,
        "phone": phone,
        "customer": customer,
        "line_items": items,
        "total_price": f"{total:.2f}",
        "currency": "USD",
    }
    checkout.update(given)
    return checkout


def seed_checkouts(count: int, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """`count` checkouts abandoned over the last hours, oldest first (lowest id)."""
    return [
        make_checkout(index, rng, now - timedelta(minutes=37 * (count - index)))
        for index in range(count)
    ]

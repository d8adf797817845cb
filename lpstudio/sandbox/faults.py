"""Injected faults: the misbehaviour real APIs show rarely and tests need on demand.

A plan holds rates, not a script: each request in the plan's scope draws from a seeded
`random.Random`, so the same plan after the same reset fails the same requests. `count`
bounds how many in-scope requests the plan covers; it is then spent and removed.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

SCOPES = ("liveperson", "shopify", "all")


@dataclass(frozen=True)
class FaultPlan:
    """What to do to the requests of one scope.

    error_rate: share of requests answered `error_status` without being processed.
    latency_ms: delay before each request is handled.
    drop_rate: share of requests processed (a campaign is accepted and recorded) whose
        connection is then closed without an answer, like an answer lost on the way.
    """

    error_rate: float = 0.0
    error_status: int = 500
    latency_ms: int = 0
    drop_rate: float = 0.0
    scope: str = "all"
    count: int | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultPlan:
        """Build a plan from the control API's JSON; ValueError names the bad field."""
        fields = {k: v for k, v in body.items() if k not in ("expire_tokens", "seed")}
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault field: {sorted(unknown)[0]}")
        plan = cls(**fields)
        for name in ("error_rate", "drop_rate"):
            value = getattr(plan, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number from 0 to 1")
        if not isinstance(plan.error_status, int) or not 400 <= plan.error_status <= 599:
            raise ValueError("error_status must be an HTTP error status (400-599)")
        if not isinstance(plan.latency_ms, int) or plan.latency_ms < 0:
            raise ValueError("latency_ms must be a non-negative integer")
        if plan.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        if plan.count is not None and (not isinstance(plan.count, int) or plan.count < 1):
            raise ValueError("count must be a positive integer")
        return plan

    def covers(self, scope: str) -> bool:
        return self.scope in ("all", scope)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FaultDecision:
    """The fate of one request, drawn once when it arrives."""

    latency_ms: int = 0
    error_status: int | None = None
    drop: bool = False


def decide(plan: FaultPlan, rng: random.Random) -> FaultDecision:
    """Draw the fate of one request; errors win over drops (an error is never processed)."""
    if rng.random() < plan.error_rate:
        return FaultDecision(plan.latency_ms, error_status=plan.error_status)
    return FaultDecision(plan.latency_ms, drop=rng.random() < plan.drop_rate)

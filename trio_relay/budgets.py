"""Per-session budgets: how much one browser may spend of the upstream's (paid) capacity.
Pure: no I/O, no clock (``now`` is passed in), no tasks.

:class:`Budgets` holds the numbers, from :class:`~trio_relay.config.Limits` and optionally a
ticket's claims (claim names are the settings' lower-case names, e.g. ``max_session_s``).
:class:`BudgetMeter` spends them against a **sliding 60 s window**: an amount is allowed while
the amounts allowed in the 60 s before ``now`` plus it stay within the budget. A refused amount
is not recorded, so a client that keeps asking is not locked out longer than the window. Unlike
a token bucket, a sliding window never lets more than the budget through in *any* 60 s, which
is the promise "N per minute" makes to whoever pays for the upstream: a burst of many small
``user_message``\\ s is counted byte by byte, and it adds up to the same bytes budget as one
large one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import attrs

from .config import Limits

WINDOW_S = 60.0


class Budget(StrEnum):
    """A per-minute budget, named as its setting."""

    USER_MESSAGES = "max_user_messages_per_min"
    USER_TEXT_BYTES = "max_user_text_bytes_per_min"
    RESPONSES = "max_responses_per_min"

    @property
    def what(self) -> str:
        return _WHAT[self]


_WHAT = {
    Budget.USER_MESSAGES: "messages per minute",
    Budget.USER_TEXT_BYTES: "bytes of typed text per minute",
    Budget.RESPONSES: "answers per minute",
}


class InvalidClaims(ValueError):
    """A ticket claim meant to set a budget has the wrong type or value; the ticket is bad."""


@attrs.frozen
class Budgets:
    max_session_s: float
    max_user_messages_per_min: int
    max_user_text_bytes_per_min: int
    max_responses_per_min: int

    @classmethod
    def from_limits(cls, limits: Limits) -> Budgets:
        return cls(
            max_session_s=limits.max_session_s,
            max_user_messages_per_min=limits.max_user_messages_per_min,
            max_user_text_bytes_per_min=limits.max_user_text_bytes_per_min,
            max_responses_per_min=limits.max_responses_per_min,
        )

    def with_claims(self, claims: Mapping[str, object]) -> Budgets:
        """These budgets, with those a ticket's claims set. Claims that name no budget are
        ignored (a ticket carries other claims too); a budget claim of the wrong type or below
        zero raises :class:`InvalidClaims` naming it."""
        changes: dict[str, Any] = {}
        for field in attrs.fields(Budgets):
            if field.name not in claims:
                continue
            value = claims[field.name]
            whole = field.type in (int, "int")
            ok = isinstance(value, int) or (not whole and isinstance(value, float))
            if not ok or isinstance(value, bool):
                kind = "a whole number" if whole else "a number"
                raise InvalidClaims(
                    f"ticket claim {field.name!r} must be {kind}, got {type(value).__name__}"
                )
            assert isinstance(value, int | float)
            if not value >= 0 or value == float("inf"):  # also refuses NaN
                raise InvalidClaims(
                    f"ticket claim {field.name!r} must be a finite number >= 0, got {value!r}"
                )
            changes[field.name] = value
        return attrs.evolve(self, **changes)

    def per_minute(self, budget: Budget) -> int:
        value: int = getattr(self, budget.value)
        return value


@attrs.frozen
class Refused:
    """An amount over its budget: what to tell the browser."""

    budget: Budget
    limit: int

    @property
    def message(self) -> str:
        return (
            f"too many requests: this session may use at most {self.limit} "
            f"{self.budget.what} ({self.budget.value}); try again in a little while"
        )


class BudgetMeter:
    """What one session has spent of each per-minute budget in the last :data:`WINDOW_S`."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets
        # Per budget: (when, amount) of what was allowed, oldest first; bounded by the budget
        # itself (nothing refused is kept, and every entry is at least 1).
        self._spent: dict[Budget, deque[tuple[float, int]]] = {b: deque() for b in Budget}
        self._totals: dict[Budget, int] = dict.fromkeys(Budget, 0)

    def check(self, budget: Budget, amount: int, now: float) -> Refused | None:
        """Would ``amount`` fit at ``now``? Records nothing."""
        self._forget(budget, now)
        limit = self.budgets.per_minute(budget)
        if self._totals[budget] + amount > limit:
            return Refused(budget, limit)
        return None

    def spend(self, budget: Budget, amount: int, now: float) -> Refused | None:
        """Spend ``amount`` at ``now`` if it fits; else spend nothing and say why."""
        refused = self.check(budget, amount, now)
        if refused is None and amount > 0:
            self._spent[budget].append((now, amount))
            self._totals[budget] += amount
        return refused

    def _forget(self, budget: Budget, now: float) -> None:
        spent = self._spent[budget]
        while spent and spent[0][0] <= now - WINDOW_S:
            self._totals[budget] -= spent.popleft()[1]

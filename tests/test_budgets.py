"""Per-session budgets: built from the limits, overridden by a ticket's claims, spent against a
sliding 60 s window."""

from __future__ import annotations

from typing import Any

import pytest

from trio_relay.budgets import Budget, BudgetMeter, Budgets, InvalidClaims
from trio_relay.config import Limits


def test_budgets_come_from_the_limits() -> None:
    limits = Limits(max_session_s=60.0, max_user_messages_per_min=3)
    budgets = Budgets.from_limits(limits)
    assert budgets.max_session_s == 60.0 and budgets.max_user_messages_per_min == 3
    assert budgets.max_user_text_bytes_per_min == limits.max_user_text_bytes_per_min
    assert budgets.max_responses_per_min == limits.max_responses_per_min


def test_claims_override_budgets_by_their_setting_names_and_others_are_ignored() -> None:
    budgets = Budgets.from_limits(Limits()).with_claims(
        {"max_session_s": 90, "max_responses_per_min": 5, "sub": "user-1", "aud": "trio-relay"}
    )
    assert budgets.max_session_s == 90 and budgets.max_responses_per_min == 5
    assert budgets.max_user_messages_per_min == Limits().max_user_messages_per_min


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"max_session_s": "3600"}, "must be a number, got str"),
        ({"max_user_messages_per_min": 2.5}, "must be a whole number, got float"),
        ({"max_responses_per_min": True}, "must be a whole number, got bool"),
        ({"max_user_text_bytes_per_min": -1}, "must be a finite number >= 0"),
        ({"max_session_s": float("nan")}, "must be a finite number >= 0"),
        ({"max_session_s": float("inf")}, "must be a finite number >= 0"),
    ],
)
def test_a_budget_claim_of_the_wrong_type_is_rejected_naming_it(
    claims: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidClaims, match=problem) as raised:
        Budgets.from_limits(Limits()).with_claims(claims)
    assert next(iter(claims)) in str(raised.value)


def meter(**limits: Any) -> BudgetMeter:
    return BudgetMeter(Budgets.from_limits(Limits(**limits)))


def test_the_window_allows_the_budget_in_any_60_seconds_and_slides() -> None:
    spent = meter(max_user_messages_per_min=3)
    for now in (0.0, 10.0, 20.0):
        assert spent.spend(Budget.USER_MESSAGES, 1, now) is None
    refused = spent.spend(Budget.USER_MESSAGES, 1, 59.9)
    assert refused is not None and refused.limit == 3
    assert "3 messages per minute" in refused.message
    assert spent.spend(Budget.USER_MESSAGES, 1, 60.0) is None  # the first has left the window
    assert spent.spend(Budget.USER_MESSAGES, 1, 60.0) is not None


def test_a_refused_amount_is_not_recorded() -> None:
    spent = meter(max_user_text_bytes_per_min=100)
    assert spent.spend(Budget.USER_TEXT_BYTES, 90, 0.0) is None
    for now in range(1, 59):
        assert spent.spend(Budget.USER_TEXT_BYTES, 20, float(now)) is not None
    assert spent.spend(Budget.USER_TEXT_BYTES, 100, 60.0) is None  # nothing refused counted


def test_check_spends_nothing() -> None:
    spent = meter(max_responses_per_min=1)
    assert spent.check(Budget.RESPONSES, 1, 0.0) is None
    assert spent.check(Budget.RESPONSES, 1, 0.0) is None
    assert spent.spend(Budget.RESPONSES, 1, 0.0) is None
    assert spent.check(Budget.RESPONSES, 1, 1.0) is not None


def test_budgets_are_independent() -> None:
    spent = meter(max_user_messages_per_min=1, max_responses_per_min=1)
    assert spent.spend(Budget.USER_MESSAGES, 1, 0.0) is None
    assert spent.spend(Budget.RESPONSES, 1, 0.0) is None

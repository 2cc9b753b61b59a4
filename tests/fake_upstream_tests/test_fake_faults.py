"""The fault table and what each scripted fault makes the engine do."""

from __future__ import annotations

import json

import pytest
from fake_support import (
    AUDIO_DELTA,
    events,
    kinds,
    of_kind,
    send,
    session_update,
    started,
    user_text,
)

from fake_upstream.engine import Close, Drop, Engine, Garbage, Output, Stall
from fake_upstream.faults import REFUSALS, Fault, fault_for, refusal_body


def first_text_turn(fault: Fault) -> tuple[Engine, list[Output]]:
    engine, _ = started("ga", model=fault.value, fault=fault)
    send(engine, user_text("hello"))
    return engine, send(engine, {"type": "response.create", "event_id": "r1"})


def test_fault_names_select_faults_and_other_names_none() -> None:
    assert fault_for("fault-429") is Fault.REFUSE_429
    assert fault_for("gpt-realtime") is None and fault_for(None) is None and fault_for("") is None
    assert REFUSALS == {
        Fault.REFUSE_401: 401,
        Fault.REFUSE_403: 403,
        Fault.REFUSE_429: 429,
        Fault.REFUSE_500: 500,
    }


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500])
def test_refusal_bodies_are_shaped_like_openai_errors(status: int) -> None:
    error = json.loads(refusal_body(status))["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if status == 401:
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")


def test_recoverable_error_answers_the_first_response_create_only() -> None:
    engine, turn = first_text_turn(Fault.ERROR_RECOVERABLE)
    assert kinds(turn) == ["error"]
    error = events(turn)[0]["error"]
    assert (error["type"], error["code"], error["event_id"]) == (
        "invalid_request_error",
        "invalid_value",
        "r1",
    )
    assert not engine.response_active
    assert (
        of_kind(send(engine, {"type": "response.create"}), "response.done")[0]["response"]["status"]
        == "completed"
    )


def test_fatal_error_is_insufficient_quota_then_close_1011() -> None:
    engine, turn = first_text_turn(Fault.ERROR_FATAL)
    error = events(turn)[0]["error"]
    assert (error["type"], error["code"], error["event_id"]) == (
        "insufficient_quota",
        "insufficient_quota",
        "r1",
    )
    assert turn[-1] == Close(1011, "insufficient_quota") and len(turn) == 2
    assert send(engine, {"type": "response.create"}) == []  # nothing after the close


def test_session_expires_after_the_first_completed_response() -> None:
    engine, turn = first_text_turn(Fault.SESSION_EXPIRED)
    assert kinds(turn)[-3:] == ["response.done", "rate_limits.updated", "error"]
    error = events(turn)[-1]["error"]
    assert error["code"] == "session_expired"
    assert error["message"] == "Your session hit the maximum duration of 60 minutes."
    assert turn[-1] == Close(1001, "session expired")


def test_drop_mid_response_sends_a_few_deltas_then_drops() -> None:
    engine, turn = first_text_turn(Fault.DROP_MID_RESPONSE)
    assert isinstance(turn[-1], Drop)
    assert "response.created" in kinds(turn) and "response.done" not in kinds(turn)
    assert sum(k.endswith(".delta") for k in kinds(turn)) == 2
    assert engine.next_output() is None and send(engine, {"type": "response.create"}) == []


def test_garbage_answers_the_next_event_after_session_updated_once() -> None:
    engine, _ = started("ga", model="fault-garbage", fault=Fault.GARBAGE)
    assert send(engine, user_text("x")) == [Garbage()]
    assert kinds(send(engine, user_text("y")))[0] == "conversation.item.added"


def test_garbage_is_not_sent_before_the_session_is_configured() -> None:
    engine = Engine("ga", "fault-garbage", fault=Fault.GARBAGE)
    engine.open()
    assert kinds(send(engine, session_update("ga"))) == ["session.updated"]


def test_stall_never_confirms_the_session() -> None:
    engine = Engine("ga", "fault-stall", fault=Fault.STALL)
    assert kinds(engine.open()) == ["session.created"]
    assert send(engine, session_update("ga")) == [Stall()]
    assert send(engine, user_text("anyone?")) == []


def test_stall_after_connect_confirms_then_goes_silent() -> None:
    engine, out = started("ga", model="fault-stall-after-connect", fault=Fault.STALL_AFTER_CONNECT)
    assert kinds(out) == ["session.created", "session.updated"]
    assert send(engine, user_text("anyone?")) == [Stall()]


def test_faults_act_in_the_beta_dialect_too() -> None:
    engine, _ = started("beta", model="fault-drop-mid-response", fault=Fault.DROP_MID_RESPONSE)
    send(engine, user_text("hello"))
    turn = send(engine, {"type": "response.create"})
    assert isinstance(turn[-1], Drop) and AUDIO_DELTA["ga"] not in kinds(turn)

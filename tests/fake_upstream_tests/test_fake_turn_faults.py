"""The fake's faults for a turn that ends badly: failed, incomplete, never answered, stalled.
Every event they produce is a valid server event of the ``openai`` package for its dialect."""

from __future__ import annotations

from typing import Any

import pytest
from fake_support import DIALECTS, events, kinds, of_kind, send, speech_pcm, started, user_text
from fake_support import append_all as append_speech
from test_fake_conformance import server_event_adapter, undeclared_fields

from fake_upstream.engine import Engine, Output
from fake_upstream.faults import Fault, fault_for
from fake_upstream.protocol import DialectName


def turn(engine: Engine, text: str = "hello") -> list[Output]:
    send(engine, user_text(text))
    return send(engine, {"type": "response.create", "event_id": "relay_response_create_1"})


def assert_valid(dialect: DialectName, outputs: list[Output]) -> None:
    adapter = server_event_adapter(dialect)
    for event in events(outputs):
        assert undeclared_fields(adapter.validate_python(event)) == [], event["type"]


def response_done(outputs: list[Output]) -> dict[str, Any]:
    (done,) = of_kind(outputs, "response.done")
    response: dict[str, Any] = done["response"]
    return response


@pytest.mark.parametrize("fault", [Fault.RESPONSE_FAILED, Fault.RESPONSE_FAILED_TWICE])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_failed_responses_fail_with_a_server_error_then_answers_come(
    dialect: DialectName, fault: Fault
) -> None:
    assert fault_for(fault.value) is fault
    engine, _ = started(dialect, model=fault.value, fault=fault)
    failures = 1 if fault is Fault.RESPONSE_FAILED else 2
    for _ in range(failures):
        outputs = turn(engine)
        assert_valid(dialect, outputs)
        assert kinds(outputs)[-3:-1] == ["response.created", "response.done"]
        response = response_done(outputs)
        assert response["status"] == "failed"
        assert response["status_details"]["error"]["type"] == "server_error"
    answered = turn(engine, "again")
    assert response_done(answered)["status"] == "completed"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_incomplete_response_is_cut_short_after_a_few_deltas(dialect: DialectName) -> None:
    engine, _ = started(dialect, model="fault-response-incomplete", fault=Fault.RESPONSE_INCOMPLETE)
    outputs = turn(engine)
    assert_valid(dialect, outputs)
    response = response_done(outputs)
    assert response["status"] == "incomplete"
    assert response["status_details"]["reason"] == "max_output_tokens"
    assert sum(k.endswith(".delta") for k in kinds(outputs)) == 2
    assert response_done(turn(engine, "again"))["status"] == "completed"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_response_ignores_the_first_response_create_then_answers(
    dialect: DialectName,
) -> None:
    engine, _ = started(dialect, model="fault-no-response", fault=Fault.NO_RESPONSE)
    outputs = turn(engine)
    assert "response.created" not in kinds(outputs) and not engine.response_active
    assert response_done(turn(engine, "again"))["status"] == "completed"


def test_no_response_also_leaves_a_spoken_turn_unanswered() -> None:
    engine, _ = started("ga", model="fault-no-response", fault=Fault.NO_RESPONSE)
    outputs = append_speech(engine, speech_pcm())
    assert "input_audio_buffer.speech_stopped" in kinds(outputs)
    assert "response.created" not in kinds(outputs)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stall_mid_response_goes_silent_until_cancelled(dialect: DialectName) -> None:
    engine, _ = started(dialect, model="fault-stall-mid-response", fault=Fault.STALL_MID_RESPONSE)
    outputs = turn(engine)
    assert "response.done" not in kinds(outputs) and engine.response_active
    assert sum(k.endswith(".delta") for k in kinds(outputs)) == 2
    assert engine.next_output() is None
    response_id = of_kind(outputs, "response.created")[0]["response"]["id"]
    cancelled = send(engine, {"type": "response.cancel", "response_id": response_id})
    assert_valid(dialect, outputs + cancelled)
    assert response_done(cancelled)["status"] == "cancelled"
    assert response_done(turn(engine, "again"))["status"] == "completed"

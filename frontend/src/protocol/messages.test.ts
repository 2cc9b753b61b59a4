import { describe, expect, it } from "vitest";
import { parseServerMessage, serializeUserMessage } from "./messages";

describe("parseServerMessage", () => {
  it("reads every message of the protocol", () => {
    const frames: [string, unknown][] = [
      ['{"type":"control","action":"connected","greeting":"Hi!"}', { type: "control", action: "connected", greeting: "Hi!" }],
      ['{"type":"control","action":"speech_started"}', { type: "control", action: "speech_started" }],
      ['{"type":"control","action":"text_done","id":"item_1-0"}', { type: "control", action: "text_done", id: "item_1-0" }],
      ['{"type":"transcription","id":"item_2","text":"hello"}', { type: "transcription", id: "item_2", text: "hello" }],
      ['{"type":"text_delta","id":"item_1-0","delta":"He"}', { type: "text_delta", id: "item_1-0", delta: "He" }],
      [
        '{"type":"transcription_delta","id":"item_2","delta":"hel"}',
        { type: "transcription_delta", id: "item_2", delta: "hel" },
      ],
      [
        '{"type":"tool_call","id":"call_1","name":"get_time","status":"started"}',
        { type: "tool_call", id: "call_1", name: "get_time", status: "started" },
      ],
      [
        '{"type":"error","code":"upstream_error","message":"boom"}',
        { type: "error", code: "upstream_error", message: "boom" },
      ],
    ];
    for (const [frame, expected] of frames) {
      expect(parseServerMessage(frame)).toEqual({ kind: "message", message: expected });
    }
  });

  it("ignores unknown types and unknown control actions", () => {
    expect(parseServerMessage('{"type":"playback_position","ms":12}').kind).toBe("ignored");
    expect(parseServerMessage('{"type":"control","action":"session_resumed"}').kind).toBe("ignored");
    expect(parseServerMessage('{"type":"control"}').kind).toBe("ignored");
    expect(parseServerMessage('{"no_type":true}').kind).toBe("ignored");
  });

  it("keeps only the fields it knows from a known message with extra fields", () => {
    const result = parseServerMessage('{"type":"text_delta","id":"a-0","delta":"x","extra":1}');
    expect(result).toEqual({ kind: "message", message: { type: "text_delta", id: "a-0", delta: "x" } });
  });

  it("reports malformed JSON without throwing", () => {
    for (const frame of ["", "{", "not json", '{"type":"text_delta"', "\u0000"]) {
      expect(parseServerMessage(frame).kind).toBe("malformed");
    }
  });

  it("reports JSON that is not an object", () => {
    for (const frame of ["null", "42", '"control"', "[]", '[{"type":"control"}]']) {
      expect(parseServerMessage(frame).kind).toBe("malformed");
    }
  });

  it("reports known messages with missing or mistyped fields", () => {
    expect(parseServerMessage('{"type":"text_delta","id":"a-0"}')).toEqual({
      kind: "malformed",
      reason: 'text_delta: "delta" must be a string',
    });
    expect(parseServerMessage('{"type":"transcription","id":7,"text":"x"}').kind).toBe("malformed");
    expect(parseServerMessage('{"type":"control","action":"text_done"}').kind).toBe("malformed");
  });

  it("tolerates a connected message without greeting and an incomplete error", () => {
    expect(parseServerMessage('{"type":"control","action":"connected"}')).toEqual({
      kind: "message",
      message: { type: "control", action: "connected", greeting: "" },
    });
    expect(parseServerMessage('{"type":"error"}')).toEqual({
      kind: "message",
      message: { type: "error", code: "unknown", message: "" },
    });
  });
});

describe("parseServerMessage: tool_call", () => {
  const parse = (fields: object) => parseServerMessage(JSON.stringify({ type: "tool_call", id: "c1", name: "get_time", ...fields }));

  it("keeps the reason of a failed call, and the operator-enabled detail", () => {
    expect(parse({ status: "failed", reason: "timeout" })).toEqual({
      kind: "message",
      message: { type: "tool_call", id: "c1", name: "get_time", status: "failed", reason: "timeout" },
    });
    expect(parse({ status: "started", arguments: { zone: "UTC" } })).toMatchObject({
      message: { status: "started", arguments: { zone: "UTC" } },
    });
    expect(parse({ status: "done", output: "12:00" })).toMatchObject({ message: { status: "done", output: "12:00" } });
  });

  it("ignores statuses it does not know (a later relay may add some)", () => {
    expect(parse({ status: "waiting_for_approval" }).kind).toBe("ignored");
    expect(parse({}).kind).toBe("ignored");
  });

  it("ignores fields and reasons it does not know, or of the wrong type", () => {
    const result = parse({ status: "failed", reason: "out_of_coffee", arguments: "[1]", output: 7, extra: true });
    expect(result).toEqual({ kind: "message", message: { type: "tool_call", id: "c1", name: "get_time", status: "failed" } });
    expect(parse({ status: "done", reason: "timeout" })).toEqual({
      kind: "message",
      message: { type: "tool_call", id: "c1", name: "get_time", status: "done" },
    });
  });

  it("reports a call without a string id or name as malformed", () => {
    expect(parse({ id: 3, status: "started" })).toEqual({ kind: "malformed", reason: 'tool_call: "id" must be a string' });
    expect(parse({ name: null, status: "started" }).kind).toBe("malformed");
  });
});

describe("parseServerMessage: transcription_delta", () => {
  it("needs a string id and delta", () => {
    expect(parseServerMessage('{"type":"transcription_delta","id":"a"}')).toEqual({
      kind: "malformed",
      reason: 'transcription_delta: "delta" must be a string',
    });
  });
});

describe("serializeUserMessage", () => {
  it("sends no id unless one is given, like the reference frontend", () => {
    expect(JSON.parse(serializeUserMessage("hello"))).toEqual({ type: "user_message", text: "hello" });
    expect(JSON.parse(serializeUserMessage("hi", "u1"))).toEqual({ type: "user_message", id: "u1", text: "hi" });
  });

  it("escapes text safely", () => {
    const text = 'quote " backslash \\ newline \n emoji 🎤';
    expect(JSON.parse(serializeUserMessage(text)).text).toBe(text);
  });
});

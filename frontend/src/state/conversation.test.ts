import { describe, expect, it } from "vitest";
import type { ServerMessage } from "../protocol/messages";
import {
  conversationReducer,
  initialConversation,
  type ConversationAction,
  type ConversationState,
  type Line,
} from "./conversation";

const server = (message: ServerMessage): ConversationAction => ({ type: "server_message", message });
const speechStarted = server({ type: "control", action: "speech_started" });
const delta = (id: string, text: string) => server({ type: "text_delta", id, delta: text });
const textDone = (id: string) => server({ type: "control", action: "text_done", id });
const transcription = (id: string, text: string) => server({ type: "transcription", id, text });
const caption = (id: string, text: string) => server({ type: "transcription_delta", id, delta: text });
const toolCall = (id: string, status: "started" | "done" | "failed", extra: object = {}) =>
  server({ type: "tool_call", id, name: "get_time", status, ...extra });
const relayError = (code: string, message: string) => server({ type: "error", code, message });
const micOff: ConversationAction = { type: "microphone_off" };
const closed = (code: number, extra: { everOpened?: boolean; byClient?: boolean } = {}): ConversationAction => ({
  type: "connection_ended",
  code,
  everOpened: extra.everOpened ?? true,
  byClient: extra.byClient ?? false,
});

function run(...actions: ConversationAction[]): ConversationState {
  return actions.reduce(conversationReducer, initialConversation);
}

/** The lines without their keys, for readable comparisons. */
function view(state: ConversationState): Omit<Line, "key">[] {
  return state.lines.map(({ key: _key, ...rest }) => rest);
}

describe("conversationReducer", () => {
  it("shows the greeting of `connected` as an assistant line", () => {
    const state = run(server({ type: "control", action: "connected", greeting: "Hello! How can I help?" }));
    expect(view(state)).toEqual([{ kind: "assistant", text: "Hello! How can I help?", done: true, interrupted: false }]);
  });

  it("adds a typed user turn (sent without id)", () => {
    const state = run({ type: "user_typed", text: "hi there" });
    expect(view(state)).toEqual([{ kind: "user", text: "hi there", spoken: false, pending: false }]);
  });

  it("speech_started creates a pending spoken user bubble", () => {
    const state = run(speechStarted);
    expect(view(state)).toEqual([{ kind: "user", text: "", spoken: true, pending: true }]);
  });

  it("the transcription fills the bubble created by speech_started, even after the reply began", () => {
    const state = run(speechStarted, delta("resp_1-0", "Sure"), transcription("item_u1", "what time is it"));
    expect(view(state)).toEqual([
      { kind: "user", text: "what time is it", spoken: true, pending: false, transcriptionId: "item_u1" },
      { kind: "assistant", text: "Sure", streamId: "resp_1-0", done: false, interrupted: false },
    ]);
  });

  it("transcriptions fill waiting bubbles in the order the user spoke", () => {
    const state = run(speechStarted, speechStarted, transcription("a", "first"), transcription("b", "second"));
    expect(state.lines.map((l) => l.kind === "user" && l.text)).toEqual(["first", "second"]);
  });

  it("a repeated transcription id replaces its text instead of filling another bubble", () => {
    const state = run(speechStarted, transcription("a", "frist"), speechStarted, transcription("a", "first"));
    expect(view(state)).toEqual([
      { kind: "user", text: "first", spoken: true, pending: false, transcriptionId: "a" },
      { kind: "user", text: "", spoken: true, pending: true },
    ]);
  });

  it("a transcription with no waiting bubble gets a bubble of its own", () => {
    const state = run(transcription("a", "hello"));
    expect(view(state)).toEqual([{ kind: "user", text: "hello", spoken: true, pending: false, transcriptionId: "a" }]);
  });

  it("streams text_delta into one line per id until text_done", () => {
    const state = run(delta("r-0", "Hel"), delta("r-0", "lo"), delta("r-0", "!"), textDone("r-0"));
    expect(view(state)).toEqual([{ kind: "assistant", text: "Hello!", streamId: "r-0", done: true, interrupted: false }]);
  });

  it("keeps interleaved streams apart by id", () => {
    const state = run(delta("a-0", "one "), delta("b-0", "two "), delta("a-0", "three"), textDone("a-0"));
    expect(view(state)).toEqual([
      { kind: "assistant", text: "one three", streamId: "a-0", done: true, interrupted: false },
      { kind: "assistant", text: "two ", streamId: "b-0", done: false, interrupted: false },
    ]);
  });

  it("ignores text_done for an unknown id", () => {
    const before = run(delta("a-0", "x"));
    expect(conversationReducer(before, textDone("zzz"))).toBe(before);
  });

  it("speech_started closes a streaming assistant line as interrupted", () => {
    const state = run(delta("a-0", "Let me tell you a long"), speechStarted);
    expect(view(state)).toEqual([
      { kind: "assistant", text: "Let me tell you a long", streamId: "a-0", done: true, interrupted: true },
      { kind: "user", text: "", spoken: true, pending: true },
    ]);
  });

  it("turns errors into error lines, from the relay or from this side", () => {
    const state = run(
      relayError("upstream_error", "The voice service had a problem."),
      { type: "local_error", code: "microphone_unavailable", text: "Microphone permission was refused." },
    );
    expect(view(state)).toEqual([
      { kind: "error", code: "upstream_error", text: "The voice service had a problem." },
      { kind: "error", code: "microphone_unavailable", text: "Microphone permission was refused." },
    ]);
  });

  it("shows a relay error without a message in general words, never as an empty line", () => {
    expect(view(run(relayError("unknown", "")))).toEqual([
      { kind: "error", code: "unknown", text: "Something went wrong. Please try again." },
    ]);
  });

  it("gives every line a unique, stable key", () => {
    const state = run(speechStarted, delta("a", "x"), toolCall("c", "started"), transcription("t", "y"));
    const keys = state.lines.map((l) => l.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(run(speechStarted).lines[0]!.key).toBe(state.lines[0]!.key);
  });

  it("never mutates the previous state", () => {
    const before = run(delta("a-0", "x"), speechStarted);
    const snapshot = JSON.stringify(before);
    conversationReducer(before, delta("a-0", "y"));
    conversationReducer(before, transcription("t", "z"));
    expect(JSON.stringify(before)).toBe(snapshot);
  });
});

describe("live captions", () => {
  it("show the user's words in the bubble speech_started opened, as they are recognised", () => {
    const state = run(speechStarted, caption("item_u1", "what "), caption("item_u1", "time is"));
    expect(view(state)).toEqual([
      { kind: "user", text: "what time is", spoken: true, pending: true, transcriptionId: "item_u1" },
    ]);
  });

  it("the final transcription replaces the caption", () => {
    const state = run(speechStarted, caption("u1", "what tim"), transcription("u1", "What time is it?"));
    expect(view(state)).toEqual([
      { kind: "user", text: "What time is it?", spoken: true, pending: false, transcriptionId: "u1" },
    ]);
  });

  it("a delta that arrives after the final transcription does not change it", () => {
    const state = run(speechStarted, caption("u1", "what"), transcription("u1", "What time is it?"), caption("u1", " time"));
    expect(state.lines[0]).toMatchObject({ text: "What time is it?", pending: false });
  });

  it("captions of two turns fill their own bubbles, in the order the user spoke", () => {
    const state = run(
      speechStarted,
      speechStarted,
      caption("a", "first"),
      caption("b", "second"),
      caption("a", " turn"),
      transcription("b", "Second turn."),
    );
    expect(view(state)).toEqual([
      { kind: "user", text: "first turn", spoken: true, pending: true, transcriptionId: "a" },
      { kind: "user", text: "Second turn.", spoken: true, pending: false, transcriptionId: "b" },
    ]);
  });

  it("a final transcription does not take a bubble another turn's captions are filling", () => {
    const state = run(speechStarted, caption("a", "still talk"), speechStarted, transcription("b", "Hello."));
    expect(state.lines.map((l) => l.kind === "user" && [l.transcriptionId, l.text])).toEqual([
      ["a", "still talk"],
      ["b", "Hello."],
    ]);
  });

  it("a caption with no bubble waiting opens one of its own", () => {
    expect(view(run(caption("a", "hi")))).toEqual([
      { kind: "user", text: "hi", spoken: true, pending: true, transcriptionId: "a" },
    ]);
  });
});

describe("transient lines end with what they describe", () => {
  it("turning the microphone off removes a Speaking… bubble that has no words yet", () => {
    const state = run(delta("r-0", "Hello"), textDone("r-0"), speechStarted, micOff);
    expect(state.lines.map((l) => l.kind)).toEqual(["assistant"]);
  });

  it("a bubble with a caption stays after mic-off, and its final transcript still arrives", () => {
    const state = run(speechStarted, caption("a", "turn it"), micOff, caption("a", " off"), transcription("a", "Turn it off."));
    expect(view(state)).toEqual([{ kind: "user", text: "Turn it off.", spoken: true, pending: false, transcriptionId: "a" }]);
  });

  it("a transcript for a bubble removed at mic-off gets a bubble of its own", () => {
    const state = run(speechStarted, micOff, transcription("a", "Bye."));
    expect(view(state)).toEqual([{ kind: "user", text: "Bye.", spoken: true, pending: false, transcriptionId: "a" }]);
  });

  it("the connection ending ends Speaking…, captions, streaming answers and running tool calls", () => {
    const state = run(
      speechStarted,
      caption("a", "and then"),
      delta("r-0", "Let me"),
      toolCall("c1", "started"),
      speechStarted,
      closed(1000, { byClient: true }),
    );
    expect(view(state)).toEqual([
      { kind: "user", text: "and then", spoken: true, pending: false, transcriptionId: "a" },
      { kind: "assistant", text: "Let me", streamId: "r-0", done: true, interrupted: true },
      { kind: "activity", activityId: "tool_call:c1", topic: "tool_call", subject: "get time", phase: "stopped" },
    ]);
  });

  it("finished tool calls stay as they were when the connection ends", () => {
    const state = run(toolCall("c1", "done"), toolCall("c2", "failed", { reason: "timeout" }), closed(1000, { byClient: true }));
    expect(state.lines.map((l) => l.kind === "activity" && l.phase)).toEqual(["done", "failed"]);
  });
});

describe("why the connection ended: said once", () => {
  it("the relay's error explains the close that follows it: no second message", () => {
    const message = "The voice service is unavailable right now. Please try again in a moment.";
    const state = run(relayError("upstream_unavailable", message), closed(1011));
    expect(view(state)).toEqual([{ kind: "error", code: "upstream_unavailable", text: message }]);
  });

  it("a close the relay did not explain gets words for the user", () => {
    expect(view(run(server({ type: "control", action: "connected", greeting: "" }), closed(1006)))).toEqual([
      { kind: "error", code: "close_1006", text: "The connection was lost. Please reconnect." },
    ]);
    expect(view(run(closed(1006, { everOpened: false })))).toEqual([
      { kind: "error", code: "close_1006", text: "The service could not be reached. Please try again in a moment." },
    ]);
  });

  it("an error followed by other messages does not explain a later close", () => {
    const state = run(relayError("transcription_failed", "Your words could not be recognised."), delta("r-0", "Hi"), closed(1006));
    expect(state.lines.at(-1)).toMatchObject({ kind: "error", code: "close_1006" });
  });

  it("an error explains one close only: the next connection's failure is said again", () => {
    const state = run(relayError("upstream_unavailable", "Unavailable."), closed(1011), closed(1006, { everOpened: false }));
    expect(state.lines.map((l) => l.kind === "error" && l.code)).toEqual(["upstream_unavailable", "close_1006"]);
  });

  it("nothing to say when the user disconnected or the relay closed normally", () => {
    expect(run(closed(1006, { byClient: true })).lines).toEqual([]);
    expect(run(closed(1000)).lines).toEqual([]);
  });
});

describe("tool calls", () => {
  it("one line per call id, updated in place as its status changes", () => {
    const started = run(delta("r-0", "Let me check."), toolCall("c1", "started"));
    const done = conversationReducer(started, toolCall("c1", "done"));
    expect(done.lines).toHaveLength(2);
    expect(done.lines[1]).toMatchObject({ kind: "activity", activityId: "tool_call:c1", phase: "done" });
    expect(done.lines[1]!.key).toBe(started.lines[1]!.key);
  });

  it("calls running side by side keep their own lines", () => {
    const state = run(toolCall("c1", "started"), toolCall("c2", "started"), toolCall("c2", "failed", { reason: "timeout" }), toolCall("c1", "done"));
    expect(state.lines.map((l) => l.kind === "activity" && [l.activityId, l.phase, l.reason])).toEqual([
      ["tool_call:c1", "done", undefined],
      ["tool_call:c2", "failed", "timeout"],
    ]);
  });

  it("a result without a start still gets its line; a late start does not reopen it", () => {
    const state = run(toolCall("c1", "done", { output: "12:00" }), toolCall("c1", "started"));
    expect(view(state)).toEqual([
      { kind: "activity", activityId: "tool_call:c1", topic: "tool_call", subject: "get time", phase: "done", output: "12:00" },
    ]);
  });

  it("other activities join the same lines through the activity action", () => {
    const activity = { activityId: "tool_call:local", topic: "tool_call", subject: "warm up", phase: "active" } as const;
    const state = run({ type: "activity", activity }, { type: "activity", activity: { ...activity, phase: "done" } });
    expect(view(state)).toEqual([{ kind: "activity", ...activity, phase: "done" }]);
  });
});

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
      server({ type: "error", code: "upstream_error", message: "rate limited" }),
      { type: "local_error", code: "microphone_unavailable", text: "Microphone permission was refused." },
    );
    expect(view(state)).toEqual([
      { kind: "error", code: "upstream_error", text: "rate limited" },
      { kind: "error", code: "microphone_unavailable", text: "Microphone permission was refused." },
    ]);
  });

  it("adds status lines", () => {
    expect(view(run({ type: "status", text: "Connected." }))).toEqual([{ kind: "status", text: "Connected." }]);
  });

  it("gives every line a unique, stable key", () => {
    const state = run(speechStarted, delta("a", "x"), { type: "status", text: "s" }, transcription("t", "y"));
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

/**
 * The conversation shown on screen, as a pure reducer: relay messages and local events in, a
 * list of lines out. No I/O, no React: the tests drive it directly.
 *
 * - `speech_started` opens a spoken user bubble; the next `transcription` fills the oldest
 *   bubble still waiting (transcripts arrive in the order the user spoke).
 * - `text_delta` streams into the assistant line with the same `id` (created on first delta);
 *   `text_done` closes it. `speech_started` also closes any assistant line still streaming:
 *   the user interrupted it.
 * - `connected` shows its greeting as an assistant line; `error` becomes an error line.
 */

import type { ServerMessage } from "../protocol/messages";

export interface UserLine {
  readonly kind: "user";
  readonly key: string;
  readonly text: string;
  readonly spoken: boolean;
  /** A spoken bubble waiting for its transcription. */
  readonly pending: boolean;
  readonly transcriptionId?: string;
}

export interface AssistantLine {
  readonly kind: "assistant";
  readonly key: string;
  readonly text: string;
  /** The relay's text stream id (`<item_id>-<content_index>`); absent for the greeting. */
  readonly streamId?: string;
  readonly done: boolean;
  /** Closed by the user speaking over it rather than by `text_done`. */
  readonly interrupted: boolean;
}

export interface StatusLine {
  readonly kind: "status";
  readonly key: string;
  readonly text: string;
}

export interface ErrorLine {
  readonly kind: "error";
  readonly key: string;
  readonly code: string;
  readonly text: string;
}

export type Line = UserLine | AssistantLine | StatusLine | ErrorLine;

export interface ConversationState {
  readonly lines: readonly Line[];
  readonly nextKey: number;
}

export type ConversationAction =
  | { readonly type: "server_message"; readonly message: ServerMessage }
  /** The user sent a typed turn. */
  | { readonly type: "user_typed"; readonly text: string }
  | { readonly type: "status"; readonly text: string }
  /** A problem found on this side (microphone refused, unreadable frame, ...). */
  | { readonly type: "local_error"; readonly code: string; readonly text: string };

export const initialConversation: ConversationState = { lines: [], nextKey: 0 };

type NewLine =
  | Omit<UserLine, "key">
  | Omit<AssistantLine, "key">
  | Omit<StatusLine, "key">
  | Omit<ErrorLine, "key">;

function append(state: ConversationState, line: NewLine): ConversationState {
  return {
    lines: [...state.lines, { ...line, key: `line-${state.nextKey}` } as Line],
    nextKey: state.nextKey + 1,
  };
}

function replaceAt(state: ConversationState, index: number, line: Line): ConversationState {
  const lines = state.lines.slice();
  lines[index] = line;
  return { ...state, lines };
}

function findLastIndex(lines: readonly Line[], predicate: (line: Line) => boolean): number {
  for (let i = lines.length - 1; i >= 0; i--) if (predicate(lines[i]!)) return i;
  return -1;
}

function isStream(line: Line, id: string): line is AssistantLine {
  return line.kind === "assistant" && line.streamId === id;
}

function speechStarted(state: ConversationState): ConversationState {
  const lines = state.lines.map((line) =>
    line.kind === "assistant" && !line.done ? { ...line, done: true, interrupted: true } : line,
  );
  return append({ ...state, lines }, { kind: "user", text: "", spoken: true, pending: true });
}

function transcription(state: ConversationState, id: string, text: string): ConversationState {
  const filled = { text, pending: false, transcriptionId: id };
  // The same transcript again (a retry upstream) replaces the text it gave before.
  const same = state.lines.findIndex((l) => l.kind === "user" && l.transcriptionId === id);
  const waiting = state.lines.findIndex((l) => l.kind === "user" && l.pending);
  const index = same >= 0 ? same : waiting;
  if (index < 0) return append(state, { kind: "user", spoken: true, ...filled });
  return replaceAt(state, index, { ...(state.lines[index] as UserLine), ...filled });
}

function textDelta(state: ConversationState, id: string, delta: string): ConversationState {
  const index = findLastIndex(state.lines, (l) => isStream(l, id));
  if (index < 0) {
    return append(state, { kind: "assistant", text: delta, streamId: id, done: false, interrupted: false });
  }
  const line = state.lines[index] as AssistantLine;
  return replaceAt(state, index, { ...line, text: line.text + delta });
}

function textDone(state: ConversationState, id: string): ConversationState {
  const index = findLastIndex(state.lines, (l) => isStream(l, id));
  if (index < 0) return state;
  const line = state.lines[index] as AssistantLine;
  return line.done ? state : replaceAt(state, index, { ...line, done: true });
}

function serverMessage(state: ConversationState, message: ServerMessage): ConversationState {
  switch (message.type) {
    case "control":
      switch (message.action) {
        case "connected":
          if (!message.greeting) return state;
          return append(state, { kind: "assistant", text: message.greeting, done: true, interrupted: false });
        case "speech_started":
          return speechStarted(state);
        case "text_done":
          return textDone(state, message.id);
      }
      break;
    case "transcription":
      return transcription(state, message.id, message.text);
    case "text_delta":
      return textDelta(state, message.id, message.delta);
    case "error":
      return append(state, { kind: "error", code: message.code, text: message.message });
  }
  return state;
}

export function conversationReducer(state: ConversationState, action: ConversationAction): ConversationState {
  switch (action.type) {
    case "server_message":
      return serverMessage(state, action.message);
    case "user_typed":
      return append(state, { kind: "user", text: action.text, spoken: false, pending: false });
    case "status":
      return append(state, { kind: "status", text: action.text });
    case "local_error":
      return append(state, { kind: "error", code: action.code, text: action.text });
  }
}

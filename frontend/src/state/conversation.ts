/**
 * The conversation shown on screen, as a pure reducer: relay messages and local events in, a
 * list of lines out. No I/O, no React: the tests drive it directly.
 *
 * - `speech_started` opens a spoken user bubble ("Speaking…"). Live captions
 *   (`transcription_delta`) fill it as the words are recognised; the final `transcription`
 *   replaces them. Both find the bubble by the upstream item id, or else take the oldest bubble
 *   still waiting for words (transcripts arrive in the order the user spoke).
 * - `text_delta` streams into the assistant line with the same `id` (created on first delta);
 *   `text_done` closes it. `speech_started` also closes any assistant line still streaming:
 *   the user interrupted it.
 * - `tool_call` is an activity line, updated in place by id (see ./activity).
 * - `connected` shows its greeting as an assistant line; `error` becomes an error line.
 * - Transient lines do not outlive what they describe: turning the microphone off removes a
 *   "Speaking…" bubble that has no words yet; the connection ending also ends live captions,
 *   streaming answers and running activities, and says why it ended if the relay did not.
 *
 * The connection's state itself is not a line: the header shows it, once.
 */

import { closeMessageForUser } from "../protocol/closeCodes";
import type { ServerMessage } from "../protocol/messages";
import { mergeActivity, toolCallActivity, type Activity } from "./activity";

export interface UserLine {
  readonly kind: "user";
  readonly key: string;
  /** Typed text, the final transcript, or the live caption while `pending`. */
  readonly text: string;
  readonly spoken: boolean;
  /** A spoken bubble whose final transcription has not arrived (it may show a live caption). */
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
  /** Closed by the user speaking over it (or the connection ending) rather than by `text_done`. */
  readonly interrupted: boolean;
}

export interface ActivityLine extends Activity {
  readonly kind: "activity";
  readonly key: string;
}

export interface ErrorLine {
  readonly kind: "error";
  readonly key: string;
  /** For the developer (a `data-` attribute, the console); the text is for the user. */
  readonly code: string;
  readonly text: string;
}

export type Line = UserLine | AssistantLine | ActivityLine | ErrorLine;

export interface ConversationState {
  readonly lines: readonly Line[];
  readonly nextKey: number;
  /** The relay's latest message was an error: a close right after it is already explained. */
  readonly closeExplained: boolean;
}

export type ConversationAction =
  | { readonly type: "server_message"; readonly message: ServerMessage }
  /** The user sent a typed turn. */
  | { readonly type: "user_typed"; readonly text: string }
  /** An activity of this side starts or changes (the relay's tool calls come as messages). */
  | { readonly type: "activity"; readonly activity: Activity }
  /** A problem found on this side (microphone refused, unreadable frame, ...). */
  | { readonly type: "local_error"; readonly code: string; readonly text: string }
  | { readonly type: "microphone_off" }
  | {
      readonly type: "connection_ended";
      readonly code: number;
      readonly everOpened: boolean;
      /** The user asked for it (Disconnect): nothing to explain. */
      readonly byClient: boolean;
    };

export const initialConversation: ConversationState = { lines: [], nextKey: 0, closeExplained: false };

/** Shown when the relay's error came without a message (it never should). */
const FALLBACK_ERROR_TEXT = "Something went wrong. Please try again.";

type NewLine =
  | Omit<UserLine, "key">
  | Omit<AssistantLine, "key">
  | Omit<ActivityLine, "key">
  | Omit<ErrorLine, "key">;

function append(state: ConversationState, line: NewLine): ConversationState {
  return {
    ...state,
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

/** A "Speaking…" bubble: spoken, no final transcript, and no caption yet. */
function isWordless(line: Line): boolean {
  return line.kind === "user" && line.pending && line.text === "";
}

/** The bubble transcripts of `id` belong to: the one already given that id, else the oldest
 * bubble still waiting that no other transcript has claimed; -1 when there is none. */
function bubbleFor(lines: readonly Line[], id: string): number {
  const same = lines.findIndex((l) => l.kind === "user" && l.transcriptionId === id);
  if (same >= 0) return same;
  return lines.findIndex((l) => l.kind === "user" && l.pending && l.transcriptionId === undefined);
}

function speechStarted(state: ConversationState): ConversationState {
  const lines = state.lines.map((line) =>
    line.kind === "assistant" && !line.done ? { ...line, done: true, interrupted: true } : line,
  );
  return append({ ...state, lines }, { kind: "user", text: "", spoken: true, pending: true });
}

function transcriptionDelta(state: ConversationState, id: string, delta: string): ConversationState {
  const index = bubbleFor(state.lines, id);
  if (index < 0) return append(state, { kind: "user", text: delta, spoken: true, pending: true, transcriptionId: id });
  const line = state.lines[index] as UserLine;
  // A delta after the final transcript (late, or repeated) must not spoil it.
  if (!line.pending) return state;
  const text = line.transcriptionId === id ? line.text + delta : delta;
  return replaceAt(state, index, { ...line, text, transcriptionId: id });
}

function transcription(state: ConversationState, id: string, text: string): ConversationState {
  const filled = { text, pending: false, transcriptionId: id };
  // The final transcript replaces the live caption, and a repeated one (a retry upstream)
  // replaces the text it gave before.
  const index = bubbleFor(state.lines, id);
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

function activity(state: ConversationState, update: Activity): ConversationState {
  const index = state.lines.findIndex((l) => l.kind === "activity" && l.activityId === update.activityId);
  if (index < 0) return append(state, { kind: "activity", ...update });
  const line = state.lines[index] as ActivityLine;
  const merged = mergeActivity(line, update);
  return merged === line ? state : replaceAt(state, index, { ...merged, kind: "activity", key: line.key });
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
    case "transcription_delta":
      return transcriptionDelta(state, message.id, message.delta);
    case "text_delta":
      return textDelta(state, message.id, message.delta);
    case "tool_call":
      return activity(state, toolCallActivity(message));
    case "error":
      return append(state, { kind: "error", code: message.code, text: message.message || FALLBACK_ERROR_TEXT });
  }
  return state;
}

function microphoneOff(state: ConversationState): ConversationState {
  // A bubble with a caption stays: its final transcript is still on its way.
  const lines = state.lines.filter((line) => !isWordless(line));
  return lines.length === state.lines.length ? state : { ...state, lines };
}

/** Nothing more arrives on this connection: whatever was still going on has ended. */
function endTransientLines(lines: readonly Line[]): Line[] {
  return lines
    .filter((line) => !isWordless(line))
    .map((line): Line => {
      if (line.kind === "user" && line.pending) return { ...line, pending: false };
      if (line.kind === "assistant" && !line.done) return { ...line, done: true, interrupted: true };
      if (line.kind === "activity" && line.phase === "active") return { ...line, phase: "stopped" };
      return line;
    });
}

function connectionEnded(
  state: ConversationState,
  action: Extract<ConversationAction, { type: "connection_ended" }>,
): ConversationState {
  const ended: ConversationState = { ...state, lines: endTransientLines(state.lines), closeExplained: false };
  if (action.byClient || state.closeExplained) return ended;
  const text = closeMessageForUser(action.code, action.everOpened);
  return text === null ? ended : append(ended, { kind: "error", code: `close_${action.code}`, text });
}

export function conversationReducer(state: ConversationState, action: ConversationAction): ConversationState {
  switch (action.type) {
    case "server_message": {
      const next = serverMessage(state, action.message);
      const closeExplained = action.message.type === "error";
      return next.closeExplained === closeExplained ? next : { ...next, closeExplained };
    }
    case "user_typed":
      return append(state, { kind: "user", text: action.text, spoken: false, pending: false });
    case "activity":
      return activity(state, action.activity);
    case "local_error":
      return append(state, { kind: "error", code: action.code, text: action.text });
    case "microphone_off":
      return microphoneOff(state);
    case "connection_ended":
      return connectionEnded(state, action);
  }
}

/**
 * The browser <-> relay protocol (docs/protocol.md, section 1) as types, plus parsing and
 * serialisation. Pure: no WebSocket, no DOM.
 *
 * Parsing never throws. Unknown message types and unknown control actions are *ignored* (the
 * protocol grows by adding types and actions); a frame that is not JSON, or a known type with
 * missing or mistyped fields, is *malformed* and reported to the caller.
 */

export interface ConnectedMessage {
  readonly type: "control";
  readonly action: "connected";
  readonly greeting: string;
}

export interface SpeechStartedMessage {
  readonly type: "control";
  readonly action: "speech_started";
}

export interface TextDoneMessage {
  readonly type: "control";
  readonly action: "text_done";
  readonly id: string;
}

export interface TranscriptionMessage {
  readonly type: "transcription";
  readonly id: string;
  readonly text: string;
}

export interface TextDeltaMessage {
  readonly type: "text_delta";
  readonly id: string;
  readonly delta: string;
}

/** Partial transcript of the user's speech (live captions); `id` is the final transcription's id. */
export interface TranscriptionDeltaMessage {
  readonly type: "transcription_delta";
  readonly id: string;
  readonly delta: string;
}

export interface ErrorMessage {
  readonly type: "error";
  readonly code: string;
  readonly message: string;
}

export const TOOL_CALL_STATUSES = ["started", "done", "failed"] as const;
export type ToolCallStatus = (typeof TOOL_CALL_STATUSES)[number];

export const TOOL_CALL_FAILURES = ["invalid_arguments", "timeout", "error", "cancelled"] as const;
export type ToolCallFailure = (typeof TOOL_CALL_FAILURES)[number];

/**
 * A tool the relay runs for the assistant (server side), as its status changes. `arguments`
 * and `output` come only when the operator enabled that detail.
 */
export interface ToolCallMessage {
  readonly type: "tool_call";
  readonly id: string;
  readonly name: string;
  readonly status: ToolCallStatus;
  /** Why it failed; only on `failed`, and only a reason this client knows. */
  readonly reason?: ToolCallFailure;
  readonly arguments?: Readonly<Record<string, unknown>>;
  readonly output?: string;
}

/** Every relay -> browser text frame this client understands. */
export type ServerMessage =
  | ConnectedMessage
  | SpeechStartedMessage
  | TextDoneMessage
  | TranscriptionMessage
  | TextDeltaMessage
  | TranscriptionDeltaMessage
  | ToolCallMessage
  | ErrorMessage;

/** The only browser -> relay text frame. The reference frontend sends it without `id`. */
export interface UserMessage {
  readonly type: "user_message";
  readonly text: string;
  readonly id?: string;
}

export type ParseResult =
  | { readonly kind: "message"; readonly message: ServerMessage }
  | { readonly kind: "ignored"; readonly reason: string }
  | { readonly kind: "malformed"; readonly reason: string };

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function malformed(reason: string): ParseResult {
  return { kind: "malformed", reason };
}

function message(msg: ServerMessage): ParseResult {
  return { kind: "message", message: msg };
}

/** Returns the string fields named, or the name of the first one that is missing or not a string. */
function stringFields<K extends string>(
  obj: JsonObject,
  names: readonly K[],
): { readonly ok: true; readonly values: Record<K, string> } | { readonly ok: false; readonly field: K } {
  const values = {} as Record<K, string>;
  for (const name of names) {
    const value = obj[name];
    if (typeof value !== "string") return { ok: false, field: name };
    values[name] = value;
  }
  return { ok: true, values };
}

function parseControl(obj: JsonObject): ParseResult {
  const action = obj["action"];
  switch (action) {
    case "connected": {
      // A missing greeting is tolerated: the session is up either way.
      const greeting = typeof obj["greeting"] === "string" ? obj["greeting"] : "";
      return message({ type: "control", action, greeting });
    }
    case "speech_started":
      return message({ type: "control", action });
    case "text_done": {
      const fields = stringFields(obj, ["id"]);
      if (!fields.ok) return malformed(`control text_done: "${fields.field}" must be a string`);
      return message({ type: "control", action, id: fields.values.id });
    }
    default:
      return { kind: "ignored", reason: `unknown control action ${JSON.stringify(action)}` };
  }
}

function isOneOf<T extends string>(values: readonly T[], value: unknown): value is T {
  return (values as readonly unknown[]).includes(value);
}

/** Unknown statuses are ignored (a later relay may add some); unknown reasons and fields too. */
function parseToolCall(obj: JsonObject): ParseResult {
  const fields = stringFields(obj, ["id", "name"]);
  if (!fields.ok) return malformed(`tool_call: "${fields.field}" must be a string`);
  const status = obj["status"];
  if (!isOneOf(TOOL_CALL_STATUSES, status)) {
    return { kind: "ignored", reason: `unknown tool_call status ${JSON.stringify(status)}` };
  }
  const reason = obj["reason"];
  const args = obj["arguments"];
  const output = obj["output"];
  return message({
    type: "tool_call",
    ...fields.values,
    status,
    ...(status === "failed" && isOneOf(TOOL_CALL_FAILURES, reason) ? { reason } : {}),
    ...(isObject(args) ? { arguments: args } : {}),
    ...(typeof output === "string" ? { output } : {}),
  });
}

/** Parses one text frame from the relay. Never throws. */
export function parseServerMessage(text: string): ParseResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return malformed("not valid JSON");
  }
  if (!isObject(data)) return malformed("not a JSON object");
  const type = data["type"];
  switch (type) {
    case "control":
      return parseControl(data);
    case "transcription": {
      const fields = stringFields(data, ["id", "text"]);
      if (!fields.ok) return malformed(`transcription: "${fields.field}" must be a string`);
      return message({ type, ...fields.values });
    }
    case "text_delta": {
      const fields = stringFields(data, ["id", "delta"]);
      if (!fields.ok) return malformed(`text_delta: "${fields.field}" must be a string`);
      return message({ type, ...fields.values });
    }
    case "transcription_delta": {
      const fields = stringFields(data, ["id", "delta"]);
      if (!fields.ok) return malformed(`transcription_delta: "${fields.field}" must be a string`);
      return message({ type, ...fields.values });
    }
    case "tool_call":
      return parseToolCall(data);
    case "error": {
      // Errors are shown even when incomplete: losing one would hide a failure.
      const code = typeof data["code"] === "string" ? data["code"] : "unknown";
      const msg = typeof data["message"] === "string" ? data["message"] : "";
      return message({ type, code, message: msg });
    }
    default:
      return { kind: "ignored", reason: `unknown message type ${JSON.stringify(type)}` };
  }
}

/** Serialises a user text turn. `id` is left out unless given, like the reference frontend. */
export function serializeUserMessage(text: string, id?: string): string {
  const msg: UserMessage = id === undefined ? { type: "user_message", text } : { type: "user_message", id, text };
  return JSON.stringify(msg);
}

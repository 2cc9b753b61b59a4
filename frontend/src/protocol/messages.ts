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

export interface ErrorMessage {
  readonly type: "error";
  readonly code: string;
  readonly message: string;
}

/** Every relay -> browser text frame this client understands. */
export type ServerMessage =
  | ConnectedMessage
  | SpeechStartedMessage
  | TextDoneMessage
  | TranscriptionMessage
  | TextDeltaMessage
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

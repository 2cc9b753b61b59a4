/**
 * WebSocket close codes, as the relay uses them (docs/protocol.md): in words for the developer
 * (`describeClose`, logged to the console) and as a message fit for an end user
 * (`closeMessageForUser`, shown only when the relay said nothing itself). Pure.
 */

const CLOSE_CODE_WORDS: Readonly<Record<number, string>> = {
  1000: "normal closure",
  1001: "server going away",
  1005: "closed without a status code",
  1006: "connection lost",
  1008: "refused by policy (authentication or origin)",
  1009: "message too big",
  1011: "upstream failure",
  1013: "try again later",
};

export function closeCodeWords(code: number): string {
  return CLOSE_CODE_WORDS[code] ?? "closed";
}

/**
 * One line describing why a connection closed, e.g. "upstream failure (1011): no key".
 * `everOpened` distinguishes a relay that could not be reached from a connection that dropped.
 */
export function describeClose(code: number, reason: string, everOpened = true): string {
  const words = code === 1006 && !everOpened ? "could not connect" : closeCodeWords(code);
  const detail = reason.trim();
  return detail ? `${words} (${code}): ${detail}` : `${words} (${code})`;
}

const USER_MESSAGES: Readonly<Record<number, string>> = {
  1001: "The service is restarting. Please reconnect in a moment.",
  1005: "The connection was closed. Please reconnect.",
  1006: "The connection was lost. Please reconnect.",
  1008: "The connection was not allowed.",
  1009: "A message was too big to send.",
  1011: "The voice service ended the conversation unexpectedly. Please reconnect.",
  1013: "The service is busy right now. Please try again in a moment.",
};

/**
 * What to tell an end user about a close, or null for a normal one. The relay's own
 * `error.message` says it better and comes first; this is for closes without one (the relay
 * could not be reached, the network dropped). Never the close reason: that is detail for the
 * console, and is cut short.
 */
export function closeMessageForUser(code: number, everOpened: boolean): string | null {
  if (code === 1000) return null;
  if (!everOpened) return "The service could not be reached. Please try again in a moment.";
  return USER_MESSAGES[code] ?? "The conversation ended unexpectedly. Please reconnect.";
}

/** WebSocket close codes in words, as the relay uses them (docs/protocol.md). Pure. */

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

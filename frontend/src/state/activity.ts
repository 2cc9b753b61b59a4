/**
 * Activities: things that happen on the user's behalf and have a course (a tool the assistant
 * runs; later a reconnect, a resumed session). Each is one line, found again by its id and
 * updated in place as its phase changes. Pure: the words for every topic and phase are a table
 * here, so a new topic is a new row, not a new kind of line.
 */

import type { ToolCallFailure, ToolCallMessage } from "../protocol/messages";

/** What an activity is about. Later topics (e.g. "reconnect", "resume") join this union. */
export type ActivityTopic = "tool_call";

/** `stopped`: still active when the connection ended, so it will never finish. */
export type ActivityPhase = "active" | "done" | "failed" | "stopped";

/** What the reducer keeps of an activity; `activityText` turns it into words. */
export interface Activity {
  /** Unique across topics, e.g. `tool_call:call_1`. */
  readonly activityId: string;
  readonly topic: ActivityTopic;
  /** What it is about, in words: e.g. "get time". */
  readonly subject: string;
  readonly phase: ActivityPhase;
  /** Why it failed, in the topic's own terms (e.g. a tool call's `timeout`). */
  readonly reason?: string;
  /** Operator-enabled detail (a tool call's arguments and output), shown folded away. */
  readonly input?: string;
  readonly output?: string;
}

export function isFinished(phase: ActivityPhase): boolean {
  return phase !== "active";
}

/** `get_time`, `getTime`, `get-time` -> "get time". */
export function humaniseName(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[_\-\s.]+/)
    .filter((word) => word.length > 0)
    .map((word) => word.toLowerCase());
  return words.length > 0 ? words.join(" ") : name;
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const TOOL_CALL_FAILURE_WORDS: Readonly<Record<ToolCallFailure, (subject: string) => string>> = {
  invalid_arguments: (s) => `${capitalised(s)} failed`,
  timeout: (s) => `${capitalised(s)} took too long`,
  error: (s) => `${capitalised(s)} failed`,
  cancelled: (s) => `${capitalised(s)} cancelled`,
};

type Words = Readonly<Record<ActivityPhase, (activity: Activity) => string>>;

const WORDS: Readonly<Record<ActivityTopic, Words>> = {
  tool_call: {
    active: (a) => `Looking up ${a.subject}…`,
    done: (a) => `${capitalised(a.subject)} done`,
    failed: (a) =>
      (TOOL_CALL_FAILURE_WORDS[a.reason as ToolCallFailure] ?? TOOL_CALL_FAILURE_WORDS.error)(a.subject),
    stopped: (a) => `${capitalised(a.subject)} stopped`,
  },
};

/** The line's text, fit for an end user. */
export function activityText(activity: Activity): string {
  return WORDS[activity.topic][activity.phase](activity);
}

const TOOL_CALL_PHASES: Readonly<Record<ToolCallMessage["status"], ActivityPhase>> = {
  started: "active",
  done: "done",
  failed: "failed",
};

/** A relay `tool_call` message as an activity update. */
export function toolCallActivity(message: ToolCallMessage): Activity {
  return {
    activityId: `tool_call:${message.id}`,
    topic: "tool_call",
    subject: humaniseName(message.name),
    phase: TOOL_CALL_PHASES[message.status],
    ...(message.reason !== undefined ? { reason: message.reason } : {}),
    ...(message.arguments !== undefined ? { input: JSON.stringify(message.arguments, null, 2) } : {}),
    ...(message.output !== undefined ? { output: message.output } : {}),
  };
}

/**
 * `update` applied to what is known of the activity: fields it leaves out are kept (`done`
 * carries the output but not the arguments), and a finished activity never becomes active
 * again (a late or repeated `started`).
 */
export function mergeActivity(known: Activity, update: Activity): Activity {
  if (isFinished(known.phase) && !isFinished(update.phase)) return known;
  return { ...known, ...update };
}

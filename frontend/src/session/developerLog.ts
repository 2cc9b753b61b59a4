/**
 * What the developer sees in the browser console: the detail the page keeps from end users
 * (error codes, close codes and reasons, tool arguments). The page shows one message fit for an
 * end user; the console says what happened exactly. Writes to the console given, nothing else.
 */

import { describeClose } from "../protocol/closeCodes";
import type { ServerMessage } from "../protocol/messages";
import type { ConnectionState } from "../protocol/relayClient";

/** The part of `console` used; tests pass a recorder. */
export type DeveloperConsole = Pick<Console, "error" | "warn" | "info">;

const PREFIX = "[trio-relay]";

export function logServerMessage(log: DeveloperConsole, message: ServerMessage): void {
  switch (message.type) {
    case "error":
      log.error(`${PREFIX} relay error ${message.code}: ${message.message}`, message);
      return;
    case "tool_call":
      log.info(`${PREFIX} tool call ${message.id} ${message.name}: ${message.status}`, message);
      return;
  }
}

export function logConnectionChange(log: DeveloperConsole, endpoint: string, state: ConnectionState): void {
  switch (state.status) {
    case "connecting":
      log.info(`${PREFIX} connecting to ${endpoint}`);
      return;
    case "connected":
      log.info(`${PREFIX} connected to ${endpoint}`);
      return;
    case "closed": {
      const detail = { code: state.code, reason: state.reason, everOpened: state.everOpened, byClient: state.byClient };
      const line = `${PREFIX} connection closed: ${describeClose(state.code, state.reason, state.everOpened)}`;
      if (state.byClient || state.code === 1000) log.info(line, detail);
      else log.error(line, detail);
      return;
    }
  }
}

/** A frame from the relay this page could not read; the session goes on. */
export function logProtocolProblem(log: DeveloperConsole, reason: string): void {
  log.warn(`${PREFIX} unreadable message from the relay: ${reason}`);
}

export function logLocalProblem(log: DeveloperConsole, code: string, error: unknown): void {
  log.error(`${PREFIX} ${code}`, error);
}

import type { ConnectionState } from "../protocol/relayClient";

/**
 * The connection's state in a word or two: the only place the page shows it. Why a connection
 * failed is an error line in the conversation (in words for the user) and, with the close code
 * and reason, in the console.
 */
export function connectionStatusText(connection: ConnectionState): string {
  switch (connection.status) {
    case "idle":
      return "Not connected";
    case "connecting":
      return "Connecting…";
    case "connected":
      return "Connected";
    case "closing":
      return "Disconnecting…";
    case "closed":
      return connection.everOpened || connection.byClient ? "Disconnected" : "Could not connect";
  }
}

export function connectionFailed(connection: ConnectionState): boolean {
  return connection.status === "closed" && !connection.byClient && connection.code !== 1000;
}

/** Announced to screen readers when it changes. */
export function ConnectionStatus({ connection }: { readonly connection: ConnectionState }) {
  return (
    <p
      className="status"
      role="status"
      data-state={connection.status}
      data-failed={connectionFailed(connection) || undefined}
    >
      <span className="status__dot" aria-hidden="true" />
      {connectionStatusText(connection)}
    </p>
  );
}

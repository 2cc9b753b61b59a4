import { describeClose } from "../protocol/closeCodes";
import type { ConnectionState } from "../protocol/relayClient";

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
      return `Closed: ${describeClose(connection.code, connection.reason, connection.everOpened)}`;
  }
}

/** The connection state in words; announced to screen readers when it changes. */
export function ConnectionStatus({ connection }: { readonly connection: ConnectionState }) {
  const failed = connection.status === "closed" && connection.code !== 1000;
  return (
    <p className="status" role="status" data-state={connection.status} data-failed={failed || undefined}>
      <span className="status__dot" aria-hidden="true" />
      {connectionStatusText(connection)}
    </p>
  );
}

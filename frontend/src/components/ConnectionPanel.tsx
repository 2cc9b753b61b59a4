import { useId, type FormEvent } from "react";
import type { ConnectionState } from "../protocol/relayClient";
import { ConnectionStatus } from "./ConnectionStatus";

interface Props {
  readonly endpoint: string;
  readonly onEndpointChange: (endpoint: string) => void;
  readonly connection: ConnectionState;
  readonly onConnect: () => void;
  readonly onDisconnect: () => void;
}

/** Endpoint field, Connect / Disconnect, and the connection's state in words. */
export function ConnectionPanel({ endpoint, onEndpointChange, connection, onConnect, onDisconnect }: Props) {
  const inputId = useId();
  const active = connection.status === "connecting" || connection.status === "connected";
  const closing = connection.status === "closing";

  function submit(event: FormEvent) {
    event.preventDefault();
    if (active) onDisconnect();
    else if (!closing) onConnect();
  }

  return (
    <form className="connection" onSubmit={submit} aria-label="Connection">
      <label htmlFor={inputId} className="connection__label">
        Relay endpoint
      </label>
      <div className="connection__row">
        <input
          id={inputId}
          className="connection__endpoint"
          type="text"
          inputMode="url"
          spellCheck={false}
          autoComplete="off"
          value={endpoint}
          onChange={(e) => onEndpointChange(e.target.value)}
          disabled={active || closing}
          aria-label="Relay endpoint"
        />
        <button type="submit" className="button" disabled={closing} aria-label={active ? "Disconnect" : "Connect"}>
          {active ? "Disconnect" : "Connect"}
        </button>
      </div>
      <ConnectionStatus connection={connection} />
    </form>
  );
}

import { useState } from "react";
import { Composer } from "./components/Composer";
import { ConnectionPanel } from "./components/ConnectionPanel";
import { MessageList } from "./components/MessageList";
import { MicControl } from "./components/MicControl";
import { defaultEndpoint } from "./protocol/endpoint";
import { useRelaySession } from "./session/useRelaySession";

export function App() {
  const [endpoint, setEndpoint] = useState(() => defaultEndpoint(window.location));
  const session = useRelaySession();
  const connected = session.connection.status === "connected";

  return (
    <div className="app">
      <header className="app__header">
        <h1 className="app__title">trio-relay</h1>
        <ConnectionPanel
          endpoint={endpoint}
          onEndpointChange={setEndpoint}
          connection={session.connection}
          onConnect={() => session.connect(endpoint)}
          onDisconnect={session.disconnect}
        />
      </header>
      <main className="app__main">
        <MessageList lines={session.lines} />
      </main>
      <footer className="app__footer">
        <MicControl
          micState={session.micState}
          inputLevel={session.inputLevel}
          disabled={!connected}
          onToggle={session.toggleMic}
        />
        <Composer disabled={!connected} onSend={session.sendText} />
      </footer>
    </div>
  );
}

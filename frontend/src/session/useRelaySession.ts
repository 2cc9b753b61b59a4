/** React adapter for RelaySession: its events become state; its methods become callbacks. */

import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { Microphone } from "../audio/microphone";
import { AudioPlayer } from "../audio/player";
import type { ConnectionState } from "../protocol/relayClient";
import { conversationReducer, initialConversation, type Line } from "../state/conversation";
import { RelaySession, type MicState, type RelaySessionDeps } from "./relaySession";
import { installTestHooks, testHooksRequested } from "./testHooks";

export interface RelaySessionView {
  readonly connection: ConnectionState;
  readonly lines: readonly Line[];
  readonly micState: MicState;
  /** RMS of the latest microphone frame (0..1). */
  readonly inputLevel: number;
  connect(endpoint: string): void;
  disconnect(): void;
  /** Returns false if nothing was sent (empty text, not connected). */
  sendText(text: string): boolean;
  toggleMic(): void;
}

function browserDeps(): RelaySessionDeps {
  return {
    createPlayer: (onReport) => new AudioPlayer(onReport),
    openMicrophone: (listener) => Microphone.open(listener),
    hooks: testHooksRequested(window.location.search) ? installTestHooks(window) : null,
  };
}

export function useRelaySession(deps: () => RelaySessionDeps = browserDeps): RelaySessionView {
  const [conversation, dispatch] = useReducer(conversationReducer, initialConversation);
  const [connection, setConnection] = useState<ConnectionState>({ status: "idle" });
  const [micState, setMicState] = useState<MicState>("off");
  const [inputLevel, setInputLevel] = useState(0);
  const sessionRef = useRef<RelaySession | null>(null);

  // Created on first use rather than during render, so React's double render makes no session.
  const session = useCallback((): RelaySession => {
    sessionRef.current ??= new RelaySession(
      {
        onConnectionChange: setConnection,
        onConversation: dispatch,
        onMicChange: setMicState,
        onInputLevel: setInputLevel,
      },
      deps(),
    );
    return sessionRef.current;
  }, [deps]);

  useEffect(
    () => () => {
      sessionRef.current?.dispose();
      sessionRef.current = null;
    },
    [],
  );

  return {
    connection,
    lines: conversation.lines,
    micState,
    inputLevel,
    connect: useCallback((endpoint: string) => session().connect(endpoint), [session]),
    disconnect: useCallback(() => session().disconnect(), [session]),
    sendText: useCallback((text: string) => session().sendText(text), [session]),
    toggleMic: useCallback(() => session().toggleMic(), [session]),
  };
}

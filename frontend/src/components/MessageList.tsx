import { useEffect, useRef } from "react";
import type { Line } from "../state/conversation";

function LineView({ line }: { readonly line: Line }) {
  switch (line.kind) {
    case "user":
      return (
        <li className="line line--user" data-spoken={line.spoken || undefined}>
          <span className="visually-hidden">{line.spoken ? "You said: " : "You: "}</span>
          {line.pending ? <em className="line__pending">Speaking…</em> : line.text || <em>(no words recognised)</em>}
        </li>
      );
    case "assistant":
      return (
        <li className="line line--assistant" aria-busy={!line.done}>
          <span className="visually-hidden">Assistant: </span>
          {line.text}
          {line.interrupted && <span className="line__note"> (interrupted)</span>}
        </li>
      );
    case "status":
      return <li className="line line--status">{line.text}</li>;
    case "error":
      return (
        <li className="line line--error" role="alert">
          <strong>Error{line.code ? ` (${line.code})` : ""}:</strong> {line.text}
        </li>
      );
  }
}

/** The conversation, newest at the bottom; keeps the newest line in view. */
export function MessageList({ lines }: { readonly lines: readonly Line[] }) {
  const endRef = useRef<HTMLLIElement>(null);
  const last = lines[lines.length - 1];
  const lastLength = last && last.kind !== "status" ? last.text.length : 0;

  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: "end" });
  }, [lines.length, lastLength]);

  return (
    <ol className="messages" role="log" aria-live="polite" aria-label="Conversation">
      {lines.map((line) => (
        <LineView key={line.key} line={line} />
      ))}
      <li ref={endRef} className="messages__end" aria-hidden="true" />
    </ol>
  );
}

import { memo, useEffect, useRef } from "react";
import { activityText } from "../state/activity";
import type { ActivityLine, Line, UserLine } from "../state/conversation";

function UserLineView({ line }: { readonly line: UserLine }) {
  // While pending: "Speaking…" until the first words are recognised, then the live caption.
  const words = line.pending && !line.text ? <em className="line__pending">Speaking…</em> : line.text;
  return (
    <li
      className="line line--user"
      data-spoken={line.spoken || undefined}
      data-live={(line.pending && line.text !== "") || undefined}
      aria-busy={line.pending || undefined}
    >
      <span className="visually-hidden">{line.spoken ? "You said: " : "You: "}</span>
      {words || <em className="line__note">(no words recognised)</em>}
    </li>
  );
}

function ActivityLineView({ line }: { readonly line: ActivityLine }) {
  return (
    <li className="line line--activity" data-topic={line.topic} data-phase={line.phase} aria-busy={line.phase === "active"}>
      <span className="line__icon" aria-hidden="true" />
      <span className="line__text">{activityText(line)}</span>
      {(line.input !== undefined || line.output !== undefined) && (
        <details className="line__detail">
          <summary>Details</summary>
          {line.input !== undefined && <pre aria-label="Input">{line.input}</pre>}
          {line.output !== undefined && <pre aria-label="Result">{line.output}</pre>}
        </details>
      )}
    </li>
  );
}

function LineView({ line }: { readonly line: Line }) {
  switch (line.kind) {
    case "user":
      return <UserLineView line={line} />;
    case "assistant":
      return (
        <li className="line line--assistant" aria-busy={!line.done}>
          <span className="visually-hidden">Assistant: </span>
          {line.text}
          {line.interrupted && <span className="line__note"> (interrupted)</span>}
        </li>
      );
    case "activity":
      return <ActivityLineView line={line} />;
    case "error":
      // The code is for the developer (and the console); the text is for the user.
      return (
        <li className="line line--error" role="alert" data-code={line.code}>
          {line.text}
        </li>
      );
  }
}

/** What changes when the newest line grows or changes state: the list then scrolls to it. */
function lastLineSignature(lines: readonly Line[]): string {
  const last = lines[lines.length - 1];
  if (!last) return "";
  return last.kind === "activity" ? `${last.key}:${last.phase}` : `${last.key}:${last.text.length}`;
}

/** The conversation, newest at the bottom; keeps the newest line in view. */
export const MessageList = memo(function MessageList({ lines }: { readonly lines: readonly Line[] }) {
  const endRef = useRef<HTMLLIElement>(null);
  const signature = lastLineSignature(lines);

  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: "end" });
  }, [signature]);

  return (
    <>
      {lines.length === 0 && <p className="messages__empty">Your conversation will appear here.</p>}
      <ol className="messages" role="log" aria-live="polite" aria-label="Conversation">
        {lines.map((line) => (
          <LineView key={line.key} line={line} />
        ))}
        <li ref={endRef} className="messages__end" aria-hidden="true" />
      </ol>
    </>
  );
});

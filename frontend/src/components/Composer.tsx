import { useId, useState, type FormEvent } from "react";

interface Props {
  readonly disabled: boolean;
  /** Returns false if the text was not sent; the field then keeps it. */
  readonly onSend: (text: string) => boolean;
}

/** The text input: Enter or the Send button sends a user turn. */
export function Composer({ disabled, onSend }: Props) {
  const [text, setText] = useState("");
  const inputId = useId();

  function submit(event: FormEvent) {
    event.preventDefault();
    if (onSend(text)) setText("");
  }

  return (
    <form className="composer" onSubmit={submit} aria-label="Send a message">
      <label htmlFor={inputId} className="visually-hidden">
        Message
      </label>
      <input
        id={inputId}
        className="composer__input"
        type="text"
        enterKeyHint="send"
        autoComplete="off"
        placeholder={disabled ? "Connect to send messages" : "Type a message"}
        value={text}
        onChange={(e) => setText(e.target.value)}
        disabled={disabled}
        aria-label="Message"
      />
      <button type="submit" className="button" disabled={disabled || !text.trim()} aria-label="Send message">
        Send
      </button>
    </form>
  );
}

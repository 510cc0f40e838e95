import { useState } from "preact/hooks";

type Props = { label: string; onSubmit: (digits: string) => void; busy?: boolean; error?: string | null };

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"] as const;

/** A big PIN keypad: digits are never shown, only how many were typed. */
export function Keypad({ label, onSubmit, busy = false, error = null }: Props) {
  const [digits, setDigits] = useState("");
  const press = (key: (typeof KEYS)[number]) => {
    if (busy) return;
    if (key === "clear") setDigits("");
    else if (key === "ok") {
      if (digits.length >= 4) {
        onSubmit(digits);
        setDigits("");
      }
    } else if (digits.length < 8) setDigits(digits + key);
  };
  return (
    <div class="keypad" role="group" aria-label={label}>
      <div class="pin" aria-live="polite" data-testid="pin-dots">
        {digits ? "●".repeat(digits.length) : label}
      </div>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <div class="keys">
        {KEYS.map((key) => (
          <button
            type="button"
            key={key}
            class={key === "ok" ? "key primary" : "key"}
            onClick={() => press(key)}
            disabled={busy || (key === "ok" && digits.length < 4)}
            aria-label={key === "ok" ? "Enter" : key === "clear" ? "Clear" : key}
          >
            {key === "ok" ? "Enter" : key === "clear" ? "Clear" : key}
          </button>
        ))}
      </div>
    </div>
  );
}

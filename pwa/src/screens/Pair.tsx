import { useState } from "preact/hooks";
import { ApiError, Unreachable } from "../api";
import { pair } from "../session";
import { Keypad } from "./Keypad";

/** First start: name this tablet, and a manager approves it with their PIN. */
export function Pair() {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (pin: string) => {
    if (!name.trim()) {
      setError("Give this register a name first, e.g. Front till");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await pair(name.trim(), pin);
    } catch (e) {
      setError(
        e instanceof ApiError
          ? e.message
          : e instanceof Unreachable
            ? "The store appliance cannot be reached. Check the Wi-Fi."
            : String(e),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="screen center">
      <h1>Set up this register</h1>
      <label class="field">
        Register name
        <input
          value={name}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
          placeholder="Front till"
          maxLength={60}
          autoComplete="off"
        />
      </label>
      <p>A manager approves it with their PIN, or with a pairing code from the admin pages.</p>
      <Keypad label="Manager PIN or pairing code" onSubmit={submit} busy={busy} error={error} />
    </main>
  );
}

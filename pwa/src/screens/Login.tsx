import { useEffect, useState } from "preact/hooks";
import { ApiError, Unreachable } from "../api";
import { device, listStaff, login, type Staff } from "../session";
import { Keypad } from "./Keypad";

/** Pick yourself, type your PIN. */
export function Login() {
  const [staff, setStaff] = useState<Staff[]>([]);
  const [chosen, setChosen] = useState<Staff | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    const token = device.value?.token;
    if (!token) return;
    listStaff(token)
      .then((found) => {
        setStaff(found);
        setError(null);
      })
      .catch((e) => setError(e instanceof Unreachable ? "The store appliance cannot be reached." : String(e)));
  }, [attempt]);
  const submit = async (pin: string) => {
    if (!chosen) return;
    setBusy(true);
    setError(null);
    try {
      await login(chosen, pin);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "The store appliance cannot be reached.");
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="screen center">
      {chosen ? (
        <>
          <p>
            {chosen.name} <button type="button" class="link" onClick={() => setChosen(null)}>Not you?</button>
          </p>
          <Keypad label="Your PIN" onSubmit={submit} busy={busy} error={error} />
        </>
      ) : (
        <>
          <p>Who is selling?</p>
          {error ? (
            <p class="error" role="alert">
              {error}{" "}
              <button type="button" onClick={() => setAttempt(attempt + 1)}>
                Try again
              </button>
            </p>
          ) : null}
          <div class="tiles">
            {staff.map((member) => (
              <button
                type="button"
                class="tile"
                key={member.id}
                disabled={member.locked}
                onClick={() => setChosen(member)}
              >
                <strong>{member.name}</strong> <span>{member.locked ? "locked" : member.role}</span>
              </button>
            ))}
          </div>
        </>
      )}
    </main>
  );
}

import { useEffect, useState } from "preact/hooks";
import { view } from "../nav";
import { saveScannerOptions, scannerOptions, useScans } from "../scans";
import { device, store } from "../session";

const SUFFIXES = [
  { key: "Enter", label: "Enter (most scanners)" },
  { key: "Tab", label: "Tab" },
];

/** This tablet as a register: its scanner's set-up, tried out on the spot, and its storage. */
export function RegisterSettings() {
  const current = scannerOptions.value;
  const [prefix, setPrefix] = useState(current.prefix ?? "");
  const [suffix, setSuffix] = useState(current.suffix ?? "Enter");
  const [gap, setGap] = useState(String(current.maxGapMs ?? 35));
  const [minLength, setMinLength] = useState(String(current.minLength ?? 6));
  const [scanned, setScanned] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [persistent, setPersistent] = useState<boolean | null>(null);

  useEffect(() => {
    void navigator.storage?.persisted?.().then(setPersistent);
  }, []);
  // Scan anything here to check the set-up (with the settings saved last).
  useScans((code) => setScanned(code));

  const gapMs = Number(gap);
  const length = Number(minLength);
  const valid = Number.isInteger(gapMs) && gapMs >= 5 && gapMs <= 200 && Number.isInteger(length) && length >= 1 && length <= 64;

  const save = async () => {
    await saveScannerOptions({ prefix, suffix, maxGapMs: gapMs, minLength: length });
    setSaved(true);
  };

  return (
    <main class="screen register-settings">
      <h1>This register</h1>
      <p>
        {device.value?.register.name} ({device.value?.register.id}) · {store.value?.name ?? device.value?.store} · storage{" "}
        {persistent === null ? "…" : persistent ? "kept by the browser (persistent)" : "may be cleared by the browser under pressure"}
      </p>
      <h2>Scanner on this tablet</h2>
      <p class="notice">
        A scanner that types into the tablet (USB or Bluetooth) is told from a person typing by its speed. Set the prefix and
        suffix the scanner is programmed to send.
      </p>
      <div class="form">
        <label class="field">
          Prefix (characters sent before each code; empty for none)
          <input value={prefix} maxLength={8} aria-label="Scanner prefix" onInput={(e) => setPrefix((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field">
          Suffix (the key that ends a scan)
          <select value={suffix} aria-label="Scanner suffix" onChange={(e) => setSuffix((e.target as HTMLSelectElement).value)}>
            {SUFFIXES.map((s) => (
              <option key={s.key} value={s.key}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          Longest pause between two keys of a scan (ms)
          <input inputMode="numeric" value={gap} aria-label="Longest pause between keys" onInput={(e) => setGap((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field">
          Shortest code
          <input inputMode="numeric" value={minLength} aria-label="Shortest code" onInput={(e) => setMinLength((e.target as HTMLInputElement).value)} />
        </label>
        {valid ? null : <p class="error">The pause is 5–200 ms and the shortest code 1–64 characters.</p>}
        <button type="button" class="big primary" disabled={!valid} onClick={() => void save()}>
          Save
        </button>
        {saved ? <p role="status">Saved. Scan something to try it.</p> : null}
        <p data-testid="scan-test">{scanned === null ? "Scan a barcode to test the scanner." : `Scanned: ${scanned}`}</p>
      </div>
      <button type="button" class="big" onClick={() => (view.value = "sell")}>
        Back
      </button>
    </main>
  );
}

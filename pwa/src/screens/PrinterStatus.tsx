import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { ApiError, call } from "../api";
import { device } from "../session";

/** The register's printer as the appliance last heard it (GET /api/v1/printer). */
export type PrinterState = {
  name: string;
  online: boolean | null;
  paper_out: boolean | null;
  paper_low: boolean | null;
  cover_open: boolean | null;
  queued: number;
  failed_recently: number;
  last_error: string | null;
};

/** null: no printer bound, or the appliance could not be asked. */
export const printer = signal<PrinterState | null>(null);

let timer: ReturnType<typeof setTimeout> | null = null;

export async function askPrinter(): Promise<void> {
  try {
    printer.value = await call<PrinterState>("GET", "/printer", { token: device.value?.token ?? null });
  } catch (e) {
    if (e instanceof ApiError && e.code === "no_printer") printer.value = null;
    // Unreachable: keep what was last heard; the sync indicator says the appliance is away.
  }
}

/** Look again shortly (a receipt was just asked for: the printer is tried within a second). */
export function checkPrinterSoon(): void {
  if (timer !== null) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    void askPrinter();
  }, 2_000);
}

/** What is wrong with the printer, in the cashier's words, or null when nothing is. */
export function printerTrouble(state: PrinterState | null): string | null {
  if (!state) return null;
  const waiting = state.queued > 0 ? ` · ${state.queued} waiting to print` : "";
  if (state.cover_open) return `Printer cover open${waiting}`;
  if (state.paper_out) return `Printer out of paper${waiting}`;
  if (state.online === false) return `Printer offline${waiting}`;
  if (state.failed_recently > 0) return `A receipt did not print${state.last_error ? ` (${state.last_error})` : ""}`;
  if (state.queued > 0 && state.last_error) return `Printer: ${state.last_error}${waiting}`;
  if (state.paper_low) return "Printer paper running low";
  return null;
}

/** A warning in the header when the printer needs a hand; nothing when it is fine. */
export function PrinterStatus() {
  useEffect(() => {
    void askPrinter();
    const every = setInterval(() => void askPrinter(), 30_000);
    return () => clearInterval(every);
  }, []);
  const trouble = printerTrouble(printer.value);
  if (!trouble) return null;
  return (
    <span class="printer-trouble" role="status" data-testid="printer-status">
      {trouble}
    </span>
  );
}

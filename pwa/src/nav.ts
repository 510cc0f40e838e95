// Which screen the cashier is on. Every screen is one tap away in the top bar.
import { signal } from "@preact/signals";

export type View = "sell" | "returns" | "shift" | "stock" | "receive" | "sync" | "register";
export const view = signal<View>("sell");

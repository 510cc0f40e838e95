import { render } from "preact";
import { registerSW } from "virtual:pwa-register";
import { App } from "./App";
import "./styles.css";

// Ask the browser to keep this tablet's data (catalog, chain) under storage pressure.
void navigator.storage?.persist?.();

// The service worker precaches the app shell, so a reload works while the appliance is away.
registerSW({ immediate: true });

const root = document.getElementById("app");
if (root) render(<App />, root);

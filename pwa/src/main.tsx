import { render } from "preact";
import { App } from "./App";
import "./styles.css";

// Ask the browser to keep this tablet's data (catalog, chain) under storage pressure.
void navigator.storage?.persist?.();

const root = document.getElementById("app");
if (root) render(<App />, root);

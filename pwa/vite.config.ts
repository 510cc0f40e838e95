import preact from "@preact/preset-vite";
import { defineConfig } from "vitest/config";
import { VitePWA } from "vite-plugin-pwa";

// The appliance serves dist/ at "/"; the API is on the same origin under /api/v1.
export default defineConfig({
  plugins: [
    preact(),
    VitePWA({
      registerType: "autoUpdate",
      injectRegister: null,
      includeAssets: ["icons/icon.svg"],
      manifest: {
        name: "Tillbox register",
        short_name: "Tillbox",
        description: "Tillbox cashier app",
        start_url: "/",
        scope: "/",
        display: "standalone",
        orientation: "any",
        background_color: "#0f172a",
        theme_color: "#0f172a",
        icons: [
          { src: "icons/icon-192.png", sizes: "192x192", type: "image/png" },
          { src: "icons/icon-512.png", sizes: "512x512", type: "image/png" },
          { src: "icons/icon-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
        ],
      },
      workbox: {
        // The app shell is precached; the API is never cached by the service worker (the
        // app keeps its own data in IndexedDB and its own outbox).
        globPatterns: ["**/*.{js,css,html,svg,png,webmanifest}"],
        navigateFallback: "/index.html",
        // The appliance's own pages (the manager's admin pages) are never the app shell.
        navigateFallbackDenylist: [/^\/api\//, /^\/admin(\/|$)/],
      },
    }),
  ],
  build: { target: "es2022", sourcemap: false },
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});

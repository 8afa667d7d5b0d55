import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev -w @stackyard/web` serves the UI with hot reload and forwards the API
// paths to a running server (STACKYARD_URL, default the `stackyard up` address).
const api = process.env.STACKYARD_URL ?? "http://127.0.0.1:1983";

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  server: {
    proxy: { "/graphql": api, "/admin-login": api },
  },
});

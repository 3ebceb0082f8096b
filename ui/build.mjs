// Bundles the UI with esbuild into the directory given as the first argument (default
// dist/): app.js, app.css and index.html. crates/ui/build.rs runs it; so can a person, for
// a look at the bundle.
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import * as esbuild from "esbuild";

const out = process.argv[2] ?? "dist";
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { app: "src/main.tsx" },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "eof",
  outdir: out,
  logLevel: "warning",
});
copyFileSync("src/index.html", join(out, "index.html"));

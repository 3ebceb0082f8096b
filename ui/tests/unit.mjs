// Runs the UI's unit tests: each `tests/unit/*.test.ts` is bundled with esbuild (with the
// source it imports) into a temporary directory and run with Node's test runner. The
// crate `ui`'s test `unit` runs this, so `cargo test` runs them; so can a person:
// `node tests/unit.mjs`.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import * as esbuild from "esbuild";

const dir = "tests/unit";
const tests = readdirSync(dir).filter((f) => f.endsWith(".test.ts") || f.endsWith(".test.tsx"));
if (tests.length === 0) {
  console.error(`no tests in ${dir}`);
  process.exit(1);
}
const out = mkdtempSync(join(tmpdir(), "skywatch-ui-unit-"));
try {
  await esbuild.build({
    entryPoints: tests.map((t) => join(dir, t)),
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    jsx: "automatic",
    jsxImportSource: "preact",
    outdir: out,
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
  const files = readdirSync(out).filter((f) => f.endsWith(".mjs")).map((f) => join(out, f));
  const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}

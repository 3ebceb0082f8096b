//! Builds the web UI into `$OUT_DIR/ui`: `npm ci` in `ui/` when its lock file changed, then
//! `node build.mjs`, which bundles the TypeScript with esbuild. Node.js 20 and npm are
//! needed; the packages come from the npm registry as `ui/package-lock.json` pins them.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ui = manifest.join("../../ui");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("ui");
    for watched in [
        "src",
        "package.json",
        "package-lock.json",
        "build.mjs",
        "tsconfig.json",
    ] {
        println!("cargo::rerun-if-changed={}", ui.join(watched).display());
    }
    // `npm ci` starts from scratch; it runs only when the lock file differs from the one it
    // last installed, which is kept beside the packages.
    let lock =
        std::fs::read(ui.join("package-lock.json")).expect("ui/package-lock.json is committed");
    let stamp = ui.join("node_modules/.skywatch-installed-lock.json");
    if std::fs::read(&stamp).ok().as_deref() != Some(&lock[..]) {
        run(
            npm()
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&ui),
            "npm ci",
        );
        std::fs::write(&stamp, &lock).expect("node_modules is writable after npm ci");
    }
    run(
        Command::new("node")
            .arg("build.mjs")
            .arg(&out)
            .current_dir(&ui),
        "node build.mjs",
    );
}

fn npm() -> Command {
    Command::new("npm")
}

fn run(command: &mut Command, what: &str) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => {
            panic!("building the web UI: `{what}` failed ({status}); its output is above")
        }
        Err(e) => panic!(
            "building the web UI: cannot run `{what}`: {e}. Install Node.js 20 and npm \
             (Debian: apt-get install nodejs npm); scripts/install-test-deps does"
        ),
    }
}

//! The UI's TypeScript unit tests (`ui/tests/unit/*.test.ts`), run by `ui/tests/unit.mjs`
//! with Node's test runner, so that `cargo test` runs them. Node.js 20 is needed, as it is
//! to build the UI; the build script has installed the npm packages by now.

use std::path::Path;
use std::process::Command;

#[test]
fn typescript_unit_tests_pass() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui");
    let out = Command::new("node")
        .arg("tests/unit.mjs")
        .current_dir(&ui)
        .output()
        .expect("node runs: install Node.js 20 and npm (scripts/install-test-deps does it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the UI's unit tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
}

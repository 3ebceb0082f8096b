//! How much of the upstream test scripts the promql-parser crate parses, per file: the
//! figure that decides between it and a parser of our own.
//! `cargo run -p promql --example parser_coverage -- ../shared/promql-testdata`

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a diagnostic tool"
)]

use promql::promqltest::{Command, parse};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: parser_coverage DIR");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.retain(|p| p.extension().is_some_and(|e| e == "test"));
    paths.sort();
    let (mut total, mut parsed) = (0, 0);
    let mut failures: Vec<String> = Vec::new();
    println!(
        "{:28} {:>6} {:>6} {:>14}",
        "file", "evals", "parsed", "fail-expected"
    );
    for path in paths {
        let script = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (mut n, mut ok, mut expected_fail) = (0, 0, 0);
        for c in &script.commands {
            let Command::Eval(e) = c else { continue };
            if e.fail.is_some() {
                expected_fail += 1;
                continue;
            }
            n += 1;
            match promql_parser::parser::parse(&e.expr) {
                Ok(_) => ok += 1,
                Err(err) => failures.push(format!(
                    "{name}:{}: {}  -- {}",
                    e.line,
                    e.expr,
                    err.lines().next().unwrap_or("")
                )),
            }
        }
        println!("{name:28} {n:>6} {ok:>6} {expected_fail:>14}");
        total += n;
        parsed += ok;
    }
    println!("\nparsed {parsed} of {total} expressions that should evaluate\n");
    for f in failures {
        println!("{f}");
    }
}

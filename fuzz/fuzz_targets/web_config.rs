//! Fuzzes the web configuration (`--web.config.file`, exporter-toolkit's format) and
//! Skywatch's access file (`--web.access-config.file`): any text is a configuration or an
//! error that names the file, says what is wrong and what would fix it; a line, where one
//! is given, is within the text; and parsing is a function of the text alone (the same
//! text parses to the same answer twice: no file is read and nothing is remembered).

#![no_main]

use libfuzzer_sys::fuzz_target;

fn check(e: &web::Error, text: &str) {
    assert_eq!(e.file, "fuzz.yml");
    assert!(!e.message.is_empty(), "an error without a message: {e:?}");
    assert!(!e.fix.is_empty(), "an error without a fix: {e:?}");
    if let Some(line) = e.line {
        // YAML's line breaks: "\r\n", and "\r" or "\n" alone.
        let lines = text.replace("\r\n", "\n").matches(['\r', '\n']).count() as u64 + 1;
        assert!(
            (1..=lines + 1).contains(&line),
            "line {line} of a {lines}-line text: {e:?}"
        );
    }
}

fn run(text: &str) {
    let first = web::Config::parse(text, "fuzz.yml");
    if let Err(e) = &first {
        check(e, text);
    }
    let again = web::Config::parse(text, "fuzz.yml");
    assert_eq!(first.is_ok(), again.is_ok());
    if let (Err(a), Err(b)) = (&first, &again) {
        assert_eq!(a, b);
    }
    match web::AccessConfig::parse(text, "fuzz.yml") {
        Ok(_) => {}
        Err(e) => check(&e, text),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    skywatch_fuzz::on_worker_stack("the web configuration", || run(text));
});

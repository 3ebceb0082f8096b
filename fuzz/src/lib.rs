//! What the fuzz targets share: running one input where the server would run it, on a
//! thread with the 2 MiB stack of an async runtime's worker, so that a recursion that fits
//! libFuzzer's main thread but not a worker is a crash too.

use std::thread;

/// The stack of a tokio worker thread, where the server parses and evaluates requests.
pub const WORKER_STACK: usize = 2 * 1024 * 1024;

/// Runs `work` on a thread with [`WORKER_STACK`] bytes of stack and waits for it. A panic
/// there aborts the process, naming `what`: libFuzzer records an abort as a crash.
/// (libfuzzer-sys's own panic hook aborts first unless a target set a quiet one, as the
/// PromQL and LogQL targets do because their parsers catch panics of their own.)
pub fn on_worker_stack(what: &str, work: impl FnOnce() + Send) {
    thread::scope(|s| {
        let answer = thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn_scoped(s, work)
            .expect("a thread for the input")
            .join();
        if let Err(panic) = answer {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("{what} panicked: {message}");
            std::process::abort();
        }
    });
}

//! Fuzzes Loki's push API (`POST /loki/api/v1/push`) as the distributor takes a body: the
//! first byte chooses JSON or snappy protobuf (bit 0) and gzip (bit 1); the rest is the
//! body. Any body is refused with a 4xx naming what is wrong, or decoded and pushed, with
//! no more entries kept than it carried; never a panic, on a worker's stack.

#![no_main]

use std::sync::Arc;

use api::loki::{Distributor, Limits};
use libfuzzer_sys::fuzz_target;

/// A fixed "now" (2023-11-14), so that a run is repeatable.
const NOW: i64 = 1_700_000_000_000_000_000;

fn run(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else {
        return;
    };
    let content_type = if head & 1 == 0 {
        "application/x-protobuf"
    } else {
        "application/json"
    };
    let coding = (head & 2 != 0).then_some("gzip");
    let store: Arc<dyn logs::LogStore> = Arc::new(logs::MemLogs::new());
    let distributor = Distributor::new(store, Limits::default());
    let streams = match distributor.decode(body, Some(content_type), coding) {
        Ok(streams) => streams,
        Err(e) => {
            assert!((400..500).contains(&e.status), "{e:?}");
            assert!(!e.message.is_empty());
            return;
        }
    };
    let sent: usize = streams.iter().map(|s| s.entries.len()).sum();
    match distributor.push(api::loki::DEFAULT_TENANT, streams, NOW) {
        Ok(pushed) => assert!(pushed.accepted <= sent as u64, "{pushed:?} of {sent}"),
        Err(e) => assert!((400..600).contains(&e.status), "{e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    skywatch_fuzz::on_worker_stack("the push", || run(data));
});

//! Fuzzes remote write's receiver (`prompb::receive`): any body, taken as a 1.0 and as a
//! 2.0 request, is written or refused with an error, never a panic; and what the receiver
//! says it wrote (the `X-Prometheus-Remote-Write-Samples-Written` header's count, on
//! success or beside a 400) is what the store holds: none when it says none, never more,
//! and fewer only by identical samples sent twice. The first byte
//! picks whether the rest is sent snappy-compressed, as senders do, or raw, which must be
//! refused as not snappy.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use model::{MatchOp, Matcher};
use prompb::receive::{Message, Receiver};
use storage::{MemStorage, Queryable, SelectHints};

/// Every sample the store holds.
fn samples(store: &MemStorage) -> u64 {
    let q = store.querier(i64::MIN, i64::MAX).expect("a querier");
    let set = q
        .select(
            &SelectHints::default(),
            &[Matcher::new(MatchOp::Regex, "__name__", ".*").expect("a matcher")],
        )
        .expect("a select");
    let mut n = 0;
    for series in set {
        let mut series = series.expect("a stored series");
        while series.samples.next().expect("a stored sample").is_some() {
            n += 1;
        }
    }
    n
}

fn run(data: &[u8]) {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let body = if how & 1 == 0 {
        snap::raw::Encoder::new()
            .compress_vec(rest)
            .expect("snappy compresses any input")
    } else {
        rest.to_vec()
    };
    for message in [Message::V1, Message::V2] {
        let store = Arc::new(MemStorage::new());
        let receiver = Receiver::new(store.clone());
        let written = match receiver.receive(message, &body) {
            Ok(written) => written,
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an error says what is wrong");
                e.written()
            }
        };
        // An identical sample sent twice is counted written twice, as Prometheus counts
        // it (the store takes the same value at the same time without an error), and
        // kept once.
        let held = samples(&store);
        assert!(
            held <= written.samples && (held == 0) == (written.samples == 0),
            "{message:?}: the store holds {held} samples, the receiver says it wrote {}",
            written.samples
        );
    }
}

fuzz_target!(|data: &[u8]| run(data));

//! Fuzzes what remote read takes from another server: any body is a result or an error,
//! never a panic. Skywatch receives no remote write (it sends it), so the snappy protobuf
//! it reads from outside is a remote read answer; its series are then written as remote
//! write sends them, and that `WriteRequest` decodes to the same labels and samples: the
//! encoder keeps whatever labels and values another server gave.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use model::Labels;
use prost::Message as _;
use remote::proto::WriteRequest;

fn run(data: &[u8]) {
    let Ok(result) = remote::read::decode_response(data) else {
        return;
    };
    let mut batch = Vec::new();
    for series in result.timeseries {
        let labels = Labels::from_pairs(series.labels.into_iter().map(|l| (l.name, l.value)));
        batch.extend(
            series
                .samples
                .iter()
                .map(|s| (labels.clone(), s.timestamp, s.value)),
        );
    }
    let body = remote::encode(&batch);
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .expect("the encoder's snappy decompresses");
    let request = WriteRequest::decode(raw.as_slice()).expect("the encoder's protobuf decodes");
    // Samples by series, values as bits (NaN is a value like another), except that -0 is
    // 0: prost leaves a double field out when it equals 0.0, as -0.0 does, so -0 arrives
    // as 0 (Go's protobuf keeps the sign; no PromQL answer tells them apart but the sign
    // of a printed zero).
    let bits = |v: f64| if v == 0.0 { 0 } else { v.to_bits() };
    let mut sent: BTreeMap<Vec<(String, String)>, Vec<(i64, u64)>> = BTreeMap::new();
    for (labels, t, v) in &batch {
        let pairs = labels
            .iter()
            .map(|l| (l.name.to_owned(), l.value.to_owned()))
            .collect();
        sent.entry(pairs).or_default().push((*t, bits(*v)));
    }
    let mut got: BTreeMap<Vec<(String, String)>, Vec<(i64, u64)>> = BTreeMap::new();
    for ts in request.timeseries {
        let pairs = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        let samples = ts.samples.iter().map(|s| (s.timestamp, bits(s.value)));
        got.entry(pairs).or_default().extend(samples);
    }
    assert_eq!(got, sent, "remote write sends what it was given");
}

fuzz_target!(|data: &[u8]| {
    skywatch_fuzz::on_worker_stack("the remote read answer", || run(data));
});

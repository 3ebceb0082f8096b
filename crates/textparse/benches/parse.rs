//! Parser throughput in MB/s, for both formats, on an exposition shaped like a busy node's:
//! counters and gauges with a few labels, histograms with their buckets, HELP and TYPE
//! lines. Run with `cargo bench -p textparse`; Criterion prints the throughput.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use textparse::{Entry, Format, Parser};

/// A node's exposition with about `families` families of 20 series each.
fn exposition(families: usize, openmetrics: bool) -> String {
    let mut out = String::new();
    for f in 0..families {
        let name = format!("node_layer_metric_{f}");
        match f % 3 {
            0 => {
                out.push_str(&format!(
                    "# HELP {name} Messages by peer and type.\n# TYPE {name} counter\n"
                ));
                for s in 0..20 {
                    let value = 1_000_000 + f * 37 + s * 11;
                    out.push_str(&format!(
                        "{name}_total{{peer=\"12D3KooW{s:04}\",type=\"gossip\",direction=\"tx\"}} {value}\n"
                    ));
                }
            }
            1 => {
                out.push_str(&format!("# HELP {name} A level.\n# TYPE {name} gauge\n"));
                for s in 0..20 {
                    out.push_str(&format!(
                        "{name}{{shard=\"{s}\"}} {}.{}\n",
                        f * 3 + s,
                        s * 7
                    ));
                }
            }
            _ => {
                out.push_str(&format!(
                    "# HELP {name}_seconds A duration.\n# TYPE {name}_seconds histogram\n"
                ));
                let mut cumulative = 0;
                for le in [
                    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0",
                    "10.0",
                ] {
                    cumulative += 3 + f % 5;
                    out.push_str(&format!(
                        "{name}_seconds_bucket{{route=\"/tasks\",le=\"{le}\"}} {cumulative}\n"
                    ));
                }
                out.push_str(&format!(
                    "{name}_seconds_bucket{{route=\"/tasks\",le=\"+Inf\"}} {cumulative}\n"
                ));
                out.push_str(&format!("{name}_seconds_sum{{route=\"/tasks\"}} {}.25\n{name}_seconds_count{{route=\"/tasks\"}} {cumulative}\n", f));
            }
        }
    }
    if openmetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (label, format, openmetrics) in [
        ("text_0.0.4", Format::Text, false),
        ("openmetrics", Format::OpenMetrics, true),
    ] {
        let input = exposition(300, openmetrics);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(label, |b| {
            b.iter(|| {
                let mut samples = 0usize;
                for entry in Parser::new(black_box(&input), format) {
                    if let Ok(Entry::Sample(s)) = entry {
                        samples += s.labels.len();
                    }
                }
                samples
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);

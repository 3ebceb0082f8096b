//! A block's bloom filter over its trace IDs: ten bits and seven probes per trace, about
//! one false "maybe" in a hundred, so that a lookup by ID reads the index of the blocks
//! that hold the trace and of about one block in a hundred besides.

use spans::TraceId;

const BITS_PER_TRACE: usize = 10;
const PROBES: u8 = 7;

/// The filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
    probes: u8,
}

/// SplitMix64's finaliser: trace IDs need not be random (tests and some SDKs count them), so
/// both halves are mixed before probing.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hashes(id: &TraceId) -> (u64, u64) {
    let mut hi = [0; 8];
    let mut lo = [0; 8];
    hi.copy_from_slice(&id.0[..8]);
    lo.copy_from_slice(&id.0[8..]);
    let h1 = mix(u64::from_le_bytes(lo) ^ mix(u64::from_le_bytes(hi)));
    let h2 = mix(h1 ^ 0x9e37_79b9_7f4a_7c15) | 1;
    (h1, h2)
}

impl Bloom {
    /// An empty filter sized for `traces` IDs.
    pub(crate) fn new(traces: usize) -> Self {
        let bits = (traces * BITS_PER_TRACE).max(64);
        Self {
            words: vec![0; bits.div_ceil(64)],
            probes: PROBES,
        }
    }

    fn positions(&self, id: &TraceId) -> impl Iterator<Item = usize> + use<> {
        let (h1, h2) = hashes(id);
        let bits = self.words.len() as u64 * 64;
        (0..u64::from(self.probes))
            .map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    pub(crate) fn insert(&mut self, id: &TraceId) {
        for p in self.positions(id) {
            self.words[p / 64] |= 1 << (p % 64);
        }
    }

    /// False when the block certainly lacks `id`.
    pub(crate) fn may_contain(&self, id: &TraceId) -> bool {
        self.positions(id)
            .all(|p| self.words[p / 64] & (1 << (p % 64)) != 0)
    }

    /// `probes <u8>` then the bit words, each a little-endian u64.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.probes);
        for w in &self.words {
            buf.extend_from_slice(&w.to_le_bytes());
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let Some((&probes, rest)) = bytes.split_first() else {
            return Err("empty bloom filter".into());
        };
        if rest.is_empty() || rest.len() % 8 != 0 || probes == 0 {
            return Err(format!(
                "bloom filter of {} bytes with {probes} probes is malformed",
                rest.len()
            ));
        }
        let words = rest
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect();
        Ok(Self { words, probes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spans::conformance::trace_id;

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let mut bloom = Bloom::new(10_000);
        for n in 0..10_000 {
            bloom.insert(&trace_id(n));
        }
        assert!((0..10_000).all(|n| bloom.may_contain(&trace_id(n))));
        let false_positives = (10_000..110_000)
            .filter(|n| bloom.may_contain(&trace_id(*n)))
            .count();
        assert!(false_positives < 2_000, "{false_positives} in 100,000");
        let mut bytes = Vec::new();
        bloom.encode(&mut bytes);
        assert_eq!(Bloom::decode(&bytes).unwrap(), bloom);
    }
}

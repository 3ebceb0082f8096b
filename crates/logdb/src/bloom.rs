//! A chunk's bloom filter over the tokens of its lines, and the rules that let a
//! `Select::contains` needle consult it without ever ruling out a chunk that holds it.
//!
//! A line is split into *tokens*: maximal runs of ASCII letters, digits, `_` and non-ASCII
//! bytes. A token shorter than [`GRAM`] bytes is inserted whole (unless it is all digits:
//! timestamps and counters would fill the filter and are rarely searched alone). A longer
//! token is inserted as its [`GRAM`]-byte substrings starting at multiples of [`STRIDE`]
//! (a 32-digit trace ID gives four). Whole tokens and grams are hashed with different
//! prefixes, so neither can stand for the other.
//!
//! A needle is a substring of a line, so of each of its runs the store knows only part:
//!
//! * a run with a separator on both sides inside the needle is a whole token of the line:
//!   looked up whole (shorter than [`GRAM`]) or by its aligned grams;
//! * a run reaching the needle's end only (a separator before it) is a prefix of a token:
//!   its grams aligned from its start are the token's, if it has [`GRAM`] bytes;
//! * a run reaching the needle's start is a suffix or a substring of a token whose start
//!   is unknown: for each of the [`STRIDE`] possible alignments the grams that alignment
//!   puts wholly inside the run are the token's, so the chunk may hold the needle only if
//!   for some alignment all of them are present. With `GRAM + STRIDE - 1` bytes every
//!   alignment has at least one gram; a shorter run tells nothing.
//!
//! Every lookup is a consequence of the line holding the needle, so a filter that says
//! "absent" is right; a false "present" costs only a decompression.

use xxhash_rust::xxh64::xxh64;

/// Bytes in a gram of a long token.
pub(crate) const GRAM: usize = 8;
/// Distance between the starts of a long token's grams.
pub(crate) const STRIDE: usize = 8;
/// Filter bits per distinct token or gram: about one false positive in eighteen per key,
/// and a 32-digit needle, which must find three or four keys for one alignment, a false
/// positive in about a thousand chunks (measured in the tests).
pub(crate) const BITS_PER_KEY: usize = 6;
/// Probes per key.
pub(crate) const PROBES: u8 = 4;

const WHOLE: u64 = 0x5157_4f4c_4500_0001;
const PART: u64 = 0x4752_414d_0000_0002;

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The maximal token runs of `s`, with whether each is bounded by a separator on its left
/// and on its right inside `s`.
fn runs(s: &[u8]) -> impl Iterator<Item = (&[u8], bool, bool)> {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < s.len() && !is_token_byte(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            return None;
        }
        let start = i;
        while i < s.len() && is_token_byte(s[i]) {
            i += 1;
        }
        Some((&s[start..i], start > 0, i < s.len()))
    })
}

fn whole(token: &[u8]) -> u64 {
    xxh64(token, WHOLE)
}

fn part(gram: &[u8]) -> u64 {
    xxh64(gram, PART)
}

/// Calls `key` with the hash of every key a line adds to a filter (repeats included).
pub(crate) fn line_keys(line: &str, mut key: impl FnMut(u64)) {
    for (token, _, _) in runs(line.as_bytes()) {
        if token.len() < GRAM {
            if !token.iter().all(u8::is_ascii_digit) {
                key(whole(token));
            }
        } else {
            let mut p = 0;
            while p + GRAM <= token.len() {
                key(part(&token[p..p + GRAM]));
                p += STRIDE;
            }
        }
    }
}

/// What a chunk's filter must hold for a chunk to hold a needle: every requirement, where
/// a requirement is satisfied when all keys of any one of its alternatives are present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query {
    requirements: Vec<Vec<Vec<u64>>>,
}

fn grams_from(run: &[u8], first: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut q = first;
    while q + GRAM <= run.len() {
        out.push(part(&run[q..q + GRAM]));
        q += STRIDE;
    }
    out
}

impl Query {
    /// The requirements of lines containing every one of `needles`.
    pub(crate) fn new(needles: &[String]) -> Self {
        let mut requirements = Vec::new();
        for needle in needles {
            for (run, left, right) in runs(needle.as_bytes()) {
                if left && right {
                    if run.len() < GRAM {
                        if !run.iter().all(u8::is_ascii_digit) {
                            requirements.push(vec![vec![whole(run)]]);
                        }
                    } else {
                        requirements.push(vec![grams_from(run, 0)]);
                    }
                } else if left {
                    // A prefix of a token that starts where the run starts.
                    if run.len() >= GRAM {
                        requirements.push(vec![grams_from(run, 0)]);
                    }
                } else if run.len() >= GRAM + STRIDE - 1 {
                    // The token starts `o` bytes (mod STRIDE) before the run: its grams
                    // start at run offsets congruent to -o.
                    let alternatives = (0..STRIDE)
                        .map(|o| grams_from(run, (STRIDE - o) % STRIDE))
                        .collect();
                    requirements.push(alternatives);
                }
            }
        }
        Self { requirements }
    }

    /// Whether the query can rule anything out.
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// False when a chunk with `bloom` certainly holds no line with every needle.
    pub(crate) fn may_match(&self, bloom: &Bloom) -> bool {
        self.requirements.iter().all(|alternatives| {
            alternatives
                .iter()
                .any(|keys| keys.iter().all(|k| bloom.contains(*k)))
        })
    }
}

/// The filter: bit words and the number of probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    words: Box<[u64]>,
    probes: u8,
}

/// SplitMix64's finaliser, for the second hash of double hashing.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Bloom {
    /// A filter holding `keys` (distinct hashes), [`BITS_PER_KEY`] bits each.
    pub(crate) fn build(keys: &[u64]) -> Self {
        let bits = (keys.len() * BITS_PER_KEY).max(64);
        let mut bloom = Self {
            words: vec![0; bits.div_ceil(64)].into_boxed_slice(),
            probes: PROBES,
        };
        for &k in keys {
            for p in bloom.positions(k) {
                bloom.words[p / 64] |= 1 << (p % 64);
            }
        }
        bloom
    }

    fn positions(&self, key: u64) -> impl Iterator<Item = usize> + use<> {
        let h2 = mix(key) | 1;
        let bits = self.words.len() as u64 * 64;
        (0..u64::from(self.probes))
            .map(move |i| (key.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    /// False when the key was certainly not inserted.
    pub(crate) fn contains(&self, key: u64) -> bool {
        self.positions(key)
            .all(|p| self.words[p / 64] & (1 << (p % 64)) != 0)
    }

    /// Bytes of the encoded filter.
    pub(crate) fn encoded_len(&self) -> usize {
        1 + self.words.len() * 8
    }

    /// `probes <u8>` then the bit words, each a little-endian u64.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.probes);
        for w in &self.words {
            buf.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Reads what [`Bloom::encode`] wrote.
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

/// The distinct keys of `lines`, for [`Bloom::build`].
pub(crate) fn keys_of<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<u64> {
    let mut keys = std::collections::HashSet::new();
    for line in lines {
        line_keys(line, |k| {
            keys.insert(k);
        });
    }
    let mut keys: Vec<u64> = keys.into_iter().collect();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random-looking 32-digit trace ID.
    fn id(i: u64) -> String {
        format!("{:016x}{:016x}", mix(i), mix(!i))
    }

    fn bloom(lines: &[&str]) -> Bloom {
        Bloom::build(&keys_of(lines.iter().copied()))
    }

    fn may(lines: &[&str], needle: &str) -> bool {
        Query::new(&[needle.to_owned()]).may_match(&bloom(lines))
    }

    #[test]
    fn every_substring_of_a_line_may_match() {
        let line = r#"{"level":"warn","msg":"peer dropped","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","height":123456789}"#;
        let b = bloom(&[line]);
        for start in 0..line.len() {
            for end in start + 1..=line.len() {
                let needle = &line[start..end];
                assert!(
                    Query::new(&[needle.to_owned()]).may_match(&b),
                    "{needle:?} was ruled out"
                );
            }
        }
    }

    #[test]
    fn a_missing_trace_id_is_ruled_out_and_short_needles_are_not() {
        let lines: Vec<String> = (0..1_000)
            .map(|i| format!(r#"{{"msg":"x","trace_id":"{}"}}"#, id(i)))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let b = bloom(&refs);
        let mut present = 0;
        for i in 1_000_000..1_010_000u64 {
            if Query::new(&[id(i)]).may_match(&b) {
                present += 1;
            }
        }
        assert!(present < 30, "{present} false positives in 10,000");
        assert!(may(&refs, "trace"), "a short needle tells nothing");
        assert!(Query::new(&["ab".into()]).is_empty());
        assert!(
            !may(&refs, "\"absent\""),
            "a whole token between separators is looked up"
        );
    }

    #[test]
    fn filters_round_trip() {
        let b = bloom(&["a b c deadbeefdeadbeef"]);
        let mut bytes = Vec::new();
        b.encode(&mut bytes);
        assert_eq!(bytes.len(), b.encoded_len());
        assert_eq!(Bloom::decode(&bytes).unwrap(), b);
        assert!(Bloom::decode(&bytes[..5]).is_err());
    }
}

//! Compressed chunks: the samples of one series over a stretch of time, packed in bits.
//!
//! A chunk starts with a 4-byte header, then a bit stream (most significant bit first):
//!
//! ```text
//! byte 0      encoding: 1 = XOR floats, 2 = scaled integers
//! byte 1      scale k (integer encoding: every value is n / 10^k); 0 for XOR
//! bytes 2..4  sample count, u16 little-endian
//! bits        t0 as a signed varint, v0, then per sample: timestamp code, value code
//! ```
//!
//! **Timestamps** are coded as the delta of deltas (`dod`), as in Gorilla and Prometheus,
//! with buckets sized for scrape data, where most `dod`s are 0 and the rest are a few
//! milliseconds of jitter:
//!
//! | prefix   | payload  | range of dod            |
//! |----------|----------|-------------------------|
//! | `0`      | none     | 0                       |
//! | `10`     | 5 bits   | -15 ..= 16              |
//! | `110`    | 9 bits   | -255 ..= 256            |
//! | `1110`   | 14 bits  | -8191 ..= 8192          |
//! | `11110`  | 24 bits  | ±2^23                   |
//! | `11111`  | 64 bits  | any                     |
//!
//! The second sample's delta is coded the same way.
//!
//! **Values**, XOR encoding: Gorilla's scheme, as Prometheus's XOR chunk. `0` repeats the
//! previous value; `10` + the meaningful bits of `v XOR prev` inside the previous window;
//! `11` + 5 bits of leading zeros + 6 bits of length + the meaningful bits. NaN, ±Inf and
//! the staleness marker are ordinary bit patterns here.
//!
//! **Values**, scaled-integer encoding: when every value of the chunk is exactly
//! `n / 10^k` for an integer `|n| <= 2^53` and one `k` in `0..=6` (counters, bucket counts,
//! peer counts, CPU seconds with two decimals), the chunk stores `n` as a delta of deltas
//! with the buckets `0`, `10`+4, `110`+8, `1110`+14, `11110`+24, `111110`+36, `111111`+64
//! bits. A counter rising at a steady rate costs one bit per sample, where XOR spends 15 to
//! 25. Exactness is checked at encode time: a value is taken in this encoding only if
//! `n / 10^k` gives back its exact bits, so decoding is lossless. A value that does not
//! fit ends the chunk ([`ChunkEncoder::append`] returns `false`) and the caller starts a new
//! one.
//!
//! **Values**, Rice-coded integers (encoding 3): a sealed scaled-integer chunk is re-encoded
//! by [`optimize`] when that is smaller. The integers are turned into deltas or deltas of
//! deltas (whichever codes smaller), zigzag-mapped, and Rice-coded with the parameter `r`
//! that minimises the chunk: `q = u >> r` in unary (`q` ones and a zero), then the low `r`
//! bits; a quotient of 24 or more is written as 24 ones and the 64 bits of `u`. A counter of
//! bucket counts with small random increments costs 3 to 5 bits a sample this way, where the
//! fixed buckets spend 6 to 11. The header grows by one byte: byte 1 holds the scale in its
//! low 4 bits and the transform in bit 4 (0 delta, 1 delta of deltas), byte 4 holds `r`.
//!
//! **Timestamps on a grid** (encoding 3, bit 5 of byte 1): scrapes land on a grid of
//! interval `Δ` and phase `φ`, a few milliseconds off now and then. When it is smaller,
//! the chunk stores `Δ` and `φ` as varints after `v0`, and each later timestamp as its
//! offset from the grid slot after the previous sample's slot,
//! `t_i - (φ + (slot(t_{i-1}) + 1) Δ)` with `slot(t) = floor((t - φ + Δ/2) / Δ)`, in the
//! timestamp buckets. On-grid samples cost one bit, a jittered one a single short code
//! (delta of deltas spends three: the jitter, twice its negation, and the jitter again), and
//! a missed scrape one code of `Δ`.

use model::Sample;

/// Most samples a chunk holds: two hours of 15-second scrapes.
pub const MAX_SAMPLES: u16 = 480;

const HEADER: usize = 4;
const ENC_XOR: u8 = 1;
const ENC_INT: u8 = 2;
const ENC_RICE: u8 = 3;
const RICE_HEADER: usize = 5;
/// Unary quotients at least this long are escapes followed by the raw 64 bits.
const RICE_ESCAPE: u64 = 24;
const MAX_SCALE: u8 = 6;
const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Bucket widths of timestamp delta-of-deltas (the last bucket is always 64 bits).
const TS_BUCKETS: &[u32] = &[5, 9, 14, 24];
/// Bucket widths of scaled-integer delta-of-deltas.
const INT_BUCKETS: &[u32] = &[4, 8, 14, 24, 36];

/// A chunk could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The bytes end before the samples the header promises.
    #[error("chunk truncated: {0}")]
    Truncated(&'static str),
    /// The encoding byte is unknown.
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    /// The header is inconsistent.
    #[error("invalid chunk header: {0}")]
    InvalidHeader(&'static str),
}

/// The value encoding a new chunk should try first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueHint {
    /// Use scaled integers if the first value allows, with at least this scale.
    Integer(u8),
    /// Use XOR floats.
    Float,
}

/// Appends samples to a chunk being built.
#[derive(Debug, Clone)]
pub struct ChunkEncoder {
    bits: BitWriter,
    count: u16,
    scale: Option<u8>,
    first_t: i64,
    last_t: i64,
    last_delta: i64,
    // XOR state.
    last_bits: u64,
    leading: u8,
    trailing: u8,
    // Integer state.
    last_n: i64,
    last_n_delta: i64,
}

/// Returns `Some(n)` if `v == n / 10^k` exactly.
fn scaled(v: f64, k: u8) -> Option<i64> {
    if !v.is_finite() {
        return None;
    }
    let p = 10f64.powi(i32::from(k));
    let n = (v * p).round();
    if n.abs() > MAX_EXACT {
        return None;
    }
    // Checked through the integer, as decoding computes it: -0.0 becomes 0 and fails here.
    let n = n as i64;
    ((n as f64 / p).to_bits() == v.to_bits()).then_some(n)
}

/// The smallest scale at which `v` is an exact scaled integer.
fn min_scale(v: f64) -> Option<u8> {
    (0..=MAX_SCALE).find(|&k| scaled(v, k).is_some())
}

impl ChunkEncoder {
    /// Starts a chunk with its first sample.
    pub fn new(first: Sample, hint: ValueHint) -> Self {
        let scale = match hint {
            ValueHint::Integer(at_least) => {
                min_scale(first.v).map(|k| k.max(at_least.min(MAX_SCALE)))
            }
            ValueHint::Float => None,
        }
        .filter(|&k| scaled(first.v, k).is_some());
        let mut bits = BitWriter::with_header(HEADER);
        bits.set_byte(0, if scale.is_some() { ENC_INT } else { ENC_XOR });
        bits.set_byte(1, scale.unwrap_or(0));
        bits.write_varint(first.t);
        let mut enc = Self {
            bits,
            count: 1,
            scale,
            first_t: first.t,
            last_t: first.t,
            last_delta: 0,
            last_bits: first.v.to_bits(),
            leading: 0xff,
            trailing: 0,
            last_n: 0,
            last_n_delta: 0,
        };
        match scale.and_then(|k| scaled(first.v, k)) {
            Some(n) => {
                enc.bits.write_varint(n);
                enc.last_n = n;
            }
            None => enc.bits.write_bits(first.v.to_bits(), 64),
        }
        enc.store_count();
        enc
    }

    /// Appends a sample with a timestamp after the last one. Returns `false`, leaving the
    /// chunk unchanged, when the chunk is full or the value does not fit its encoding: the
    /// caller then starts a new chunk.
    pub fn append(&mut self, s: Sample) -> bool {
        if self.count >= MAX_SAMPLES {
            return false;
        }
        let n = match self.scale {
            Some(k) => match scaled(s.v, k) {
                Some(n) => Some(n),
                None => return self.rescale_and_append(s),
            },
            None => None,
        };
        let delta = s.t.wrapping_sub(self.last_t);
        if self.count == 1 {
            self.bits.write_bucketed(delta, TS_BUCKETS);
        } else {
            self.bits
                .write_bucketed(delta.wrapping_sub(self.last_delta), TS_BUCKETS);
        }
        self.last_delta = delta;
        self.last_t = s.t;
        match n {
            Some(n) => self.append_int(n),
            None => self.append_xor(s.v.to_bits()),
        }
        self.count += 1;
        self.store_count();
        true
    }

    /// Re-encodes the chunk at the larger scale `s` needs (a series of counts that turns
    /// out to hold decimals), then appends `s`. Leaves the chunk unchanged and returns
    /// `false` if no scale up to the maximum fits every value.
    fn rescale_and_append(&mut self, s: Sample) -> bool {
        let Some(k) = min_scale(s.v) else {
            return false;
        };
        let Ok(samples) = iter(self.bytes()).and_then(|it| it.collect::<Result<Vec<_>, _>>())
        else {
            return false;
        };
        // The widest scale any sample needs, and only if every one fits it: a sample that
        // fits a narrower scale but not this one (past 2^53 once scaled) would rescale the
        // chunk back, and `s` forward again, without end.
        let Some(k) = samples
            .iter()
            .try_fold(k, |k, x| min_scale(x.v).map(|m| m.max(k)))
        else {
            return false;
        };
        if !samples.iter().all(|x| scaled(x.v, k).is_some()) || scaled(s.v, k).is_none() {
            return false;
        }
        let mut wider = ChunkEncoder::new(samples[0], ValueHint::Integer(k));
        if wider.scale.is_none()
            || !samples[1..].iter().all(|&x| wider.append(x))
            || !wider.append(s)
        {
            return false;
        }
        *self = wider;
        true
    }

    fn append_int(&mut self, n: i64) {
        let delta = n.wrapping_sub(self.last_n);
        let value = if self.count == 1 {
            delta
        } else {
            delta.wrapping_sub(self.last_n_delta)
        };
        self.bits.write_bucketed(value, INT_BUCKETS);
        self.last_n_delta = delta;
        self.last_n = n;
    }

    fn append_xor(&mut self, bits: u64) {
        let x = bits ^ self.last_bits;
        self.last_bits = bits;
        if x == 0 {
            self.bits.write_bit(false);
            return;
        }
        self.bits.write_bit(true);
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.bits.write_bit(false);
            let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.bits.write_bits(x >> self.trailing, significant);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            let significant = 64 - u32::from(leading) - u32::from(trailing);
            self.bits.write_bit(true);
            self.bits.write_bits(u64::from(leading), 5);
            // 64 significant bits are written as 0: 0 bits are impossible for x != 0.
            self.bits.write_bits(u64::from(significant) & 0x3f, 6);
            self.bits.write_bits(x >> trailing, significant);
        }
    }

    fn store_count(&mut self) {
        let [lo, hi] = self.count.to_le_bytes();
        self.bits.set_byte(2, lo);
        self.bits.set_byte(3, hi);
    }

    /// The encoded chunk so far.
    pub fn bytes(&self) -> &[u8] {
        self.bits.bytes()
    }

    /// The number of samples.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The first sample's timestamp.
    pub fn min_time(&self) -> i64 {
        self.first_t
    }

    /// The last sample's timestamp.
    pub fn max_time(&self) -> i64 {
        self.last_t
    }

    /// The hint for the chunk that follows this one: the same encoding, so that a series
    /// whose values need a larger scale does not alternate encodings chunk after chunk.
    pub fn next_hint(&self, cut_early: bool) -> ValueHint {
        match self.scale {
            // A chunk cut short by a value that did not fit suggests the series is not
            // integer-valued after all.
            Some(_) if cut_early && self.count < 32 => ValueHint::Float,
            Some(k) => ValueHint::Integer(k),
            None => ValueHint::Float,
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// The bits Rice parameter `r` spends on `values`.
fn rice_cost(values: &[i64], r: u32) -> u64 {
    values
        .iter()
        .map(|&v| {
            let q = zigzag(v) >> r;
            if q >= RICE_ESCAPE {
                RICE_ESCAPE + 64
            } else {
                q + 1 + u64::from(r)
            }
        })
        .sum()
}

/// Re-encodes a scaled-integer chunk with the Rice code when that is smaller; returns
/// `None` when the chunk is better left as it is (or is not a scaled-integer chunk).
pub fn optimize(chunk: &[u8]) -> Option<Vec<u8>> {
    if chunk.first() != Some(&ENC_INT) || chunk.len() < HEADER {
        return None;
    }
    let scale = chunk[1];
    let samples: Vec<Sample> = iter(chunk).ok()?.collect::<Result<_, _>>().ok()?;
    if samples.len() < 3 {
        return None;
    }
    let ints: Vec<i64> = samples
        .iter()
        .map(|s| scaled(s.v, scale))
        .collect::<Option<_>>()?;
    let deltas: Vec<i64> = ints.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let dods: Vec<i64> = std::iter::once(deltas[0])
        .chain(deltas.windows(2).map(|w| w[1].wrapping_sub(w[0])))
        .collect();
    let best = |values: &[i64]| {
        (0..=63u32)
            .map(|r| (rice_cost(values, r), r))
            .min()
            .unwrap_or((u64::MAX, 0))
    };
    let (delta_cost, delta_r) = best(&deltas);
    let (dod_cost, dod_r) = best(&dods);
    let (dod, r, values) = if dod_cost < delta_cost {
        (true, dod_r, &dods)
    } else {
        (false, delta_r, &deltas)
    };

    let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
    let dod_ts_cost: u64 = ts
        .windows(3)
        .map(|w| {
            bucketed_cost(
                w[2].wrapping_sub(w[1])
                    .wrapping_sub(w[1].wrapping_sub(w[0])),
                TS_BUCKETS,
            )
        })
        .sum::<u64>()
        + bucketed_cost(ts[1].wrapping_sub(ts[0]), TS_BUCKETS);
    let grid = grid_of(&ts).filter(|&(interval, phase)| {
        let offsets: u64 = ts
            .windows(2)
            .map(|w| {
                bucketed_cost(
                    w[1].wrapping_sub(next_slot(w[0], interval, phase)),
                    TS_BUCKETS,
                )
            })
            .sum();
        // The grid's own parameters cost about two varints.
        offsets + 48 < dod_ts_cost
    });

    let mut bits = BitWriter::with_header(RICE_HEADER);
    bits.set_byte(0, ENC_RICE);
    bits.set_byte(
        1,
        scale | if dod { 0x10 } else { 0 } | if grid.is_some() { 0x20 } else { 0 },
    );
    bits.set_byte(2, chunk[2]);
    bits.set_byte(3, chunk[3]);
    bits.set_byte(4, r as u8);
    bits.write_varint(samples[0].t);
    bits.write_varint(ints[0]);
    if let Some((interval, phase)) = grid {
        bits.write_varint(interval);
        bits.write_varint(phase);
    }
    let mut last_delta = 0;
    for (i, s) in samples.iter().enumerate().skip(1) {
        let delta = s.t.wrapping_sub(samples[i - 1].t);
        match grid {
            Some((interval, phase)) => {
                bits.write_bucketed(
                    s.t.wrapping_sub(next_slot(samples[i - 1].t, interval, phase)),
                    TS_BUCKETS,
                );
            }
            None if i == 1 => bits.write_bucketed(delta, TS_BUCKETS),
            None => bits.write_bucketed(delta.wrapping_sub(last_delta), TS_BUCKETS),
        }
        last_delta = delta;
        bits.write_rice(values[i - 1], r);
    }
    (bits.bytes().len() < chunk.len()).then(|| bits.bytes().to_vec())
}

/// Iterates over the samples of an encoded chunk.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    bits: BitReader<'a>,
    remaining: u16,
    total: u16,
    scale: Option<u8>,
    /// Rice parameter and whether values are deltas of deltas (encoding 3).
    rice: Option<(u32, bool)>,
    /// Whether timestamps are grid offsets, and the grid's interval and phase once read.
    grid: Option<(i64, i64)>,
    grid_pending: bool,
    t: i64,
    delta: i64,
    v_bits: u64,
    leading: u32,
    trailing: u32,
    n: i64,
    n_delta: i64,
    failed: bool,
}

/// Returns an iterator over the samples of `chunk`.
pub fn iter(chunk: &[u8]) -> Result<ChunkIter<'_>, ChunkError> {
    if chunk.len() < HEADER {
        return Err(ChunkError::Truncated("header"));
    }
    let (scale, rice, body) = match chunk[0] {
        ENC_XOR => (None, None, HEADER),
        ENC_INT if chunk[1] <= MAX_SCALE => (Some(chunk[1]), None, HEADER),
        ENC_INT => return Err(ChunkError::InvalidHeader("scale above 6")),
        ENC_RICE => {
            let Some(&r) = chunk.get(4) else {
                return Err(ChunkError::Truncated("header"));
            };
            let scale = chunk[1] & 0x0f;
            if scale > MAX_SCALE || r > 63 || chunk[1] & 0xc0 != 0 {
                return Err(ChunkError::InvalidHeader(
                    "scale above 6 or Rice parameter above 63",
                ));
            }
            (
                Some(scale),
                Some((u32::from(r), chunk[1] & 0x10 != 0)),
                RICE_HEADER,
            )
        }
        other => return Err(ChunkError::UnknownEncoding(other)),
    };
    let count = u16::from_le_bytes([chunk[2], chunk[3]]);
    if count == 0 || count > MAX_SAMPLES {
        return Err(ChunkError::InvalidHeader("sample count out of range"));
    }
    let grid_pending = chunk[0] == ENC_RICE && chunk[1] & 0x20 != 0;
    Ok(ChunkIter {
        bits: BitReader::new(&chunk[body..]),
        remaining: count,
        total: count,
        scale,
        rice,
        grid: None,
        grid_pending,
        t: 0,
        delta: 0,
        v_bits: 0,
        leading: 0,
        trailing: 0,
        n: 0,
        n_delta: 0,
        failed: false,
    })
}

/// Returns the number of samples a chunk's header declares.
pub fn sample_count(chunk: &[u8]) -> Result<u16, ChunkError> {
    iter(chunk).map(|it| it.total)
}

impl ChunkIter<'_> {
    fn read(&mut self) -> Result<Sample, ChunkError> {
        let index = self.total - self.remaining;
        match (index, self.grid) {
            (0, _) => {
                self.t = self.bits.read_varint()?;
            }
            (_, Some((interval, phase))) => {
                let offset = self.bits.read_bucketed(TS_BUCKETS)?;
                self.t = next_slot(self.t, interval, phase).wrapping_add(offset);
            }
            (1, None) => {
                self.delta = self.bits.read_bucketed(TS_BUCKETS)?;
                self.t = self.t.wrapping_add(self.delta);
            }
            (_, None) => {
                let dod = self.bits.read_bucketed(TS_BUCKETS)?;
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
            }
        }
        let v = match self.scale {
            Some(k) => {
                match (index, self.rice) {
                    (0, _) => self.n = self.bits.read_varint()?,
                    (_, Some((r, dod))) => {
                        let x = self.bits.read_rice(r)?;
                        if dod && index > 1 {
                            self.n_delta = self.n_delta.wrapping_add(x);
                        } else {
                            self.n_delta = x;
                        }
                        self.n = self.n.wrapping_add(self.n_delta);
                    }
                    (1, None) => {
                        self.n_delta = self.bits.read_bucketed(INT_BUCKETS)?;
                        self.n = self.n.wrapping_add(self.n_delta);
                    }
                    (_, None) => {
                        let dod = self.bits.read_bucketed(INT_BUCKETS)?;
                        self.n_delta = self.n_delta.wrapping_add(dod);
                        self.n = self.n.wrapping_add(self.n_delta);
                    }
                }
                self.n as f64 / 10f64.powi(i32::from(k))
            }
            None => {
                if index == 0 {
                    self.v_bits = self.bits.read_bits(64)?;
                } else if self.bits.read_bit()? {
                    if self.bits.read_bit()? {
                        self.leading = self.bits.read_bits(5)? as u32;
                        let mut significant = self.bits.read_bits(6)? as u32;
                        if significant == 0 {
                            significant = 64;
                        }
                        if self.leading + significant > 64 {
                            return Err(ChunkError::InvalidHeader("XOR window beyond 64 bits"));
                        }
                        self.trailing = 64 - self.leading - significant;
                    }
                    let significant = 64 - self.leading - self.trailing;
                    let x = self.bits.read_bits(significant)? << self.trailing;
                    self.v_bits ^= x;
                }
                f64::from_bits(self.v_bits)
            }
        };
        if index == 0 && self.grid_pending {
            let interval = self.bits.read_varint()?;
            let phase = self.bits.read_varint()?;
            if interval <= 0 {
                return Err(ChunkError::InvalidHeader("grid interval must be positive"));
            }
            self.grid = Some((interval, phase));
        }
        Ok(Sample::new(self.t, v))
    }
}

/// The grid slot after the one `t` is nearest to.
fn next_slot(t: i64, interval: i64, phase: i64) -> i64 {
    let slot = t
        .wrapping_sub(phase)
        .wrapping_add(interval / 2)
        .div_euclid(interval);
    phase.wrapping_add(slot.wrapping_add(1).wrapping_mul(interval))
}

/// The bits a value takes in the bucketed code.
fn bucketed_cost(v: i64, widths: &[u32]) -> u64 {
    if v == 0 {
        return 1;
    }
    for (i, &w) in widths.iter().enumerate() {
        let lo = -((1i64 << (w - 1)) - 1);
        let hi = 1i64 << (w - 1);
        if (lo..=hi).contains(&v) {
            return i as u64 + 2 + u64::from(w);
        }
    }
    widths.len() as u64 + 1 + 64
}

/// The grid (interval, phase) that fits most timestamps: the most common delta, and the most
/// common phase modulo it.
fn grid_of(ts: &[i64]) -> Option<(i64, i64)> {
    let mut deltas: Vec<i64> = ts
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .filter(|d| *d > 0)
        .collect();
    deltas.sort_unstable();
    let interval = mode(&deltas)?;
    let mut phases: Vec<i64> = ts.iter().map(|t| t.rem_euclid(interval)).collect();
    phases.sort_unstable();
    Some((interval, mode(&phases)?))
}

fn mode(sorted: &[i64]) -> Option<i64> {
    let mut best: Option<(usize, i64)> = None;
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].partition_point(|x| *x == sorted[i]) + i;
        if best.is_none_or(|(n, _)| j - i > n) {
            best = Some((j - i, sorted[i]));
        }
        i = j;
    }
    best.map(|(_, v)| v)
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<Sample, ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 || self.failed {
            return None;
        }
        let r = self.read();
        self.remaining -= 1;
        self.failed = r.is_err();
        Some(r)
    }
}

/// Writes bits most significant first into a byte vector after a fixed header.
#[derive(Debug, Clone)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte, 0..=8 (8 or an empty body: the next bit starts a byte).
    used: u32,
}

impl BitWriter {
    fn with_header(header: usize) -> Self {
        Self {
            bytes: vec![0; header],
            used: 8,
        }
    }

    fn set_byte(&mut self, i: usize, b: u8) {
        self.bytes[i] = b;
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v` (n <= 64).
    fn write_bits(&mut self, v: u64, n: u32) {
        let mut n = n;
        while n > 0 {
            if self.used == 8 {
                // A head holds one open chunk per series: growing by a quarter rather
                // than doubling keeps their spare capacity small (with the scrape cache's
                // change, 17 MiB less peak RSS over 217,000 series in scripts/bench-scrape).
                if self.bytes.len() == self.bytes.capacity() {
                    self.bytes.reserve_exact((self.bytes.len() / 4).max(8));
                }
                self.bytes.push(0);
                self.used = 0;
            }
            let free = 8 - self.used;
            let take = free.min(n);
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (free - take);
            self.used += take;
            n -= take;
        }
    }

    /// Writes a zigzag-encoded signed integer in 7-bit groups, each preceded by a
    /// continuation bit.
    fn write_varint(&mut self, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let group = z & 0x7f;
            z >>= 7;
            self.write_bit(z != 0);
            self.write_bits(group, 7);
            if z == 0 {
                break;
            }
        }
    }

    /// Writes a zigzag-mapped value Rice-coded with parameter `r`.
    fn write_rice(&mut self, v: i64, r: u32) {
        let u = zigzag(v);
        let q = u >> r;
        if q >= RICE_ESCAPE {
            self.write_bits((1u64 << RICE_ESCAPE) - 1, RICE_ESCAPE as u32);
            self.write_bits(u, 64);
        } else {
            self.write_bits(((1u64 << q) - 1) << 1, q as u32 + 1);
            self.write_bits(u & ((1u64 << r) - 1), r);
        }
    }

    /// Writes `v` with a unary bucket prefix: `0` for zero, then `1^i 0` + `widths[i]` bits
    /// for the first bucket that holds it, and `1^(len+1)` + 64 bits otherwise.
    fn write_bucketed(&mut self, v: i64, widths: &[u32]) {
        if v == 0 {
            self.write_bit(false);
            return;
        }
        for (i, &w) in widths.iter().enumerate() {
            let lo = -((1i64 << (w - 1)) - 1);
            let hi = 1i64 << (w - 1);
            if (lo..=hi).contains(&v) {
                self.write_bits((1u64 << (i + 1)) - 1, i as u32 + 1);
                self.write_bit(false);
                self.write_bits(v as u64, w);
                return;
            }
        }
        self.write_bits((1u64 << (widths.len() + 1)) - 1, widths.len() as u32 + 1);
        self.write_bits(v as u64, 64);
    }
}

/// Reads what [`BitWriter`] wrote.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn read_bit(&mut self) -> Result<bool, ChunkError> {
        Ok(self.read_bits(1)? == 1)
    }

    fn read_bits(&mut self, n: u32) -> Result<u64, ChunkError> {
        if self.pos + n as usize > self.bytes.len() * 8 {
            return Err(ChunkError::Truncated("bit stream"));
        }
        let mut v = 0u64;
        let mut n = n;
        while n > 0 {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(n);
            let bits = (byte >> (avail - take)) & ((1u16 << take) - 1) as u8;
            v = if take == 64 {
                u64::from(bits)
            } else {
                (v << take) | u64::from(bits)
            };
            self.pos += take as usize;
            n -= take;
        }
        Ok(v)
    }

    fn read_varint(&mut self) -> Result<i64, ChunkError> {
        let mut z = 0u64;
        let mut shift = 0;
        loop {
            let more = self.read_bit()?;
            let group = self.read_bits(7)?;
            if shift >= 64 {
                return Err(ChunkError::InvalidHeader("varint longer than 64 bits"));
            }
            z |= group << shift;
            shift += 7;
            if !more {
                break;
            }
        }
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn read_rice(&mut self, r: u32) -> Result<i64, ChunkError> {
        let mut q = 0;
        while q < RICE_ESCAPE && self.read_bit()? {
            q += 1;
        }
        let u = if q == RICE_ESCAPE {
            self.read_bits(64)?
        } else {
            (q << r) | self.read_bits(r)?
        };
        Ok(unzigzag(u))
    }

    fn read_bucketed(&mut self, widths: &[u32]) -> Result<i64, ChunkError> {
        let mut ones = 0;
        while ones <= widths.len() && self.read_bit()? {
            ones += 1;
        }
        if ones == 0 {
            return Ok(0);
        }
        let width = widths.get(ones - 1).copied().unwrap_or(64);
        let raw = self.read_bits(width)?;
        if width == 64 {
            return Ok(raw as i64);
        }
        // The writer's buckets hold -(2^(w-1) - 1) ..= 2^(w-1) (as Prometheus's do): a raw
        // value above 2^(w-1) is negative.
        let half = 1u64 << (width - 1);
        Ok(if raw > half {
            raw as i64 - (1i64 << width)
        } else {
            raw as i64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::STALE_NAN;
    use proptest::prelude::*;

    fn encode(samples: &[Sample], hint: ValueHint) -> Vec<Vec<u8>> {
        let mut chunks = Vec::new();
        let mut enc = ChunkEncoder::new(samples[0], hint);
        for &s in &samples[1..] {
            if !enc.append(s) {
                let next = enc.next_hint(enc.count() < MAX_SAMPLES);
                chunks.push(enc.bytes().to_vec());
                enc = ChunkEncoder::new(s, next);
            }
        }
        chunks.push(enc.bytes().to_vec());
        chunks
    }

    /// Encodes and then optimizes every chunk, as sealing does.
    fn encode_optimized(samples: &[Sample], hint: ValueHint) -> Vec<Vec<u8>> {
        encode(samples, hint)
            .into_iter()
            .map(|c| optimize(&c).unwrap_or(c))
            .collect()
    }

    #[test]
    fn a_value_that_fits_a_narrow_scale_but_not_a_wide_one_starts_a_new_chunk() {
        // 1e12 + 0.5 fits one decimal, not six (past 2^53 once scaled): rescaling the chunk
        // for 0.123456 used to go back and forth between the two scales until the stack
        // overflowed.
        let samples = [
            Sample::new(1_000, 0.5),
            Sample::new(2_000, 1e12 + 0.5),
            Sample::new(3_000, 0.123_456),
        ];
        let chunks = encode(&samples, ValueHint::Integer(0));
        assert_eq!(chunks.len(), 2);
        assert_eq!(decode(&chunks), samples);
    }

    fn decode(chunks: &[Vec<u8>]) -> Vec<Sample> {
        chunks
            .iter()
            .flat_map(|c| iter(c).unwrap().map(Result::unwrap).collect::<Vec<_>>())
            .collect()
    }

    fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
        s.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn a_steady_counter_costs_about_two_bits_a_sample() {
        let samples: Vec<Sample> = (0..480)
            .map(|i| Sample::new(1_700_000_000_000 + i * 15_000, (i * 7) as f64))
            .collect();
        let chunks = encode(&samples, ValueHint::Integer(0));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0][0], ENC_INT);
        assert!(
            chunks[0].len() < 140,
            "{} bytes for 480 samples",
            chunks[0].len()
        );
        assert_eq!(bits(&decode(&chunks)), bits(&samples));
    }

    #[test]
    fn decimals_use_a_scale_and_floats_fall_back_to_xor() {
        // CPU seconds as parsed from text: the decimal n/100, not a product of floats.
        let cpu: Vec<Sample> = (0..100)
            .map(|i| Sample::new(i * 1000, (i * 3) as f64 / 100.0))
            .collect();
        let chunks = encode(&cpu, ValueHint::Integer(0));
        assert_eq!(bits(&decode(&chunks)), bits(&cpu));
        assert!(chunks.iter().all(|c| c[0] == ENC_INT));
        let floats: Vec<Sample> = (0..100)
            .map(|i| Sample::new(i * 1000, (i as f64).sin()))
            .collect();
        let chunks = encode(&floats, ValueHint::Integer(0));
        // sin(0) = 0 starts an integer chunk that the next value cuts; the rest is XOR.
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            (chunks[1][0], sample_count(&chunks[1]).unwrap()),
            (ENC_XOR, 99)
        );
        assert_eq!(bits(&decode(&chunks)), bits(&floats));
    }

    #[test]
    fn random_increments_are_rice_coded_smaller() {
        // Bucket counts: small random increments, as a histogram bucket under load.
        let mut n = 0u64;
        let mut x = 12345u64;
        let samples: Vec<Sample> = (0..480)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                n += (x >> 60) % 9;
                Sample::new(i * 15_000, n as f64)
            })
            .collect();
        let plain = encode(&samples, ValueHint::Integer(0)).remove(0);
        let rice = optimize(&plain).expect("smaller with the Rice code");
        assert_eq!(rice[0], ENC_RICE);
        assert!(
            rice.len() * 10 < plain.len() * 8,
            "{} vs {} bytes",
            rice.len(),
            plain.len()
        );
        assert_eq!(bits(&decode(&[rice])), bits(&samples));
        let steady: Vec<Sample> = (0..480)
            .map(|i| Sample::new(i * 15_000, (i * 3) as f64))
            .collect();
        let plain = encode(&steady, ValueHint::Integer(0)).remove(0);
        assert!(optimize(&plain).is_none_or(|r| r.len() <= plain.len()));
    }

    #[test]
    fn jittered_scrapes_are_coded_against_their_grid() {
        let mut x = 7u64;
        let samples: Vec<Sample> = (0..480)
            .filter(|k| k % 97 != 13)
            .map(|k| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let jitter = if (x >> 33).is_multiple_of(10) {
                    (x >> 40) as i64 % 9 - 4
                } else {
                    0
                };
                Sample::new(1_767_225_601_733 + k * 15_000 + jitter, (k * 2) as f64)
            })
            .collect();
        let plain = encode(&samples, ValueHint::Integer(0)).remove(0);
        let rice = optimize(&plain).unwrap();
        assert_eq!(rice[1] & 0x20, 0x20, "grid timestamps chosen");
        assert_eq!(bits(&decode(std::slice::from_ref(&rice))), bits(&samples));
        assert!(
            rice.len() * 4 < plain.len() * 3,
            "{} vs {} bytes",
            rice.len(),
            plain.len()
        );
    }

    #[test]
    fn a_stale_marker_ends_an_integer_chunk() {
        let samples = vec![
            Sample::new(0, 1.0),
            Sample::new(10, 2.0),
            Sample::new(20, STALE_NAN),
            Sample::new(30, 3.0),
        ];
        let chunks = encode(&samples, ValueHint::Integer(0));
        assert_eq!(chunks.len(), 2);
        assert_eq!(bits(&decode(&chunks)), bits(&samples));
    }

    #[test]
    fn damaged_chunks_are_errors_not_panics() {
        let samples: Vec<Sample> = (0..50)
            .map(|i| Sample::new(i * 15_000, f64::from(i as u8) * 1.5))
            .collect();
        let chunk = encode(&samples, ValueHint::Float).remove(0);
        assert_eq!(
            iter(&chunk[..2]).unwrap_err(),
            ChunkError::Truncated("header")
        );
        let truncated: Vec<_> = iter(&chunk[..chunk.len() / 2]).unwrap().collect();
        assert!(matches!(
            truncated.last(),
            Some(Err(ChunkError::Truncated(_)))
        ));
        let mut bad = chunk.clone();
        bad[0] = 9;
        assert_eq!(iter(&bad).unwrap_err(), ChunkError::UnknownEncoding(9));
    }

    fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-1_000_000i64..1_000_000).prop_map(|n| n as f64),
            (-1_000_000i64..1_000_000, 0u32..7).prop_map(|(n, k)| n as f64 / 10f64.powi(k as i32)),
            any::<f64>(),
            Just(f64::NAN),
            Just(STALE_NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_samples_round_trip_bit_for_bit(
            start in any::<i64>().prop_map(|t| t / 4),
            steps in prop::collection::vec((prop_oneof![Just(15_000i64), 1i64..100, 1i64..1_000_000_000, Just(15_003)], any_value()), 1..1200),
            first in any_value(),
            integer_hint in any::<bool>(),
        ) {
            let mut t = start;
            let mut samples = vec![Sample::new(t, first)];
            for (dt, v) in steps {
                t = t.saturating_add(dt);
                if t == samples.last().map_or(i64::MIN, |s| s.t) { continue; }
                samples.push(Sample::new(t, v));
            }
            let hint = if integer_hint { ValueHint::Integer(0) } else { ValueHint::Float };
            let chunks = encode(&samples, hint);
            prop_assert_eq!(bits(&decode(&chunks)), bits(&samples));
            let optimized = encode_optimized(&samples, hint);
            prop_assert_eq!(bits(&decode(&optimized)), bits(&samples));
            for (o, c) in optimized.iter().zip(&chunks) {
                prop_assert!(o.len() <= c.len());
            }
            for c in &chunks {
                prop_assert!(sample_count(c).unwrap() <= MAX_SAMPLES);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(it) = iter(&bytes) {
                for s in it {
                    if s.is_err() { break; }
                }
            }
        }
    }
}

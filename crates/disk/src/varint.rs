//! LEB128 varints, zigzag varints, length-prefixed strings, and a reader that says at which
//! byte a decoding failed.

/// Appends an unsigned LEB128 varint.
pub fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a zigzag-encoded signed varint.
pub fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Reads what the `put_*` functions wrote. Errors are sentences naming the byte, counted
/// from the start of `bytes`, where reading failed; callers add the file and the offset of
/// `bytes` in it.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// The bytes being read.
    pub bytes: &'a [u8],
    /// The read position.
    pub pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// The read position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Reads an unsigned varint.
    pub fn uvarint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(format!("varint cut off at byte {}", self.pos));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!(
            "varint longer than 10 bytes before byte {}",
            self.pos
        ))
    }

    /// Reads an unsigned varint that must fit in a `u32`.
    pub fn u32v(&mut self) -> Result<u32, String> {
        let at = self.pos;
        u32::try_from(self.uvarint()?).map_err(|_| format!("value at byte {at} exceeds 32 bits"))
    }

    /// Reads an unsigned varint used as a count, length or index. Callers reserve memory
    /// for at most a bounded part of a count, so a corrupt one cannot exhaust memory.
    pub fn usize(&mut self) -> Result<usize, String> {
        let at = self.pos;
        let v = self.uvarint()?;
        usize::try_from(v).map_err(|_| format!("count {v} at byte {at} does not fit in memory"))
    }

    /// Reads a zigzag-encoded signed varint.
    pub fn varint(&mut self) -> Result<i64, String> {
        let z = self.uvarint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| format!("byte cut off at byte {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads `N` raw bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let b = self
            .bytes
            .get(self.pos..self.pos + N)
            .ok_or_else(|| format!("{N} bytes cut off at byte {}", self.pos))?;
        self.pos += N;
        let mut out = [0; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Reads a little-endian u64.
    pub fn u64_le(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    /// Reads a little-endian u32.
    pub fn u32_le(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    /// Reads `len` raw bytes.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let b = self
            .bytes
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or_else(|| format!("{len} bytes cut off at byte {}", self.pos))?;
        self.pos += len;
        Ok(b)
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.usize()?;
        self.take(len)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<&'a str, String> {
        let at = self.pos;
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| format!("invalid UTF-8 in string at byte {at}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_strings_round_trip_and_cut_offs_name_the_byte() {
        let mut buf = Vec::new();
        for v in [0u64, 127, 128, 300, u64::MAX] {
            put_uvarint(&mut buf, v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            put_varint(&mut buf, v);
        }
        put_bytes(&mut buf, "größe".as_bytes());
        let mut r = Reader::new(&buf);
        for v in [0u64, 127, 128, 300, u64::MAX] {
            assert_eq!(r.uvarint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(r.varint().unwrap(), v);
        }
        assert_eq!(r.str().unwrap(), "größe");
        assert!(r.is_empty());
        let cut = &buf[..buf.len() - 2];
        let mut r = Reader::new(cut);
        for _ in 0..10 {
            r.uvarint().unwrap();
        }
        let e = r.str().unwrap_err();
        assert!(e.contains("cut off at byte"), "{e}");
    }
}

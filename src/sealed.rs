//! Files conduct reads back, sealed: a magic, a format version, and a checksum.
//!
//! Every file under `.cache/` that conduct later trusts (the parsed-config cache, the
//! state snapshot) is written as `[8-byte magic][u32 version][payload][32-byte BLAKE3
//! of everything before it]`. Reading it back checks all three: a file of another kind,
//! of another format version, or whose bytes changed since they were written (a flipped
//! bit, a truncated copy, an edit by hand) is a miss the caller reports as a warning,
//! never a value it acts on. (Records appended one by one, the state journal and the
//! action-cache packs, carry a checksum per record instead.)

use std::io::{self, Write};

/// Bytes of the checksum at the end.
const SUM: usize = 32;

/// Why sealed bytes cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsealed {
    /// Not this kind of file (another magic, or too short to be one).
    Foreign,
    /// Written by a conduct with another format version.
    Version(u32),
    /// The checksum does not match: the bytes changed after they were written.
    Damaged,
}

impl std::fmt::Display for Unsealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsealed::Foreign => f.write_str("not a file of conduct's"),
            Unsealed::Version(v) => {
                write!(f, "written in format {v}, which this conduct does not read")
            }
            Unsealed::Damaged => f.write_str("damaged (its checksum does not match its contents)"),
        }
    }
}

/// The checksum of `bytes` (in parallel for large ones: a 100,000-task state is tens of
/// megabytes, read on every build).
fn checksum(bytes: &[u8]) -> [u8; SUM] {
    let mut hasher = blake3::Hasher::new();
    if bytes.len() > 1 << 20 {
        crate::cores::parallel(|| hasher.update_rayon(bytes));
    } else {
        hasher.update(bytes);
    }
    *hasher.finalize().as_bytes()
}

/// The header every sealed file starts with.
pub(crate) fn header(magic: &[u8; 8], version: u32) -> [u8; 12] {
    let mut header = [0u8; 12];
    header[..8].copy_from_slice(magic);
    header[8..].copy_from_slice(&version.to_le_bytes());
    header
}

/// `magic`, `version`, `payload` and their checksum.
pub(crate) fn seal(magic: &[u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(12 + payload.len() + SUM);
    bytes.extend_from_slice(&header(magic, version));
    bytes.extend_from_slice(payload);
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum);
    bytes
}

/// The payload of sealed `bytes`, if they are sound and of this kind and version.
pub(crate) fn open<'b>(
    magic: &[u8; 8],
    version: u32,
    bytes: &'b [u8],
) -> Result<&'b [u8], Unsealed> {
    if bytes.len() < 12 + SUM || &bytes[..8] != magic {
        return Err(Unsealed::Foreign);
    }
    let found = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if found != version {
        return Err(Unsealed::Version(found));
    }
    let (body, sum) = bytes.split_at(bytes.len() - SUM);
    if checksum(body) != sum {
        return Err(Unsealed::Damaged);
    }
    Ok(&body[12..])
}

/// A writer that seals what passes through it: the header first, the checksum on
/// [`Sealing::finish`]. For files written as a stream (the state), never held whole.
pub(crate) struct Sealing<'w> {
    out: &'w mut dyn Write,
    hasher: blake3::Hasher,
    /// Bytes written so far, checksum included after `finish`.
    pub(crate) written: u64,
}

impl<'w> Sealing<'w> {
    pub(crate) fn new(
        out: &'w mut dyn Write,
        magic: &[u8; 8],
        version: u32,
    ) -> io::Result<Sealing<'w>> {
        let mut sealing = Sealing {
            out,
            hasher: blake3::Hasher::new(),
            written: 0,
        };
        sealing.write_all(&header(magic, version))?;
        Ok(sealing)
    }

    /// Append the checksum.
    pub(crate) fn finish(self) -> io::Result<u64> {
        let sum = *self.hasher.finalize().as_bytes();
        self.out.write_all(&sum)?;
        Ok(self.written + SUM as u64)
    }
}

impl Write for Sealing<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.out.write(bytes)?;
        self.hasher.update(&bytes[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_only_unchanged_and_of_their_kind() {
        let sealed = seal(b"CONDTEST", 3, b"payload");
        assert_eq!(open(b"CONDTEST", 3, &sealed), Ok(&b"payload"[..]));
        assert_eq!(open(b"CONDTEST", 4, &sealed), Err(Unsealed::Version(3)));
        assert_eq!(open(b"OTHERKND", 3, &sealed), Err(Unsealed::Foreign));
        assert_eq!(open(b"CONDTEST", 3, &sealed[..10]), Err(Unsealed::Foreign));
        for i in 12..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x10;
            assert_eq!(
                open(b"CONDTEST", 3, &flipped),
                Err(Unsealed::Damaged),
                "byte {i}"
            );
        }
        let mut streamed = Vec::new();
        let mut sealing = Sealing::new(&mut streamed, b"CONDTEST", 3).unwrap();
        sealing.write_all(b"pay").unwrap();
        sealing.write_all(b"load").unwrap();
        assert_eq!(sealing.finish().unwrap(), sealed.len() as u64);
        assert_eq!(streamed, sealed);
    }
}

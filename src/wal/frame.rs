//! Segment headers and frames: the byte layout of the log (DESIGN.md, "On-disk format").
//!
//! ```text
//! segment = header frame*            (then, possibly, zero bytes: the end)
//! header  = magic "spcstwal" (8) | version u32 | segment seq u64 | crc32 of the 20 bytes before (4)
//! frame   = len u32 | crc u32 | kind u8 | payload (len - 1 bytes)
//!           crc = crc32(segment seq as u64 LE ++ kind ++ payload)
//! ```
//! All integers little-endian. The CRC is salted with the segment's sequence number, so a frame
//! copied from (or left over in) another segment fails its check.

use byteorder::{ByteOrder, LittleEndian as LE};

/// The first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"spcstwal";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes in a segment header.
pub const HEADER_LEN: usize = 24;
/// Bytes before a frame's kind: the length and the CRC.
pub const FRAME_PREFIX: usize = 8;

/// Frame kind: a commit (one [`crate::record::Record`]).
pub const KIND_RECORD: u8 = 1;
/// Frame kind: an AddSeq reservation (payload: the highest reserved seq, u64).
pub const KIND_RESERVE: u8 = 2;
/// Frame kind: a clean close (payload: the last seq handed out, u64); seqs above it that an
/// earlier reservation covered were never handed out, so a restart may begin right above it.
pub const KIND_CLOSE: u8 = 3;
/// Frame kind: the first frame of a checkpoint segment (payload: the reserved seq, u64). The
/// segment holds the whole live state; every segment before it is superseded.
pub const KIND_CHECKPOINT: u8 = 4;

/// The header of segment `seq`.
pub fn header(seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    LE::write_u32(&mut h[8..12], VERSION);
    LE::write_u64(&mut h[12..20], seq);
    let crc = crc32fast::hash(&h[..20]);
    LE::write_u32(&mut h[20..24], crc);
    h
}

/// Why a header is not valid.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    Short,
    /// Not a spacestore segment, or a damaged header.
    Bad(&'static str),
    /// A valid header of another format version.
    Version(u32),
}

/// Checks the header of segment `seq` at the start of `bytes`.
pub fn check_header(bytes: &[u8], seq: u64) -> Result<(), HeaderError> {
    if bytes.len() < HEADER_LEN {
        return Err(HeaderError::Short);
    }
    let h = &bytes[..HEADER_LEN];
    if crc32fast::hash(&h[..20]) != LE::read_u32(&h[20..24]) {
        return Err(HeaderError::Bad("segment header checksum mismatch"));
    }
    if h[..8] != MAGIC {
        return Err(HeaderError::Bad("not a spacestore log segment (bad magic)"));
    }
    let version = LE::read_u32(&h[8..12]);
    if version != VERSION {
        return Err(HeaderError::Version(version));
    }
    if LE::read_u64(&h[12..20]) != seq {
        return Err(HeaderError::Bad("segment header names another segment"));
    }
    Ok(())
}

/// The CRC of a frame of `kind` with `payload` in segment `seq`.
pub fn checksum(seq: u64, kind: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&[kind]);
    h.update(payload);
    h.finalize()
}

/// The largest payload a frame can carry (its length field, kind included, is a u32).
pub const MAX_PAYLOAD: u64 = u32::MAX as u64 - 1;

/// Appends to `out` a frame of `kind` whose payload `write_payload` appends.
///
/// # Panics
///
/// When the payload is larger than [`MAX_PAYLOAD`]: the log checks every record's size first
/// (`Error::BatchTooLarge`), so this is a bug, never a frame whose length would be cut.
pub fn encode(out: &mut Vec<u8>, seq: u64, kind: u8, write_payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_PREFIX]);
    out.push(kind);
    write_payload(out);
    let len = u32::try_from(out.len() - start - FRAME_PREFIX)
        .expect("a frame payload larger than MAX_PAYLOAD (the log checks sizes first)");
    let crc = checksum(seq, kind, &out[start + FRAME_PREFIX + 1..]);
    LE::write_u32(&mut out[start..start + 4], len);
    LE::write_u32(&mut out[start + 4..start + 8], crc);
}

/// The u64 payload of a reservation, close or checkpoint frame; `None` when the payload is not
/// exactly 8 bytes.
pub fn payload_u64(bytes: &[u8], payload: std::ops::Range<usize>) -> Option<u64> {
    (payload.len() == 8).then(|| LE::read_u64(&bytes[payload]))
}

/// What is at a position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A frame whose CRC matches: its kind, its payload's byte range, and where the next starts.
    Frame {
        /// The frame kind.
        kind: u8,
        /// Byte range of the payload in the segment.
        payload: std::ops::Range<usize>,
        /// Offset of the next frame.
        next: usize,
    },
    /// The end of the segment's data: no bytes left, or zeros where a frame would start.
    End,
    /// Not a valid frame.
    Bad(&'static str),
}

/// Parses the frame at `pos` of segment `seq`. Every length is checked against the bytes
/// there before it is used.
pub fn parse(bytes: &[u8], pos: usize, seq: u64) -> Parsed {
    let rest = bytes.len().saturating_sub(pos);
    if rest == 0 {
        return Parsed::End;
    }
    if rest < FRAME_PREFIX + 1 {
        return if bytes[pos..].iter().all(|&b| b == 0) {
            Parsed::End
        } else {
            Parsed::Bad("incomplete frame header")
        };
    }
    let len = LE::read_u32(&bytes[pos..pos + 4]) as usize;
    let crc = LE::read_u32(&bytes[pos + 4..pos + 8]);
    if len == 0 && crc == 0 {
        return Parsed::End;
    }
    if len == 0 || len > rest - FRAME_PREFIX {
        return Parsed::Bad("frame length runs past the end of the segment");
    }
    let kind = bytes[pos + FRAME_PREFIX];
    let payload = pos + FRAME_PREFIX + 1..pos + FRAME_PREFIX + len;
    if checksum(seq, kind, &bytes[payload.clone()]) != crc {
        return Parsed::Bad("frame checksum mismatch");
    }
    Parsed::Frame {
        kind,
        next: payload.end,
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, seq, KIND_RECORD, |o| o.extend_from_slice(payload));
        out
    }

    #[test]
    fn a_frame_parses_back() {
        let f = frame(3, b"hello");
        assert_eq!(
            parse(&f, 0, 3),
            Parsed::Frame {
                kind: KIND_RECORD,
                payload: 9..14,
                next: 14
            }
        );
    }

    #[test]
    fn a_frame_from_another_segment_fails_its_check() {
        let f = frame(3, b"hello");
        assert!(matches!(parse(&f, 0, 4), Parsed::Bad(_)));
    }

    #[test]
    fn zeros_end_the_segment() {
        assert_eq!(parse(&[0u8; 32], 0, 1), Parsed::End);
        assert_eq!(parse(&[0u8; 3], 0, 1), Parsed::End);
    }

    #[test]
    fn a_cut_frame_is_bad() {
        let f = frame(1, b"hello world");
        for cut in 1..f.len() {
            assert!(
                matches!(parse(&f[..cut], 0, 1), Parsed::Bad(_)),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_huge_length_is_bad_not_an_allocation() {
        let mut f = frame(1, b"x");
        f[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&f, 0, 1), Parsed::Bad(_)));
    }

    #[test]
    fn header_round_trips_and_names_its_segment() {
        let h = header(7);
        assert_eq!(check_header(&h, 7), Ok(()));
        assert!(matches!(check_header(&h, 8), Err(HeaderError::Bad(_))));
        assert_eq!(check_header(&h[..10], 7), Err(HeaderError::Short));
    }
}

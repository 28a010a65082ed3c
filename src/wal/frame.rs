//! Segment headers and frames: the byte layout of the log (DESIGN.md, "On-disk format"), in
//! the version this build writes (2) and the one before it (1), which it still reads.
//!
//! ```text
//! segment   = header frame*            (then, possibly, zero bytes: the end)
//! header v2 = magic "spcstwal" (8) | version u32 = 2 | segment seq u64 | previous segment seq u64
//!           | incarnation u128 | salt u64 | flags u8 | 3 zero bytes | crc32 of the 56 bytes before (4)
//! frame v2  = marker u32 | len u32 | crc u32 | kind u8 | payload (len - 1 bytes)
//!             marker = the salt's low 32 bits; crc = crc32(salt u64 ++ len ++ kind ++ payload)
//! header v1 = magic (8) | version u32 = 1 | segment seq u64 | crc32 of the 20 bytes before (4)
//! frame v1  = len u32 | crc u32 | kind u8 | payload;  crc = crc32(segment seq u64 ++ kind ++ payload)
//! ```
//! All integers little-endian. A v2 segment's salt is random (from the OS), so no bytes from
//! outside (a peer's change) can be a valid frame, and a frame is found by its marker in one
//! pass: one valid frame after a bad one is proof of corruption. v1's salt, the segment number,
//! is predictable, so v1 asks for a run of valid frames to the end of the segment instead.

use byteorder::{ByteOrder, LittleEndian as LE};

/// The first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"spcstwal";
/// The format version this build writes.
pub const VERSION: u32 = 2;
/// The oldest format version this build reads.
pub const OLDEST_VERSION: u32 = 1;
/// Bytes in a segment header (the version this build writes).
pub const HEADER_LEN: usize = 60;
/// Bytes in a version 1 segment header.
pub const HEADER_LEN_V1: usize = 24;
/// The most bytes a segment header of any readable version takes.
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub const MAX_HEADER_LEN: usize = HEADER_LEN;
/// Bytes before a frame's kind (the version this build writes): marker, length, CRC.
pub const FRAME_PREFIX: usize = 12;
/// Bytes before a version 1 frame's kind: length and CRC.
pub const FRAME_PREFIX_V1: usize = 8;

/// Header flag: this segment starts a new incarnation of the space (the first segment written
/// after a repair moved data aside, or after an upgrade from version 1).
pub const FLAG_NEW_INCARNATION: u8 = 1;

/// Frame kind: a commit (one record).
pub const KIND_RECORD: u8 = 1;
/// Frame kind: an AddSeq reservation (payload: the highest reserved seq, u64).
pub const KIND_RESERVE: u8 = 2;
/// Frame kind: a clean close (payload: the last seq handed out, u64); seqs above it that an
/// earlier reservation covered were never handed out, so a restart may begin right above it.
pub const KIND_CLOSE: u8 = 3;
/// Frame kind: the first frame of a checkpoint segment (payload: the reserved seq, u64). The
/// segment holds the whole live state; every segment before it is superseded.
pub const KIND_CHECKPOINT: u8 = 4;

/// The largest payload a frame can carry (its length field, kind included, is a u32).
pub const MAX_PAYLOAD: u64 = u32::MAX as u64 - 1;

/// A payload too large for one frame ([`Framing::try_encode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadTooLarge {
    /// The payload's bytes.
    pub bytes: u64,
}

impl std::fmt::Display for PayloadTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a frame payload of {} bytes, more than a frame holds ({MAX_PAYLOAD})",
            self.bytes
        )
    }
}

impl std::error::Error for PayloadTooLarge {}

/// A segment's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The format version.
    pub version: u32,
    /// The segment's sequence number (its file name).
    pub seq: u64,
    /// v2: the sequence number of the segment before it in the log (0: none).
    pub prev: u64,
    /// v2: the space's incarnation, a random id made when the space was created (and anew by a
    /// repair that moved data aside).
    pub incarnation: u128,
    /// v2: the random salt of the segment's frames.
    pub salt: u64,
    /// v2: flags ([`FLAG_NEW_INCARNATION`]).
    pub flags: u8,
}

impl SegmentHeader {
    /// A version 2 header.
    pub fn new(seq: u64, prev: u64, incarnation: u128, salt: u64, flags: u8) -> Self {
        SegmentHeader {
            version: VERSION,
            seq,
            prev,
            incarnation,
            salt,
            flags,
        }
    }

    /// The header's bytes (version 2).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        LE::write_u32(&mut h[8..12], VERSION);
        LE::write_u64(&mut h[12..20], self.seq);
        LE::write_u64(&mut h[20..28], self.prev);
        LE::write_u128(&mut h[28..44], self.incarnation);
        LE::write_u64(&mut h[44..52], self.salt);
        h[52] = self.flags;
        let crc = crc32fast::hash(&h[..56]);
        LE::write_u32(&mut h[56..60], crc);
        h
    }

    /// Bytes the header takes.
    pub fn header_len(&self) -> usize {
        if self.version == 1 {
            HEADER_LEN_V1
        } else {
            HEADER_LEN
        }
    }

    /// How the segment's frames are laid out.
    pub fn framing(&self) -> Framing {
        if self.version == 1 {
            Framing::V1 { seq: self.seq }
        } else {
            Framing::V2 { salt: self.salt }
        }
    }
}

/// Why a header is not valid.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    Short,
    /// Not a spacestore segment, or a damaged header (its CRC fails): maybe a torn write.
    Bad(&'static str),
    /// A valid header of a format version this build does not read.
    Version(u32),
    /// A header whose CRC matches but that does not belong here (it names another segment):
    /// never a torn write.
    Mismatch(String),
}

/// Reads the header of segment `seq` at the start of `bytes`.
pub fn read_header(bytes: &[u8], seq: u64) -> Result<SegmentHeader, HeaderError> {
    if bytes.len() < 12 {
        return Err(HeaderError::Short);
    }
    if bytes[..8] != MAGIC {
        return Err(HeaderError::Bad("not a spacestore log segment (bad magic)"));
    }
    let version = LE::read_u32(&bytes[8..12]);
    let header = match version {
        // No version is 0: the magic landed and the rest of the header did not (a write torn
        // after byte 8, the rest of the file zeros). A damaged header, maybe torn; not a
        // segment of another version, which would never be repaired.
        0 => {
            return Err(HeaderError::Bad(
                "incomplete segment header (its version is zero)",
            ))
        }
        1 => {
            if bytes.len() < HEADER_LEN_V1 {
                return Err(HeaderError::Short);
            }
            if crc32fast::hash(&bytes[..20]) != LE::read_u32(&bytes[20..24]) {
                return Err(HeaderError::Bad("segment header checksum mismatch"));
            }
            SegmentHeader {
                version,
                seq: LE::read_u64(&bytes[12..20]),
                prev: 0,
                incarnation: 0,
                salt: 0,
                flags: 0,
            }
        }
        2 => {
            if bytes.len() < HEADER_LEN {
                return Err(HeaderError::Short);
            }
            if crc32fast::hash(&bytes[..56]) != LE::read_u32(&bytes[56..60]) {
                return Err(HeaderError::Bad("segment header checksum mismatch"));
            }
            SegmentHeader {
                version,
                seq: LE::read_u64(&bytes[12..20]),
                prev: LE::read_u64(&bytes[20..28]),
                incarnation: LE::read_u128(&bytes[28..44]),
                salt: LE::read_u64(&bytes[44..52]),
                flags: bytes[52],
            }
        }
        v => return Err(HeaderError::Version(v)),
    };
    if header.seq != seq {
        return Err(HeaderError::Mismatch(format!(
            "the segment header names segment {}, not {seq} (a segment copied or renamed into \
             place)",
            header.seq
        )));
    }
    Ok(header)
}

/// The CRC of a v1 frame of `kind` with `payload` in segment `seq`.
fn checksum_v1(seq: u64, kind: u8, payload: &[u8]) -> u32 {
    let mut h = crc_hasher();
    h.update(&seq.to_le_bytes());
    h.update(&[kind]);
    h.update(payload);
    h.finalize()
}

/// A new CRC32 hasher: a copy of one made once (`Hasher::new` detects the CPU's features
/// each time it is called: about 1% of a reopen's instructions, one call per frame).
fn crc_hasher() -> crc32fast::Hasher {
    static FIRST: std::sync::OnceLock<crc32fast::Hasher> = std::sync::OnceLock::new();
    FIRST.get_or_init(crc32fast::Hasher::new).clone()
}

/// The CRC of a v2 frame.
fn checksum_v2(salt: u64, len: u32, kind: u8, payload: &[u8]) -> u32 {
    // The salt, the length and the kind, in this order, fed as one slice (one call where three
    // cost a third of a small frame's CRC).
    let mut prefix = [0u8; 13];
    prefix[..8].copy_from_slice(&salt.to_le_bytes());
    prefix[8..12].copy_from_slice(&len.to_le_bytes());
    prefix[12] = kind;
    let mut h = crc_hasher();
    h.update(&prefix);
    h.update(payload);
    h.finalize()
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

/// How a segment's frames are laid out: by its header's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Version 1: CRCs salted with the segment number.
    V1 {
        /// The segment number.
        seq: u64,
    },
    /// Version 2: a marker and CRCs from the segment's random salt.
    V2 {
        /// The segment's salt.
        salt: u64,
    },
}

impl Framing {
    /// Bytes before a frame's kind.
    pub fn prefix(&self) -> usize {
        match self {
            Framing::V1 { .. } => FRAME_PREFIX_V1,
            Framing::V2 { .. } => FRAME_PREFIX,
        }
    }

    /// Appends to `out` a frame of `kind` whose payload `write_payload` appends (for the tools
    /// and tests, whose frames are small; the log itself uses [`Framing::try_encode`]).
    ///
    /// # Panics
    ///
    /// When the payload is larger than [`MAX_PAYLOAD`].
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn encode(&self, out: &mut Vec<u8>, kind: u8, write_payload: impl FnOnce(&mut Vec<u8>)) {
        if let Err(e) = self.try_encode(out, kind, write_payload) {
            panic!("{e}");
        }
    }

    /// Appends to `out` a frame of `kind` whose payload `write_payload` appends.
    ///
    /// # Errors
    ///
    /// [`PayloadTooLarge`] when the payload is larger than [`MAX_PAYLOAD`] (a frame's length is
    /// a u32): `out` is left as it was. The log measures every record first, so this is its
    /// last line of defence, never a frame whose length is cut.
    pub fn try_encode(
        &self,
        out: &mut Vec<u8>,
        kind: u8,
        write_payload: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), PayloadTooLarge> {
        let start = out.len();
        let prefix = self.prefix();
        out.resize(start + prefix, 0);
        out.push(kind);
        write_payload(out);
        let payload = (out.len() - start - prefix - 1) as u64;
        let len = match u32::try_from(payload + 1) {
            Ok(len) if payload <= MAX_PAYLOAD => len,
            _ => {
                out.truncate(start);
                return Err(PayloadTooLarge { bytes: payload });
            }
        };
        let body = start + prefix + 1;
        match *self {
            Framing::V1 { seq } => {
                let crc = checksum_v1(seq, kind, &out[body..]);
                LE::write_u32(&mut out[start..start + 4], len);
                LE::write_u32(&mut out[start + 4..start + 8], crc);
            }
            Framing::V2 { salt } => {
                let crc = checksum_v2(salt, len, kind, &out[body..]);
                LE::write_u32(&mut out[start..start + 4], salt as u32);
                LE::write_u32(&mut out[start + 4..start + 8], len);
                LE::write_u32(&mut out[start + 8..start + 12], crc);
            }
        }
        Ok(())
    }

    /// Parses the frame at `pos`. Every length is checked against the bytes there before it is
    /// used.
    pub fn parse(&self, bytes: &[u8], pos: usize) -> Parsed {
        let rest = bytes.len().saturating_sub(pos);
        if rest == 0 {
            return Parsed::End;
        }
        let prefix = self.prefix();
        if rest < prefix + 1 {
            return if bytes[pos..].iter().all(|&b| b == 0) {
                Parsed::End
            } else {
                Parsed::Bad("incomplete frame header")
            };
        }
        if bytes[pos..pos + prefix].iter().all(|&b| b == 0) {
            return Parsed::End;
        }
        let (len, crc) = match *self {
            Framing::V1 { .. } => (
                LE::read_u32(&bytes[pos..pos + 4]),
                LE::read_u32(&bytes[pos + 4..pos + 8]),
            ),
            Framing::V2 { salt } => {
                if LE::read_u32(&bytes[pos..pos + 4]) != salt as u32 {
                    return Parsed::Bad("not a frame of this segment (its marker does not match)");
                }
                (
                    LE::read_u32(&bytes[pos + 4..pos + 8]),
                    LE::read_u32(&bytes[pos + 8..pos + 12]),
                )
            }
        };
        let len_usize = len as usize;
        if len == 0 || len_usize > rest - prefix {
            return Parsed::Bad("frame length runs past the end of the segment");
        }
        let kind = bytes[pos + prefix];
        let payload = pos + prefix + 1..pos + prefix + len_usize;
        let expected = match *self {
            Framing::V1 { seq } => checksum_v1(seq, kind, &bytes[payload.clone()]),
            Framing::V2 { salt } => checksum_v2(salt, len, kind, &bytes[payload.clone()]),
        };
        if expected != crc {
            return Parsed::Bad("frame checksum mismatch");
        }
        Parsed::Frame {
            kind,
            next: payload.end,
            payload,
        }
    }

    /// The first valid frame that starts at or after `from`: its offset and what [`parse`]
    /// says of it. v2 finds candidates by their marker (one pass, memchr's `memmem`); v1 tries
    /// every offset.
    ///
    /// [`parse`]: Framing::parse
    pub fn next_frame(&self, bytes: &[u8], from: usize) -> Option<(usize, Parsed)> {
        let from = from.min(bytes.len());
        match *self {
            Framing::V2 { salt } => {
                let marker = (salt as u32).to_le_bytes();
                memchr::memmem::find_iter(&bytes[from..], &marker)
                    .map(|i| from + i)
                    .find_map(|q| match self.parse(bytes, q) {
                        f @ Parsed::Frame { .. } => Some((q, f)),
                        _ => None,
                    })
            }
            Framing::V1 { .. } => (from..bytes.len()).find_map(|q| match self.parse(bytes, q) {
                f @ Parsed::Frame { .. } => Some((q, f)),
                _ => None,
            }),
        }
    }

    /// Whether anything valid starts in `bytes` after `from`: what tells corruption (valid
    /// data after a bad frame) from a torn tail (nothing after it). v2: one valid frame (no
    /// bytes from outside can be one: the salt is random). v1: a run of valid frames to the end
    /// of the data (a change's bytes may embed a frame: v1's salt is predictable).
    pub fn valid_after(&self, bytes: &[u8], from: usize) -> bool {
        match self {
            Framing::V2 { .. } => self.next_frame(bytes, from).is_some(),
            Framing::V1 { .. } => self.v1_valid_run_after(bytes, from),
        }
    }

    /// v1: whether a run of valid frames that goes on to the end of the data starts after
    /// `from`. Runs of zeros (preallocated space) are skipped at once.
    fn v1_valid_run_after(&self, bytes: &[u8], from: usize) -> bool {
        let run_from = |mut p: usize| -> bool {
            let mut frames = 0;
            loop {
                match self.parse(bytes, p) {
                    Parsed::Frame { next, .. } => {
                        frames += 1;
                        p = next;
                    }
                    Parsed::End => return frames > 0,
                    Parsed::Bad(_) => return false,
                }
            }
        };
        let mut p = from;
        while p < bytes.len() {
            match bytes[p..].iter().position(|&b| b != 0) {
                None => return false,
                Some(skip) => p += skip,
            }
            // A frame's first byte may be a zero (its length's low byte): look a little back.
            let back = p.saturating_sub(3).max(from);
            if (back..=p).any(run_from) {
                return true;
            }
            p += 1;
        }
        false
    }
}

/// A new random frame salt (from the OS), never with a zero marker (its low 32 bits).
pub(crate) fn new_salt() -> u64 {
    loop {
        let salt = u64::from_le_bytes(random_bytes());
        if salt as u32 != 0 {
            return salt;
        }
    }
}

/// A new random incarnation id (from the OS), never 0.
pub(crate) fn new_incarnation() -> u128 {
    loop {
        let id = u128::from_le_bytes(random_bytes());
        if id != 0 {
            return id;
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness (never seen on a supported system): a per-process random hash of
        // the time, so that salts still differ from one segment to the next.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let x = h.finish().to_le_bytes();
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = x[i % 8] ^ (i as u8);
        }
    }
    b
}

/// The header of a version 1 segment `seq`: for tests and fixtures of the old format.
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub fn header_v1(seq: u64) -> [u8; HEADER_LEN_V1] {
    let mut h = [0u8; HEADER_LEN_V1];
    h[..8].copy_from_slice(&MAGIC);
    LE::write_u32(&mut h[8..12], 1);
    LE::write_u64(&mut h[12..20], seq);
    let crc = crc32fast::hash(&h[..20]);
    LE::write_u32(&mut h[20..24], crc);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: Framing = Framing::V2 {
        salt: 0x1234_5678_9abc_def1,
    };

    fn frame(framing: Framing, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        framing.encode(&mut out, KIND_RECORD, |o| o.extend_from_slice(payload));
        out
    }

    #[test]
    fn a_frame_parses_back_in_both_versions() {
        for framing in [V2, Framing::V1 { seq: 3 }] {
            let f = frame(framing, b"hello");
            let p = framing.prefix();
            assert_eq!(
                framing.parse(&f, 0),
                Parsed::Frame {
                    kind: KIND_RECORD,
                    payload: p + 1..p + 6,
                    next: p + 6
                }
            );
        }
    }

    #[test]
    fn a_frame_of_another_segment_fails_its_check() {
        let f = frame(V2, b"hello");
        assert!(matches!(
            Framing::V2 { salt: 99 }.parse(&f, 0),
            Parsed::Bad(_)
        ));
        let f = frame(Framing::V1 { seq: 3 }, b"hello");
        assert!(matches!(
            Framing::V1 { seq: 4 }.parse(&f, 0),
            Parsed::Bad(_)
        ));
    }

    #[test]
    fn zeros_end_the_segment() {
        for framing in [V2, Framing::V1 { seq: 1 }] {
            assert_eq!(framing.parse(&[0u8; 32], 0), Parsed::End);
            assert_eq!(framing.parse(&[0u8; 3], 0), Parsed::End);
        }
    }

    #[test]
    fn a_cut_frame_is_bad() {
        for framing in [V2, Framing::V1 { seq: 1 }] {
            let f = frame(framing, b"hello world");
            for cut in 1..f.len() {
                assert!(
                    matches!(framing.parse(&f[..cut], 0), Parsed::Bad(_)),
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn a_huge_length_is_bad_not_an_allocation() {
        let mut f = frame(V2, b"x");
        f[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(V2.parse(&f, 0), Parsed::Bad(_)));
    }

    #[test]
    fn a_v2_frame_is_found_after_garbage_by_its_marker() {
        let mut bytes = vec![0xabu8; 1000];
        bytes.extend(frame(V2, b"found"));
        bytes.extend([0xcdu8; 100]);
        let (at, _) = V2.next_frame(&bytes, 1).unwrap();
        assert_eq!(at, 1000);
        assert!(V2.valid_after(&bytes, 1));
        assert!(!V2.valid_after(&bytes, 1001));
    }

    #[test]
    fn headers_round_trip_and_name_their_segment() {
        let h = SegmentHeader::new(7, 6, 42, 0x55, FLAG_NEW_INCARNATION);
        let bytes = h.encode();
        let back = read_header(&bytes, 7).unwrap();
        assert_eq!(
            (back.seq, back.prev, back.incarnation, back.salt),
            (7, 6, 42, 0x55)
        );
        assert!(matches!(
            read_header(&bytes, 8),
            Err(HeaderError::Mismatch(_))
        ));
        assert_eq!(read_header(&bytes[..10], 7), Err(HeaderError::Short));
        assert_eq!(read_header(&header_v1(7), 7).unwrap().version, 1);
    }
}

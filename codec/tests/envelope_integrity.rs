//! Envelope integrity, in strict form.
//!
//! The TypeScript library's `envelope-integrity.test.ts` (25 cases) checks that `unpack`
//! rejects malformed envelopes and that `verify` returns false "if unpack succeeds". Here every
//! case must make the full decode fail, always, through both readers (one-shot [`envelope::open`]
//! and the streaming [`EnvelopeReader`]), for v1 and, where the case applies, v2. Then the gaps
//! the TypeScript scenarios leave: header tampering (v2's hash covers it; v1 is still caught by
//! the exact-size rule), every single-bit flip anywhere, a decompression bomb with a valid hash,
//! envelopes written by Node, and property tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;
use common::json_payload;
use std::io::{Cursor, Read, Write};
use tracehound_test_support::hex;

use proptest::prelude::*;
use tracehound_codec::envelope::{
    self, Envelope, EnvelopeReader, EnvelopeWriter, Format, SealOptions, V1_HEADER_LEN,
    V2_HEADER_LEN,
};
use tracehound_codec::gzip::Level;
use tracehound_codec::{CodecError, Digest};

const CAP: u64 = 1 << 20;
const FORMATS: [Format; 2] = [Format::V1, Format::V2];

fn options(format: Format) -> SealOptions {
    let mut options = SealOptions::default();
    options.format = format;
    options
}

fn sealed(format: Format, payload: &[u8]) -> Vec<u8> {
    envelope::seal_with(payload, options(format)).unwrap()
}

/// Incompressible bytes (xorshift32).
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn unhex(text: &str) -> Vec<u8> {
    tracehound_test_support::unhex(text).unwrap()
}

/// Decodes through the streaming reader, turning its `io::Error`s back into `CodecError`s.
fn stream_open(bytes: &[u8], cap: u64) -> Result<Vec<u8>, CodecError> {
    let mut reader = EnvelopeReader::new(bytes, cap)?;
    let mut out = Vec::new();
    match reader.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => Err(e.downcast::<CodecError>().unwrap_or_else(CodecError::Io)),
    }
}

/// Both readers refuse `bytes`; returns the one-shot reader's reason.
#[track_caller]
fn refused(bytes: &[u8]) -> CodecError {
    let streamed = stream_open(bytes, CAP);
    assert!(streamed.is_err(), "the streaming reader accepted it");
    match envelope::open(bytes, CAP) {
        Ok(_) => panic!("the one-shot reader accepted it"),
        Err(e) => e,
    }
}

/// Both readers return `payload`, and the envelope's fields say so.
#[track_caller]
fn opens_to(bytes: &[u8], payload: &[u8]) {
    let unpacked = Envelope::unpack(bytes).unwrap();
    assert_eq!(unpacked.original_size(), payload.len() as u64);
    unpacked.verify().unwrap();
    assert_eq!(envelope::open(bytes, CAP).unwrap(), payload);
    assert_eq!(stream_open(bytes, CAP).unwrap(), payload);
}

/// Offsets of the size fields: (original size, compressed size, field width).
fn size_fields(format: Format) -> (usize, usize, usize) {
    match format {
        Format::V1 => (6, 10, 4),
        _ => (10, 18, 8),
    }
}

fn set_field(bytes: &mut [u8], offset: usize, width: usize, value: u64) {
    let be = value.to_be_bytes();
    bytes[offset..offset + width].copy_from_slice(&be[8 - width..]);
}

fn read_field(bytes: &[u8], offset: usize, width: usize) -> u64 {
    bytes[offset..offset + width]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Rewrites the stored hash so it matches the (possibly altered) envelope, as a writer of the
/// storage could: the documented hash input, no help from the library.
fn rehash(bytes: &mut [u8], format: Format) {
    match format {
        Format::V1 => {
            let digest = Digest::of(&bytes[V1_HEADER_LEN..]);
            bytes[14..V1_HEADER_LEN].copy_from_slice(digest.to_string().as_bytes());
        }
        _ => {
            let digest = Digest::of_parts(&[&bytes[V2_HEADER_LEN..], &bytes[..26]]);
            bytes[26..V2_HEADER_LEN].copy_from_slice(digest.as_bytes());
        }
    }
}

// --- Known answers --------------------------------------------------------------------------

/// `envelope_v1.envelope_hex` of `../shared/testdata/tracehound-ts/vectors.json`.
fn typescript_vector() -> Vec<u8> {
    let path = format!(
        "{}/../../shared/testdata/tracehound-ts/vectors.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let section = &text[text.find("\"envelope_v1\"").unwrap()..];
    let key = "\"envelope_hex\": \"";
    let start = section.find(key).unwrap() + key.len();
    let end = start + section[start..].find('"').unwrap();
    unhex(&section[start..end])
}

#[test]
fn v1_packs_hello_exactly_as_the_typescript_library() {
    let vector = typescript_vector();
    assert_eq!(vector.len(), 103);
    assert_eq!(
        envelope::seal_with(b"hello", SealOptions::v1()).unwrap(),
        vector
    );
    assert_eq!(
        hex(&vector[V1_HEADER_LEN..]),
        "1f8b0800000000000003cb48cdc9c9070086a6103605000000"
    );
}

#[test]
fn v1_reads_the_typescript_vector() {
    let vector = typescript_vector();
    let unpacked = Envelope::unpack(&vector).unwrap();
    assert_eq!(unpacked.format(), Format::V1);
    assert_eq!(unpacked.original_size(), 5);
    assert_eq!(unpacked.compressed().len(), 25);
    assert_eq!(unpacked.level(), None);
    assert_eq!(
        unpacked.hash().to_string(),
        "f901eda57fd86d4239806fd4b76f64036c1c20711267a7bc776ab2aa45069b2a"
    );
    opens_to(&vector, b"hello");
}

/// A v1 envelope of `json_payload(4096)` made by Node 20.20 (zlib 1.3.1) the way the
/// TypeScript library's `packEnvelope(encodeWithIntegrity(bytes))` does.
const NODE_V1_ENVELOPE: [&str; 18] = [
    "54484353000100001000000002be336463653233666434626534613462313665373335323466393831366633",
    "333634616137386330373064353063666366343561336433666533376432663236641f8b0800000000000003",
    "8d975d8a54410c85b732d48b0a3d76e5b7aa1ab20411dc4183820d238e38fae0e0de055f3ab9702e77038754",
    "72be9cd46bbb7d6e977e6acfd797afedd2ced7e7dbf9379d6f2f5fbefd3c33a9cf766a3fdaa5bd79f8f8e941",
    "28683d3c3eb653fb756d97f6e1fb9fdbd3d3f56ceffbc35b7bd7fe9e5eff0b12105c6b16bda5c11de9e95d8f",
    "51814c34b22085da013d017aa2abd4e7c103c9d15d4e811cf9e2529eaea023820605bb5a11ecc1f0c1721774",
    "24b8865216b41e8391e0b80b0e24c8c4bc19314d24e877c10904a7522f2399a10a5bc877c1052b642f4f9615",
    "0e2b4c82043119ddca9ba7c78453c9351202c5dc56a951c2e05892b10991b2861567db0c834e9c4910a1c2d4",
    "67f1b6cc9872c0db8468619ba3987b48386c63de36081761a9fbcb4738c11a73910818761629044a38463acf",
    "1a22634cd53e3d261c765644ccd0f06af11102d776829a1033dc757916e415ec07ecc38899498b366d3c621e",
    "46c0b074afe6f120b827d26664982da283369bcca162da640cd3857bede2f430d8c5ec1d8609d3c72c459206",
    "1d59140c2346ad16a91e30a2a92745888c6cfccdeb58c63022869555cb6828e458231132b621462cecd0b011",
    "3246ba79b31f415060c898ab6c2a24b8cbb2224286c44ab2ce1584532b412808195a368a77c6da0bc22c8998",
    "99ddca5c7a287c743ef0203093a55ac762c0f44f9b4cf04d3667b1b7ee644c16843799742e93660b86dec908",
    "0a02c6d62c8aee3b77775a8e82706122af81d063c0059e00141831a2a39c3cb6b324f2ed8d80596b95b15030",
    "043a8d45112e42b3263f8d70d8c4951461c20ca9d7fc9cc1f0cd69e928a28578542f0e0b3bf23f507894495f",
    "f58745a170d5e657235e946a1ac8dcf92024a415ff611695364adf39e8731a283cc9c6c63c3a76ae8944a042",
    "60786dee46da714ff637046639d7c8f21d0453205822e61fbcf593c400100000",
];

#[test]
fn v1_reads_envelopes_node_wrote_even_where_our_gzip_bytes_differ() {
    let node = unhex(&NODE_V1_ENVELOPE.concat());
    assert_eq!(node.len(), 780);
    let payload = json_payload(4096);
    assert_eq!(
        Digest::of(&payload).to_string(),
        "bc56dc0b599668a0ec39a8da476e6707c95338f18ed40ebdfcb495226a639b82"
    );
    opens_to(&node, &payload);
    // zlib-rs chooses other matches than C zlib at this size: a valid, different envelope.
    let ours = envelope::seal_with(&payload, SealOptions::v1()).unwrap();
    assert_ne!(ours, node);
    assert_eq!(ours[..10], node[..10]); // magic, version, original size
    opens_to(&ours, &payload);
}

#[test]
fn v2_layout_is_as_documented() {
    let sealed = sealed(Format::V2, b"hello");
    // The worked example of docs/envelope-format.md, section 8.
    assert_eq!(
        hex(&sealed),
        concat!(
            "5448435300020106000000000000000000050000000000000019",
            "1822f76594213e288cd996428badec43fe44f047ce251f3337b59e7008076d3e",
            "1f8b0800000000000003cb48cdc9c9070086a6103605000000"
        )
    );
    assert_eq!(sealed.len(), V2_HEADER_LEN + 25);
    assert_eq!(&sealed[..4], b"THCS");
    assert_eq!(sealed[4..6], [0, 2]); // version
    assert_eq!(sealed[6], 1); // gzip
    assert_eq!(sealed[7], 6); // level
    assert_eq!(sealed[8..10], [0, 0]); // flags
    assert_eq!(read_field(&sealed, 10, 8), 5);
    assert_eq!(read_field(&sealed, 18, 8), 25);
    // The same gzip member as v1's.
    assert_eq!(
        sealed[V2_HEADER_LEN..],
        typescript_vector()[V1_HEADER_LEN..]
    );
    let hash = Digest::of_parts(&[&sealed[V2_HEADER_LEN..], &sealed[..26]]);
    assert_eq!(sealed[26..V2_HEADER_LEN], hash.as_bytes()[..]);
    assert_eq!(Envelope::unpack(&sealed).unwrap().hash(), hash);
    assert_eq!(
        Envelope::unpack(&sealed).unwrap().level(),
        Some(Level::DEFAULT)
    );
}

// --- The 25 TypeScript cases, strict ---------------------------------------------------------

/// TypeScript case 1: Any one of the four magic bytes set to 0xFF.
#[test]
fn ts01_a_changed_magic_byte_is_refused() {
    for format in FORMATS {
        for i in 0..4 {
            let mut bytes = sealed(format, b"hello");
            bytes[i] = 0xff;
            assert!(matches!(
                Envelope::unpack(&bytes),
                Err(CodecError::BadMagic)
            ));
            assert!(matches!(refused(&bytes), CodecError::BadMagic));
        }
    }
}

/// TypeScript case 2: A magic of four zero bytes.
#[test]
fn ts02_a_zero_magic_is_refused() {
    for format in FORMATS {
        let mut bytes = sealed(format, b"hello");
        bytes[..4].fill(0);
        assert!(matches!(refused(&bytes), CodecError::BadMagic));
    }
}

/// TypeScript case 3: Versions 0, 2 and 0xFFFF on a v1 envelope (2 makes a v1 envelope be read as
/// v2, which must fail too), and 0, 1, 3 and 0xFFFF on a v2 envelope.
#[test]
fn ts03_other_versions_are_refused() {
    for (format, versions) in [
        (Format::V1, &[0u16, 2, 0xffff][..]),
        (Format::V2, &[0u16, 1, 3, 0xffff][..]),
    ] {
        for &version in versions {
            let mut bytes = sealed(format, b"hello");
            bytes[4..6].copy_from_slice(&version.to_be_bytes());
            assert!(Envelope::unpack(&bytes).is_err(), "{format:?} as {version}");
            let reason = refused(&bytes);
            if version == 0 || version > 2 {
                assert!(matches!(reason, CodecError::UnsupportedVersion(v) if v == version));
            }
        }
    }
}

/// TypeScript case 4: compressedSize changed by +100, by -1, or set to 0.
#[test]
fn ts04_a_changed_compressed_size_is_refused() {
    for format in FORMATS {
        let original = sealed(format, b"hello");
        let (_, at, width) = size_fields(format);
        let size = read_field(&original, at, width);
        for new_size in [size + 100, size - 1, 0] {
            let mut bytes = original.clone();
            set_field(&mut bytes, at, width, new_size);
            assert!(Envelope::unpack(&bytes).is_err());
            let reason = refused(&bytes);
            assert!(
                matches!(
                    reason,
                    CodecError::LengthMismatch { .. } | CodecError::BadHeader(_)
                ),
                "{reason:?}"
            );
        }
    }
}

/// TypeScript case 5: Inputs of length 0, 10 and one byte short of a header.
#[test]
fn ts05_inputs_shorter_than_a_header_are_refused() {
    for format in FORMATS {
        let bytes = sealed(format, b"hello");
        for len in [0, 10, format.header_len() - 1] {
            assert!(matches!(
                Envelope::unpack(&bytes[..len]),
                Err(CodecError::Truncated)
            ));
            assert!(matches!(refused(&bytes[..len]), CodecError::Truncated));
        }
    }
}

/// TypeScript case 6: A header with no data after it.
#[test]
fn ts06_a_header_alone_is_refused() {
    for format in FORMATS {
        let bytes = sealed(format, b"hello");
        let header = &bytes[..format.header_len()];
        assert!(matches!(refused(header), CodecError::LengthMismatch { .. }));
    }
}

/// TypeScript case 7: An envelope cut short by 10 bytes.
#[test]
fn ts07_a_truncated_envelope_is_refused() {
    for format in FORMATS {
        let bytes = sealed(format, b"hello");
        let cut = &bytes[..bytes.len() - 10];
        assert!(matches!(refused(cut), CodecError::LengthMismatch { .. }));
    }
}

/// TypeScript case 8: Five extra bytes after the envelope.
#[test]
fn ts08_trailing_bytes_after_the_envelope_are_refused() {
    for format in FORMATS {
        let mut bytes = sealed(format, b"hello");
        bytes.extend_from_slice(&[0; 5]);
        assert!(matches!(refused(&bytes), CodecError::LengthMismatch { .. }));
    }
}

/// TypeScript case 9: A bit flipped inside the compressed region: unpack still succeeds (the
/// structure is intact), and verify and the full decode fail, for every bit of a middle byte.
#[test]
fn ts09_a_flipped_bit_in_the_compressed_region_is_refused() {
    for format in FORMATS {
        let original = sealed(format, &json_payload(2000));
        let middle = format.header_len() + (original.len() - format.header_len()) / 2;
        for bit in 0..8 {
            let mut bytes = original.clone();
            bytes[middle] ^= 1 << bit;
            let unpacked = Envelope::unpack(&bytes).unwrap();
            assert!(matches!(unpacked.verify(), Err(CodecError::HashMismatch)));
            assert!(matches!(refused(&bytes), CodecError::HashMismatch));
        }
    }
}

/// TypeScript case 10: A bit flipped inside the hash field: every bit of every hash byte.
#[test]
fn ts10_a_flipped_bit_in_the_hash_is_refused() {
    for format in FORMATS {
        let original = sealed(format, b"hello");
        let hash_field = match format {
            Format::V1 => 14..V1_HEADER_LEN,
            _ => 26..V2_HEADER_LEN,
        };
        for at in hash_field {
            for bit in 0..8 {
                let mut bytes = original.clone();
                bytes[at] ^= 1 << bit;
                let reason = refused(&bytes);
                // v1 stores hex: most flips leave the hex alphabet and fail the structure check.
                assert!(
                    matches!(reason, CodecError::HashMismatch | CodecError::BadHeader(_)),
                    "{reason:?}"
                );
            }
        }
    }
}

/// TypeScript case 11: Bit 0 flipped in every compressed byte, one at a time.
#[test]
fn ts11_bit_0_of_every_compressed_byte_is_covered() {
    for format in FORMATS {
        let original = sealed(format, &json_payload(600));
        for at in format.header_len()..original.len() {
            let mut bytes = original.clone();
            bytes[at] ^= 1;
            assert!(Envelope::unpack(&bytes).is_ok());
            assert!(matches!(refused(&bytes), CodecError::HashMismatch));
        }
    }
}

/// TypeScript case 12: An empty payload: original size 0, a 20-byte gzip member, verifies, opens to
/// nothing.
#[test]
fn ts12_an_empty_payload_round_trips() {
    for format in FORMATS {
        let bytes = sealed(format, b"");
        let unpacked = Envelope::unpack(&bytes).unwrap();
        assert_eq!(unpacked.original_size(), 0);
        assert_eq!(unpacked.compressed().len(), 20);
        opens_to(&bytes, b"");
    }
}

/// TypeScript case 13: A one-byte payload.
#[test]
fn ts13_a_one_byte_payload_round_trips() {
    for format in FORMATS {
        opens_to(&sealed(format, b"x"), b"x");
    }
}

/// TypeScript case 14: A 100,000-byte patterned payload.
#[test]
fn ts14_a_100_kb_patterned_payload_round_trips() {
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    for format in FORMATS {
        let bytes = sealed(format, &payload);
        assert_eq!(Envelope::unpack(&bytes).unwrap().original_size(), 100_000);
        opens_to(&bytes, &payload);
    }
}

/// TypeScript case 15: 500 random (incompressible) bytes.
#[test]
fn ts15_incompressible_bytes_round_trip() {
    let payload = noise(500, 7);
    for format in FORMATS {
        opens_to(&sealed(format, &payload), &payload);
    }
}

/// TypeScript case 16: Sealing the same payload twice gives the same bytes.
#[test]
fn ts16_sealing_is_deterministic() {
    let payload = json_payload(300_000);
    for format in FORMATS {
        assert_eq!(sealed(format, &payload), sealed(format, &payload));
    }
}

/// TypeScript case 17: Unpacking the same envelope twice gives the same fields.
#[test]
fn ts17_unpacking_is_deterministic() {
    for format in FORMATS {
        let bytes = sealed(format, &json_payload(5000));
        let first = Envelope::unpack(&bytes).unwrap();
        let second = Envelope::unpack(&bytes).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.hash(), second.hash());
        assert_eq!(first.compressed(), second.compressed());
    }
}

fn stream_seal(payload: &[u8], options: SealOptions, split: usize) -> Vec<u8> {
    let mut writer = EnvelopeWriter::with_options(Cursor::new(Vec::new()), options).unwrap();
    for piece in payload.chunks(split.max(1)) {
        writer.write_all(piece).unwrap();
        writer.flush().unwrap();
    }
    assert_eq!(writer.original_size(), payload.len() as u64);
    writer.finish().unwrap().into_inner()
}

/// TypeScript case 18 (there: sync and async encodes pack identically): the streaming writer gives
/// the one-shot envelope, whatever the split of its writes and flushes.
#[test]
fn ts18_streaming_and_one_shot_writers_agree() {
    let payloads = [
        Vec::new(),
        b"hello".to_vec(),
        json_payload(200_000),
        noise(70_000, 3),
    ];
    for payload in &payloads {
        for format in FORMATS {
            for level in [Level::NONE, Level::FAST, Level::DEFAULT, Level::BEST] {
                let mut options = options(format);
                options.level = level;
                let one_shot = envelope::seal_with(payload, options).unwrap();
                for split in [1usize, 1000, 65_536, 65_537, usize::MAX] {
                    if split == 1 && payload.len() > 70_000 {
                        continue; // one byte at a time is covered by the smaller payloads
                    }
                    assert_eq!(
                        stream_seal(payload, options, split),
                        one_shot,
                        "{format:?} level {level} split {split} len {}",
                        payload.len()
                    );
                }
            }
        }
    }
}

/// TypeScript case 19 (there: sync encode, async decode): one-shot seal, streaming read.
#[test]
fn ts19_one_shot_seal_then_streaming_read() {
    let payload = json_payload(150_000);
    for format in FORMATS {
        let bytes = sealed(format, &payload);
        let mut reader = EnvelopeReader::new(&bytes[..], CAP).unwrap();
        assert_eq!(reader.original_size(), payload.len() as u64);
        // Small reads, so the decoder is driven piece by piece.
        let mut out = Vec::new();
        let mut buf = [0u8; 777];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, payload);
        assert_eq!(envelope::open(&bytes, CAP).unwrap(), out);
    }
}

/// TypeScript case 20 (there: async encode, sync decode): streaming seal, one-shot open.
#[test]
fn ts20_streaming_seal_then_one_shot_open() {
    let payload = json_payload(150_000);
    for format in FORMATS {
        let bytes = stream_seal(&payload, options(format), 4093);
        opens_to(&bytes, &payload);
    }
}

/// TypeScript case 21: A compressed size of 0 while data follows.
#[test]
fn ts21_a_zero_compressed_size_with_data_is_refused() {
    for format in FORMATS {
        let mut bytes = sealed(format, b"hello");
        let (_, at, width) = size_fields(format);
        set_field(&mut bytes, at, width, 0);
        assert!(Envelope::unpack(&bytes).is_err());
        refused(&bytes);
    }
}

/// TypeScript case 22: 200 zero bytes.
#[test]
fn ts22_zeros_are_refused() {
    assert!(matches!(refused(&[0u8; 200]), CodecError::BadMagic));
}

/// TypeScript case 23: 200 bytes of 0xFF.
#[test]
fn ts23_ones_are_refused() {
    assert!(matches!(refused(&[0xffu8; 200]), CodecError::BadMagic));
}

/// TypeScript case 24: A header-sized buffer with a valid magic and version and both sizes at their
/// maximum.
#[test]
fn ts24_maximal_sizes_in_a_bare_header_are_refused() {
    for format in FORMATS {
        let mut bytes = sealed(format, b"hello")[..format.header_len()].to_vec();
        let (original_at, compressed_at, width) = size_fields(format);
        set_field(&mut bytes, original_at, width, u64::MAX);
        set_field(&mut bytes, compressed_at, width, u64::MAX);
        assert!(Envelope::unpack(&bytes).is_err());
        refused(&bytes);
        // With a huge cap too: nothing is allocated for the declared sizes.
        assert!(envelope::open(&bytes, u64::MAX).is_err());
        assert!(EnvelopeReader::new(&bytes[..], u64::MAX).is_err());
    }
}

/// TypeScript case 25: Unpacking, verifying and opening leave the input as it was, and the unpacked
/// envelope borrows the input rather than copying it.
#[test]
fn ts25_reading_does_not_modify_the_input() {
    for format in FORMATS {
        let bytes = sealed(format, &json_payload(3000));
        let copy = bytes.clone();
        let unpacked = Envelope::unpack(&bytes).unwrap();
        unpacked.verify().unwrap();
        unpacked.open(CAP).unwrap();
        let range = bytes.as_ptr_range();
        assert!(range.contains(&unpacked.compressed().as_ptr()));
        assert_eq!(bytes, copy);
    }
}

// --- Beyond the TypeScript cases -------------------------------------------------------------

/// v2's hash covers the header: a changed original size, level or version-compatible field is
/// a hash mismatch; unknown flags and algorithms are refused before hashing.
#[test]
fn v2_detects_every_header_change_with_its_hash() {
    let original = sealed(Format::V2, &json_payload(1000));
    let (at, _, width) = size_fields(Format::V2);
    for new_size in [999, 1001, 0, 4096, CAP] {
        let mut bytes = original.clone();
        set_field(&mut bytes, at, width, new_size);
        assert!(
            matches!(refused(&bytes), CodecError::HashMismatch),
            "{new_size}"
        );
    }
    for level in [0u8, 1, 5, 7, 9] {
        let mut bytes = original.clone();
        bytes[7] = level;
        assert!(Envelope::unpack(&bytes).is_ok());
        assert!(matches!(refused(&bytes), CodecError::HashMismatch));
    }
    let mut bytes = original.clone();
    bytes[7] = 10;
    assert!(matches!(refused(&bytes), CodecError::BadHeader(_)));
    for flags in [1u16, 0x8000] {
        let mut bytes = original.clone();
        bytes[8..10].copy_from_slice(&flags.to_be_bytes());
        assert!(matches!(refused(&bytes), CodecError::BadHeader(_)));
    }
    for algorithm in [0u8, 2, 0xff] {
        let mut bytes = original.clone();
        bytes[6] = algorithm;
        assert!(matches!(refused(&bytes), CodecError::BadHeader(_)));
    }
    // Version 2 -> 1: the header is read as v1 and fails.
    let mut bytes = original.clone();
    bytes[5] = 1;
    refused(&bytes);
}

/// v1's hash does not cover the original size, so a changed size passes `verify`; the decode
/// still fails, because the payload must be exactly the declared size.
#[test]
fn v1_changed_original_size_passes_the_hash_but_not_the_size_check() {
    let payload = json_payload(1000);
    let original = sealed(Format::V1, &payload);
    let (at, _, width) = size_fields(Format::V1);
    for new_size in [999u64, 1001, 0, 1, 5000] {
        let mut bytes = original.clone();
        set_field(&mut bytes, at, width, new_size);
        let unpacked = Envelope::unpack(&bytes).unwrap();
        unpacked.verify().unwrap(); // what TypeScript's check would say: fine
        let reason = refused(&bytes);
        if new_size < 1000 {
            assert!(
                matches!(reason, CodecError::TooLarge { limit } if limit == new_size),
                "{reason:?}"
            );
        } else {
            assert!(
                matches!(
                    reason,
                    CodecError::SizeMismatch { declared, decoded: 1000 } if declared == new_size
                ),
                "{reason:?}"
            );
        }
    }
}

/// Every single-bit flip anywhere in an envelope, header or data, makes it fail to open.
#[test]
fn every_single_bit_flip_is_refused() {
    for format in FORMATS {
        let original = sealed(format, b"hello, evidence");
        for at in 0..original.len() {
            for bit in 0..8 {
                let mut bytes = original.clone();
                bytes[at] ^= 1 << bit;
                assert!(
                    envelope::open(&bytes, CAP).is_err(),
                    "{format:?} byte {at} bit {bit}"
                );
                assert!(
                    stream_open(&bytes, CAP).is_err(),
                    "{format:?} byte {at} bit {bit}"
                );
            }
        }
    }
}

/// The hash is checked before anything is decompressed, and the cap before the hash.
#[test]
fn checks_run_in_order_cap_hash_then_gzip() {
    for format in FORMATS {
        // Garbage instead of gzip, hash left as it was: a hash mismatch, not a gzip error.
        let mut bytes = sealed(format, &json_payload(500));
        let data = format.header_len();
        bytes[data..].fill(0xaa);
        assert!(matches!(refused(&bytes), CodecError::HashMismatch));
        // The same garbage with a hash that matches it: now the gzip decoder sees it.
        rehash(&mut bytes, format);
        assert!(matches!(refused(&bytes), CodecError::Corrupt(_)));
        // Over the cap: refused before hashing (the hash is wrong here as well).
        let mut bytes = sealed(format, &json_payload(500));
        bytes[data + 5] ^= 1;
        assert!(matches!(
            envelope::open(&bytes, 499),
            Err(CodecError::TooLarge { limit: 499 })
        ));
        assert!(matches!(
            EnvelopeReader::new(&bytes[..], 499),
            Err(CodecError::TooLarge { limit: 499 })
        ));
    }
}

/// A gzip member followed by more bytes inside the compressed section, with a valid hash.
#[test]
fn trailing_bytes_inside_the_compressed_section_are_refused() {
    for format in FORMATS {
        let mut bytes = sealed(format, b"hello");
        bytes.extend_from_slice(b"junk");
        let (_, at, width) = size_fields(format);
        let size = read_field(&bytes, at, width);
        set_field(&mut bytes, at, width, size + 4);
        rehash(&mut bytes, format);
        assert!(matches!(refused(&bytes), CodecError::TrailingData));
        // Two whole gzip members (gunzip would concatenate them): refused as well.
        let mut bytes = sealed(format, b"hello");
        let member = bytes[format.header_len()..].to_vec();
        bytes.extend_from_slice(&member);
        set_field(&mut bytes, at, width, size * 2);
        rehash(&mut bytes, format);
        assert!(matches!(refused(&bytes), CodecError::TrailingData));
    }
}

/// A gzip member cut short, with a valid hash over what is left.
#[test]
fn a_truncated_gzip_member_with_a_valid_hash_is_refused() {
    for format in FORMATS {
        let full = sealed(format, &json_payload(3000));
        let (_, at, width) = size_fields(format);
        let size = read_field(&full, at, width);
        for cut in [1u64, 4, 8, 9, 100] {
            let mut bytes = full[..full.len() - cut as usize].to_vec();
            set_field(&mut bytes, at, width, size - cut);
            rehash(&mut bytes, format);
            let reason = refused(&bytes);
            assert!(
                matches!(
                    reason,
                    CodecError::Corrupt(_) | CodecError::SizeMismatch { .. }
                ),
                "cut {cut}: {reason:?}"
            );
        }
    }
}

/// A decompression bomb with a valid hash: 1 GiB of zeros in a ~1 MB gzip member.
///
/// Declared honestly, it is refused before any work (the declared size is over the cap).
/// Declared as 1 MiB (v2 rehashed over the lie, v1 whose hash does not cover the size), both
/// readers stop after 1 MiB of output: the streaming reader hands out at most the cap before
/// the error.
#[test]
fn a_decompression_bomb_with_a_valid_hash_stops_at_the_cap() {
    const GIB: u64 = 1 << 30;
    let zeros = vec![0u8; 1 << 20];
    let mut writer = EnvelopeWriter::new(Cursor::new(Vec::new())).unwrap();
    for _ in 0..(GIB >> 20) {
        writer.write_all(&zeros).unwrap();
    }
    let bomb = writer.finish().unwrap().into_inner();
    assert!(bomb.len() < 1_100_000, "{} bytes", bomb.len());
    assert_eq!(Envelope::unpack(&bomb).unwrap().original_size(), GIB);

    assert!(matches!(
        envelope::open(&bomb, CAP),
        Err(CodecError::TooLarge { limit: CAP })
    ));
    assert!(matches!(
        EnvelopeReader::new(&bomb[..], CAP),
        Err(CodecError::TooLarge { limit: CAP })
    ));

    let gzip = &bomb[V2_HEADER_LEN..];
    let mut v2_lie = bomb.clone();
    set_field(&mut v2_lie, 10, 8, CAP);
    rehash(&mut v2_lie, Format::V2);
    let mut v1_lie = Vec::new();
    v1_lie.extend_from_slice(b"THCS\x00\x01");
    v1_lie.extend_from_slice(&(CAP as u32).to_be_bytes());
    v1_lie.extend_from_slice(&(gzip.len() as u32).to_be_bytes());
    v1_lie.extend_from_slice(Digest::of(gzip).to_string().as_bytes());
    v1_lie.extend_from_slice(gzip);

    for lie in [&v2_lie, &v1_lie] {
        Envelope::unpack(lie).unwrap().verify().unwrap();
        assert!(matches!(
            envelope::open(lie, CAP),
            Err(CodecError::TooLarge { limit: CAP })
        ));
        let mut reader = EnvelopeReader::new(&lie[..], CAP).unwrap();
        let mut delivered = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let error = loop {
            match reader.read(&mut buf) {
                Ok(0) => panic!("the bomb was accepted"),
                Ok(n) => delivered += n as u64,
                Err(e) => break e,
            }
        };
        assert!(delivered <= CAP, "{delivered}");
        let reason = error.downcast::<CodecError>().unwrap();
        assert!(matches!(reason, CodecError::TooLarge { limit: CAP }));
        // After an error the reader never reports a clean end.
        assert!(reader.read(&mut buf).is_err());
    }
}

/// v1 sizes are 32-bit: the writer refuses the write that would pass `u32::MAX` bytes instead of
/// wrapping, and accepts exactly `u32::MAX`.
#[test]
fn v1_writer_stops_at_4_gib() {
    let mut options = SealOptions::v1();
    options.level = Level::FAST;
    let mut writer = EnvelopeWriter::with_options(Cursor::new(Vec::new()), options).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..4095 {
        writer.write_all(&chunk).unwrap();
    }
    let error = writer.write_all(&chunk).unwrap_err();
    assert!(matches!(
        error.downcast::<CodecError>().unwrap(),
        CodecError::TooLarge { limit } if limit == u64::from(u32::MAX)
    ));
    writer.write_all(&chunk[1..]).unwrap();
    assert_eq!(writer.original_size(), u64::from(u32::MAX));
    let bytes = writer.finish().unwrap().into_inner();
    let unpacked = Envelope::unpack(&bytes).unwrap();
    assert_eq!(unpacked.original_size(), u64::from(u32::MAX));
    unpacked.verify().unwrap();
}

/// `Debug` output shows sizes and hashes, never payload or compressed bytes.
#[test]
fn debug_output_carries_no_payload() {
    let secret = b"password=hunter2&token=abcdef";
    let bytes = envelope::seal_with(secret, options(Format::V2)).unwrap();
    let unpacked = format!("{:?}", Envelope::unpack(&bytes).unwrap());
    let reader = format!("{:?}", EnvelopeReader::new(&bytes[..], CAP).unwrap());
    let mut writer = EnvelopeWriter::new(Cursor::new(Vec::new())).unwrap();
    writer.write_all(secret).unwrap();
    let writer = format!("{writer:?}");
    for text in [unpacked, reader, writer] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("[31, 139"), "{text}");
    }
}

// --- Properties ------------------------------------------------------------------------------

fn format_strategy() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::V1), Just(Format::V2)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Seal then open returns the payload through both readers; the streaming writer agrees
    /// with the one-shot writer for any split.
    #[test]
    fn round_trip(
        payload in prop::collection::vec(any::<u8>(), 0..6000),
        format in format_strategy(),
        level in 0u8..=9,
        split in 1usize..3000,
    ) {
        let mut options = options(format);
        options.level = Level::new(level).unwrap();
        let bytes = envelope::seal_with(&payload, options).unwrap();
        prop_assert_eq!(&envelope::open(&bytes, CAP).unwrap(), &payload);
        prop_assert_eq!(&stream_open(&bytes, CAP).unwrap(), &payload);
        prop_assert_eq!(&stream_seal(&payload, options, split), &bytes);
        let unpacked = Envelope::unpack(&bytes).unwrap();
        prop_assert_eq!(unpacked.format(), format);
        prop_assert_eq!(unpacked.original_size(), payload.len() as u64);
    }

    /// Any one changed byte, anywhere, makes both readers refuse the envelope.
    #[test]
    fn any_changed_byte_is_refused(
        payload in prop::collection::vec(any::<u8>(), 0..2000),
        format in format_strategy(),
        position in any::<prop::sample::Index>(),
        change in 1u8..=255,
    ) {
        let mut bytes = envelope::seal_with(&payload, options(format)).unwrap();
        let at = position.index(bytes.len());
        bytes[at] ^= change;
        prop_assert!(envelope::open(&bytes, CAP).is_err());
        prop_assert!(stream_open(&bytes, CAP).is_err());
    }

    /// Arbitrary bytes, and arbitrary bytes behind a valid header, never panic either reader,
    /// and the two readers agree.
    #[test]
    fn readers_agree_on_arbitrary_input(
        tail in prop::collection::vec(any::<u8>(), 0..400),
        format in format_strategy(),
        original_size in 0u64..5000,
        prefix in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        if prefix {
            bytes = sealed(format, b"")[..format.header_len()].to_vec();
            let (at, compressed_at, width) = size_fields(format);
            set_field(&mut bytes, at, width, original_size);
            set_field(&mut bytes, compressed_at, width, tail.len() as u64);
        }
        bytes.extend_from_slice(&tail);
        if prefix {
            rehash(&mut bytes, format);
        }
        let one_shot = envelope::open(&bytes, CAP);
        let streamed = stream_open(&bytes, CAP);
        prop_assert_eq!(one_shot.is_ok(), streamed.is_ok());
        if let (Ok(a), Ok(b)) = (one_shot, streamed) {
            prop_assert_eq!(a, b);
        }
    }
}

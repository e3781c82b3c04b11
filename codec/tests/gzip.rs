//! gzip: parity with Node's zlib where it holds, and a decoder that is bounded and strict.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;
use common::json_payload;
use std::io::Write;

use tracehound_codec::CodecError;
use tracehound_codec::Digest;
use tracehound_codec::gzip::{self, Level};
use tracehound_test_support::hex;

const CAP: u64 = 1 << 20;

/// Node 20.20 (zlib 1.3.1) `zlib.gzipSync(input, {level})`.
#[test]
fn small_inputs_match_node_byte_for_byte() {
    let cases: [(&[u8], u8, &str); 5] = [
        (
            b"hello",
            0,
            "1f8b0800000000000403010500faff68656c6c6f86a6103605000000",
        ),
        (
            b"hello",
            1,
            "1f8b0800000000000403cb48cdc9c9070086a6103605000000",
        ),
        (
            b"hello",
            6,
            "1f8b0800000000000003cb48cdc9c9070086a6103605000000",
        ),
        (
            b"hello",
            9,
            "1f8b0800000000000203cb48cdc9c9070086a6103605000000",
        ),
        (b"", 6, "1f8b080000000000000303000000000000000000"),
    ];
    for (input, level, node) in cases {
        let ours = gzip::encode(input, Level::new(level).unwrap()).unwrap();
        assert_eq!(hex(&ours), node, "level {level}");
    }
    // 1,000 bytes of JSON at level 6 (SHA-256 of Node's 255-byte output).
    let ours = gzip::encode(&json_payload(1000), Level::DEFAULT).unwrap();
    assert_eq!(ours.len(), 255);
    assert_eq!(
        Digest::of(&ours).to_string(),
        "0adef046e43898e474796796cf7e1d58b7627fc36c7855ba70ea3c8f73ae7706"
    );
}

#[test]
fn round_trips_at_every_level() {
    let payload = json_payload(200_000);
    for level in 0..=9 {
        let packed = gzip::encode(&payload, Level::new(level).unwrap()).unwrap();
        assert_eq!(packed[..4], [0x1f, 0x8b, 8, 0]);
        assert_eq!(packed[9], 3);
        let decoded = gzip::decode(&packed, payload.len() as u64, CAP).unwrap();
        assert_eq!(decoded, payload);
    }
}

#[test]
fn gzip_written_by_others_is_read_whatever_its_header_fields() {
    let mut encoder = flate2::GzBuilder::new()
        .filename("evidence.json")
        .comment("made elsewhere")
        .extra(vec![1, 2, 3, 4])
        .mtime(1_700_000_000)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(b"hello").unwrap();
    let packed = encoder.finish().unwrap();
    assert_eq!(gzip::decode(&packed, 5, CAP).unwrap(), b"hello");
}

#[test]
fn the_declared_size_must_be_exact() {
    let packed = gzip::encode(b"hello world", Level::DEFAULT).unwrap();
    assert_eq!(gzip::decode(&packed, 11, 11).unwrap(), b"hello world");
    for shorter in [0u64, 1, 10] {
        assert!(matches!(
            gzip::decode(&packed, shorter, CAP),
            Err(CodecError::TooLarge { limit }) if limit == shorter
        ));
    }
    for longer in [12u64, 1000] {
        assert!(matches!(
            gzip::decode(&packed, longer, CAP),
            Err(CodecError::SizeMismatch { declared, decoded: 11 }) if declared == longer
        ));
    }
}

#[test]
fn a_declared_size_over_the_cap_is_refused_before_any_work() {
    // Not even gzip: the size check comes first.
    assert!(matches!(
        gzip::decode(b"not gzip", CAP + 1, CAP),
        Err(CodecError::TooLarge { limit: CAP })
    ));
    assert!(matches!(
        gzip::decode(b"", u64::MAX, CAP),
        Err(CodecError::TooLarge { limit: CAP })
    ));
}

#[test]
fn anything_after_the_member_is_refused() {
    let packed = gzip::encode(b"hello", Level::DEFAULT).unwrap();
    let mut trailing = packed.clone();
    trailing.push(0);
    assert!(matches!(
        gzip::decode(&trailing, 5, CAP),
        Err(CodecError::TrailingData)
    ));
    // A second member: `gunzip` would append its contents; here it is refused.
    let mut two = packed.clone();
    two.extend_from_slice(&packed);
    assert!(matches!(
        gzip::decode(&two, 5, CAP),
        Err(CodecError::TrailingData)
    ));
    assert!(matches!(
        gzip::decode(&two, 10, CAP),
        Err(CodecError::SizeMismatch {
            declared: 10,
            decoded: 5
        })
    ));
}

#[test]
fn every_truncation_is_refused() {
    let payload = json_payload(5000);
    let packed = gzip::encode(&payload, Level::DEFAULT).unwrap();
    for len in 0..packed.len() {
        assert!(
            gzip::decode(&packed[..len], payload.len() as u64, CAP).is_err(),
            "accepted {len} of {} bytes",
            packed.len()
        );
    }
}

#[test]
fn a_wrong_checksum_or_length_trailer_is_corrupt() {
    let packed = gzip::encode(b"hello", Level::DEFAULT).unwrap();
    let trailer = packed.len() - 8;
    for at in [trailer, trailer + 3, trailer + 4, trailer + 7] {
        let mut bytes = packed.clone();
        bytes[at] ^= 0x10;
        assert!(
            matches!(gzip::decode(&bytes, 5, CAP), Err(CodecError::Corrupt(_))),
            "byte {at}"
        );
    }
    let mut bytes = packed.clone();
    bytes[0] = 0;
    assert!(matches!(
        gzip::decode(&bytes, 5, CAP),
        Err(CodecError::Corrupt(_))
    ));
}

/// 64 MiB of zeros in about 64 KB: declared honestly it is refused without work; declaring
/// less stops the decoder one byte past the declaration.
#[test]
fn a_bomb_stops_at_the_declared_size() {
    let zeros = vec![0u8; 64 << 20];
    let bomb = gzip::encode(&zeros, Level::DEFAULT).unwrap();
    drop(zeros);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    assert!(matches!(
        gzip::decode(&bomb, 64 << 20, CAP),
        Err(CodecError::TooLarge { limit: CAP })
    ));
    assert!(matches!(
        gzip::decode(&bomb, CAP, CAP),
        Err(CodecError::TooLarge { limit: CAP })
    ));
}

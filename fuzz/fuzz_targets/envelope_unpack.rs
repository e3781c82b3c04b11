//! Untrusted bytes into the envelope readers and the bounded gzip decoder.
//!
//! Beyond "never panics", by the first byte of the input:
//! - **raw** (`0 mod 3`, which includes a leading `T` of `THCS`): the input is an envelope.
//!   The one-shot `envelope::open` and the streaming `EnvelopeReader` agree (both refuse, or
//!   both return the same payload), and whatever opens is exactly its declared size.
//! - **gzip** (`1 mod 3`): the rest is a gzip stream, wrapped in v1 and v2 envelopes whose hash
//!   is right, so the decompressor runs on arbitrary data behind a valid hash. `gzip::decode`
//!   accepts exactly what a plain `flate2` decode accepts when held to the same rules (one
//!   member, nothing after it, exactly the declared size), and returns the same bytes; the
//!   envelopes open exactly when it does (unless the header's size rule refuses them first).
//! - **seal** (`2 mod 3`): the rest is a payload, sealed at a level and version the second
//!   byte picks. It opens to itself through both readers, the streaming writer gives the same
//!   bytes for a split the input picks, and one changed byte makes both readers refuse it.

#![no_main]

use std::io::{Cursor, Read, Write};

use libfuzzer_sys::fuzz_target;
use tracehound_codec::envelope::{
    self, Envelope, EnvelopeReader, EnvelopeWriter, Format, SealOptions, V1_HEADER_LEN,
    V2_HEADER_LEN,
};
use tracehound_codec::gzip::{self, Level};
use tracehound_codec::{CodecError, Digest};

/// The cap every reader is given.
const CAP: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        raw(data);
        return;
    };
    match first % 3 {
        0 => raw(data),
        1 => gzip_behind_a_valid_hash(rest),
        _ => seal_and_tamper(rest),
    }
});

fn stream_open(bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut reader = EnvelopeReader::new(bytes, CAP)?;
    let mut out = Vec::new();
    // Odd-sized reads, so the decoder is driven in pieces.
    let mut buf = [0u8; 1000];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                // After an error the reader never reports a clean end.
                assert!(reader.read(&mut buf).is_err());
                return Err(e.downcast::<CodecError>().unwrap_or_else(CodecError::Io));
            }
        }
    }
    assert_eq!(out.len() as u64, reader.original_size());
    Ok(out)
}

fn raw(data: &[u8]) {
    let one_shot = envelope::open(data, CAP);
    let streamed = stream_open(data);
    match (&one_shot, &streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            let unpacked = Envelope::unpack(data).expect("it opened");
            assert_eq!(a.len() as u64, unpacked.original_size());
            assert!(unpacked.verify().is_ok());
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "readers disagree: one-shot {:?}, streaming {:?}",
            one_shot.as_ref().map(Vec::len),
            streamed.as_ref().map(Vec::len)
        ),
    }
}

/// Plain `flate2` held to the same rules: one member, nothing after it, at most `CAP + 1`
/// bytes decoded.
fn reference_decode(gz: &[u8]) -> Option<Vec<u8>> {
    let mut decoder = flate2::bufread::GzDecoder::new(gz);
    let mut out = Vec::new();
    (&mut decoder).take(CAP + 1).read_to_end(&mut out).ok()?;
    if out.len() as u64 > CAP || !decoder.into_inner().is_empty() {
        return None;
    }
    Some(out)
}

/// An envelope around `gz` with a correct hash, built from the documented layout.
fn wrap(format: Format, gz: &[u8], original_size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"THCS");
    out.extend_from_slice(&format.version().to_be_bytes());
    match format {
        Format::V1 => {
            out.extend_from_slice(&(original_size as u32).to_be_bytes());
            out.extend_from_slice(&(gz.len() as u32).to_be_bytes());
            out.extend_from_slice(Digest::of(gz).to_string().as_bytes());
            assert_eq!(out.len(), V1_HEADER_LEN);
        }
        _ => {
            out.extend_from_slice(&[1, 6, 0, 0]);
            out.extend_from_slice(&original_size.to_be_bytes());
            out.extend_from_slice(&(gz.len() as u64).to_be_bytes());
            let hash = Digest::of_parts(&[gz, &out[..26]]);
            out.extend_from_slice(hash.as_bytes());
            assert_eq!(out.len(), V2_HEADER_LEN);
        }
    }
    out.extend_from_slice(gz);
    out
}

fn gzip_behind_a_valid_hash(data: &[u8]) {
    let Some((&control, gz)) = data.split_first() else {
        return;
    };
    let reference = reference_decode(gz);
    // Mostly the true size (so the success paths run), sometimes one off.
    let declared = match &reference {
        Some(out) => (out.len() as u64 + u64::from(control % 3)).saturating_sub(1),
        None => u64::from(control) * 97,
    };
    let expected = reference.filter(|out| out.len() as u64 == declared);

    let ours = gzip::decode(gz, declared, CAP);
    assert_eq!(
        ours.as_ref().ok(),
        expected.as_ref(),
        "gzip::decode disagrees"
    );

    let plausible = gz.len() >= 20 && gz.len() as u64 <= declared + declared / 8 + 1024;
    for format in [Format::V1, Format::V2] {
        let wrapped = wrap(format, gz, declared);
        let one_shot = envelope::open(&wrapped, CAP);
        let streamed = stream_open(&wrapped);
        assert_eq!(one_shot.as_ref().ok(), streamed.as_ref().ok());
        match (&one_shot, &expected) {
            (Ok(a), Some(b)) => assert_eq!(a, b),
            (Err(_), None) => {}
            (Err(CodecError::BadHeader(_)), Some(_)) if !plausible => {}
            (result, _) => panic!(
                "{format:?} envelope disagrees with the reference: {:?}",
                result.as_ref().map(Vec::len)
            ),
        }
    }
}

fn seal_and_tamper(data: &[u8]) {
    let Some((&control, payload)) = data.split_first() else {
        return;
    };
    let mut options = SealOptions::default();
    if control & 0x80 != 0 {
        options.format = Format::V1;
    }
    options.level = Level::new(control % 10).expect("0 to 9");

    let sealed = envelope::seal_with(payload, options).expect("sealing in memory");
    assert_eq!(
        envelope::open(&sealed, CAP).expect("opens").as_slice(),
        payload
    );
    assert_eq!(stream_open(&sealed).expect("streams"), payload);

    let split = usize::from(control >> 4) * 97 + 1;
    let mut writer =
        EnvelopeWriter::with_options(Cursor::new(Vec::new()), options).expect("memory output");
    for piece in payload.chunks(split) {
        writer.write_all(piece).expect("memory output");
    }
    let streamed = writer.finish().expect("memory output").into_inner();
    assert_eq!(streamed, sealed, "streaming writer differs");

    // One changed byte, at a position and with a change the payload picks.
    let position = payload.iter().fold(usize::from(control), |acc, b| {
        acc.wrapping_mul(31).wrapping_add(usize::from(*b))
    }) % sealed.len();
    let change = payload.first().copied().unwrap_or(1).max(1);
    let mut tampered = sealed;
    tampered[position] ^= change;
    assert!(
        envelope::open(&tampered, CAP).is_err(),
        "tampered byte {position} opened"
    );
    assert!(
        stream_open(&tampered).is_err(),
        "tampered byte {position} streamed"
    );
}

//! The hound IPC framing and messages, as a host and a worker meet them from a hostile peer.
//!
//! - The incremental `FrameReader`, fed the bytes in arbitrary chunks, yields exactly the
//!   frames the blocking `read_frame` yields from the same bytes, and both stop at the same
//!   error (an oversized claim, or the end inside a frame); the reader never buffers more
//!   than one frame's cap plus one read.
//! - Every frame decodes (or fails cleanly) as a worker message and as a host message; a
//!   decoded message re-encodes to bytes that decode to the same message, and a decoded
//!   report's `validate` never panics. (Not byte-identical: postcard accepts overlong
//!   varints, which this target found. Nothing depends on it: the host hashes its own
//!   re-encoding of a report, never the worker's bytes.)

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tracehound_codec::ipc::{self, FrameReader, HostMessage, WorkerMessage};

/// A small cap, so oversized claims are common.
const CAP: u32 = 4096;

#[derive(Debug, Arbitrary)]
struct Input {
    /// Sizes of the chunks the stream arrives in (cycled; 0 counts as 1).
    chunks: Vec<u8>,
    stream: Vec<u8>,
}

fn check(payload: &[u8]) {
    if let Ok(message) = ipc::decode::<WorkerMessage>(payload) {
        if let WorkerMessage::Report(report) = &message {
            let _ = report.validate();
        }
        let mut again = Vec::new();
        ipc::encode_frame(&mut again, &message, u32::MAX).expect("re-encodes");
        let back: WorkerMessage = ipc::decode(&again[4..]).expect("decodes its own encoding");
        assert_eq!(back, message, "worker message does not round-trip");
    }
    if let Ok(message) = ipc::decode::<HostMessage<'_>>(payload) {
        let mut again = Vec::new();
        ipc::encode_frame(&mut again, &message, u32::MAX).expect("re-encodes");
        let back: HostMessage<'_> = ipc::decode(&again[4..]).expect("decodes its own encoding");
        assert_eq!(back, message, "host message does not round-trip");
    }
}

fuzz_target!(|input: Input| {
    // Reference: the blocking reader over the whole stream.
    let mut expected = Vec::new();
    let mut cursor = &input.stream[..];
    let mut buf = Vec::new();
    let expected_error = loop {
        match ipc::read_frame(&mut cursor, &mut buf, CAP) {
            Ok(true) => expected.push(buf.clone()),
            Ok(false) => break false,
            Err(_) => break true,
        }
    };

    let mut reader = FrameReader::new(CAP);
    let mut got = Vec::new();
    let mut failed = false;
    let mut offset = 0;
    let mut sizes = input.chunks.iter().cycle();
    'feed: while offset < input.stream.len() {
        let size = sizes.next().map_or(input.stream.len(), |s| usize::from(*s).max(1));
        let end = (offset + size).min(input.stream.len());
        reader.extend_from_slice(&input.stream[offset..end]);
        offset = end;
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    check(frame);
                    got.push(frame.to_vec());
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break 'feed;
                }
            }
        }
        assert!(reader.buffered() <= 4 + CAP as usize + 256);
    }
    assert_eq!(got, expected);
    // The blocking reader fails on an oversized claim or a frame cut short; the incremental
    // one fails on the claim and simply waits for the rest of a short frame.
    if failed {
        assert!(expected_error);
    } else if expected_error {
        assert!(reader.buffered() > 0);
    }
});

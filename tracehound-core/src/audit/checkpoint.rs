//! Checkpoints (`c2sp.org/tlog-checkpoint`): a log's origin, size and root hash as note text
//! ([`Checkpoint`]), and that text signed ([`SignedCheckpoint`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tracehound_codec::Digest;

use super::key::{NoteSigner, VerifierKey};
use super::note_error::NoteError;
use super::signed_note::{MAX_NOTE_BYTES, check_no_control_chars, open_note};

/// A checkpoint: a commitment to the state of a Merkle tree log (`c2sp.org/tlog-checkpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique identity, conventionally a schema-less URL. Non-empty, one line.
    pub origin: String,
    /// The number of entries in the tree.
    pub size: u64,
    /// The RFC 6962 root hash of the tree.
    pub root: Digest,
    /// Extension lines, each non-empty and without a newline.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint with no extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Digest) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, size and base64 root hash lines, then the extension lines, each
    /// ending in a newline.
    ///
    /// This does not check the fields; [`SignedCheckpoint::sign`] does, by parsing the text
    /// back.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root.as_bytes())
        );
        for extension in &self.extensions {
            text.push_str(extension);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint's note text strictly: a non-empty origin, a decimal size without
    /// leading zeros, the base64 of a 32-byte root hash, non-empty extension lines, every
    /// line ending in a newline and no control characters.
    pub fn parse_text(text: &str) -> Result<Self, NoteError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                what: "checkpoint text (bytes)",
                limit: MAX_NOTE_BYTES,
            });
        }
        check_no_control_chars(text)?;
        let body = text.strip_suffix('\n').ok_or(NoteError::Malformed {
            what: "checkpoint text does not end with a newline",
        })?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(NoteError::Malformed {
                what: "checkpoint origin is empty",
            });
        }
        let size = lines.next().ok_or(NoteError::Malformed {
            what: "checkpoint has no size line",
        })?;
        let size = parse_decimal(size).ok_or(NoteError::Malformed {
            what: "checkpoint size is not a decimal number without leading zeros",
        })?;
        let root = lines.next().ok_or(NoteError::Malformed {
            what: "checkpoint has no root hash line",
        })?;
        let root = decode_hash(root).ok_or(NoteError::Malformed {
            what: "checkpoint root hash is not base64 of 32 bytes",
        })?;
        let mut extensions = Vec::new();
        for line in lines {
            if line.is_empty() {
                return Err(NoteError::Malformed {
                    what: "checkpoint extension line is empty",
                });
            }
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// A checkpoint together with the signed note that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: String,
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with `signer`.
    ///
    /// Fails with [`NoteError::Malformed`] if the checkpoint's text would not parse back to the
    /// same checkpoint (an empty origin, a newline or control character in a field, an empty
    /// extension line).
    pub fn sign(checkpoint: Checkpoint, signer: &NoteSigner) -> Result<Self, NoteError> {
        let text = checkpoint.to_text();
        if Checkpoint::parse_text(&text)? != checkpoint {
            return Err(NoteError::Malformed {
                what: "checkpoint does not parse back from its text (a field holds a newline)",
            });
        }
        let note = signer.sign(&text)?;
        Ok(Self { checkpoint, note })
    }

    /// Verifies a signed checkpoint against trusted keys (see [`open_note`]) and parses its
    /// text.
    ///
    /// The origin is not checked against anything: callers that expect a given log must
    /// compare [`Checkpoint::origin`] themselves.
    pub fn open(note: &str, keys: &[VerifierKey]) -> Result<Self, NoteError> {
        let (text, _) = open_note(note, keys)?;
        let checkpoint = Checkpoint::parse_text(text)?;
        Ok(Self {
            checkpoint,
            note: note.to_owned(),
        })
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The full signed note.
    pub fn note(&self) -> &str {
        &self.note
    }
}

/// Length of the padded base64 form of `bytes` bytes.
pub(super) const fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

/// Parses an ASCII decimal without sign or leading zeros (except `0` itself).
pub(super) fn parse_decimal(text: &str) -> Option<u64> {
    let digits = text.as_bytes();
    let canonical = match digits {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => digits.iter().all(u8::is_ascii_digit),
    };
    if canonical { text.parse().ok() } else { None }
}

/// Decodes the padded base64 of exactly 32 bytes.
pub(super) fn decode_hash(text: &str) -> Option<Digest> {
    if text.len() != base64_len(Digest::LEN) {
        return None;
    }
    let bytes: [u8; 32] = STANDARD.decode(text).ok()?.try_into().ok()?;
    Some(Digest::from_bytes(bytes))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::audit::signed_note::tests::malformed;

    pub(crate) fn sample_checkpoint() -> Checkpoint {
        let mut checkpoint = Checkpoint::new("example.com/log", 1234, Digest::of(b"root"));
        checkpoint.extensions = vec!["ext one".into(), "— two".into()];
        checkpoint
    }

    #[test]
    fn checkpoint_text_round_trip() {
        let checkpoint = sample_checkpoint();
        let text = checkpoint.to_text();
        assert!(text.starts_with("example.com/log\n1234\n"));
        assert!(text.ends_with("\next one\n— two\n"));
        assert_eq!(Checkpoint::parse_text(&text).unwrap(), checkpoint);

        let plain = Checkpoint::new("o", 0, Digest::from_bytes([0; 32]));
        assert_eq!(
            plain.to_text(),
            "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
        );
        assert_eq!(Checkpoint::parse_text(&plain.to_text()).unwrap(), plain);
    }

    #[test]
    fn checkpoint_text_rejections() {
        let root = STANDARD.encode([7u8; 32]);
        let good = format!("o\n5\n{root}\n");
        assert!(Checkpoint::parse_text(&good).is_ok());
        let rejected = [
            format!("o\n05\n{root}\n"),
            format!("o\n00\n{root}\n"),
            format!("o\n+5\n{root}\n"),
            format!("o\n-5\n{root}\n"),
            format!("o\n 5\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("\n5\n{root}\n"),
            format!("o\n5\n{root}"),
            format!("o\n5\n{root}\n\n"),
            format!("o\n5\n{root}\next\n\n"),
            format!("o\t\n5\n{root}\n"),
            format!("o\r\n5\n{root}\n"),
            format!("o\n5\n{}\n", STANDARD.encode([7u8; 31])),
            format!("o\n5\n{}\n", STANDARD.encode([7u8; 33])),
            format!("o\n5\n{}\n", root.trim_end_matches('=')),
            format!("o\n5\n{}\n", root.replacen('B', "*", 1)),
            "o\n5\n".to_owned(),
            "o\n".to_owned(),
            String::new(),
        ];
        for text in &rejected {
            assert!(malformed(Checkpoint::parse_text(text)), "{text:?}");
        }
        assert_eq!(
            Checkpoint::parse_text(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
    }

    #[test]
    fn signed_checkpoint_round_trip() {
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let keys = [signer.verifier_key()];
        let signed = SignedCheckpoint::sign(sample_checkpoint(), &signer).unwrap();
        assert!(signed.note().starts_with(&sample_checkpoint().to_text()));
        let opened = SignedCheckpoint::open(signed.note(), &keys).unwrap();
        assert_eq!(opened, signed);
        assert_eq!(opened.checkpoint(), &sample_checkpoint());

        let stranger = NoteSigner::generate("example.com/log").unwrap();
        assert_eq!(
            SignedCheckpoint::open(signed.note(), &[stranger.verifier_key()]),
            Err(NoteError::UnknownSigner)
        );
        // A validly signed note that is not a checkpoint.
        let note = signer.sign("not a checkpoint\n").unwrap();
        assert!(malformed(SignedCheckpoint::open(&note, &keys)));

        let mut bad = sample_checkpoint();
        bad.origin = "a\n5".into();
        assert!(malformed(SignedCheckpoint::sign(bad, &signer)));
        let mut bad = sample_checkpoint();
        bad.extensions.push(String::new());
        assert!(malformed(SignedCheckpoint::sign(bad, &signer)));
        let mut bad = sample_checkpoint();
        bad.extensions.push("two\nlines".into());
        assert!(malformed(SignedCheckpoint::sign(bad, &signer)));
    }
}

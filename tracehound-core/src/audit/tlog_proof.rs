//! Tlog proofs (`c2sp.org/tlog-proof`): an entry's index, its inclusion proof and the signed
//! checkpoint it leads to, in one text file ([`TlogProof`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tracehound_codec::Digest;

use super::checkpoint::{base64_len, decode_hash, parse_decimal};
use super::note_error::NoteError;
use super::signed_note::check_no_control_chars;

/// Largest tlog proof accepted, in bytes.
const MAX_PROOF_BYTES: usize = 128 * 1024;
/// Most inclusion-proof hashes accepted in a tlog proof (a tree of 2^64 leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;
/// Largest decoded `extra` data accepted in a tlog proof, in bytes.
const MAX_EXTRA_BYTES: usize = 16 * 1024;
/// First line of every tlog proof.
const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// An offline proof that an entry is in a log (`c2sp.org/tlog-proof`, `.tlog-proof` files).
///
/// Parsing checks the format only: the inclusion proof and the checkpoint's signatures are
/// for the caller to verify, and `extra` is unauthenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque application data; not authenticated by the proof.
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry in the log.
    pub index: u64,
    /// The Merkle inclusion proof, from the leaf's sibling up to the root's child.
    pub proof: Vec<Digest>,
    /// The signed checkpoint note, verbatim and not verified.
    pub checkpoint: String,
}

impl TlogProof {
    /// The proof's text form.
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(
            PROOF_HEADER.len() + 32 + self.proof.len() * 45 + self.checkpoint.len(),
        );
        text.push_str(PROOF_HEADER);
        text.push('\n');
        if let Some(extra) = &self.extra {
            text.push_str("extra ");
            STANDARD.encode_string(extra, &mut text);
            text.push('\n');
        }
        text.push_str("index ");
        text.push_str(&self.index.to_string());
        text.push('\n');
        for hash in &self.proof {
            STANDARD.encode_string(hash.as_bytes(), &mut text);
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint);
        text
    }

    /// Parses a proof strictly. Checks the format and limits only; nothing is verified.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        if text.len() > MAX_PROOF_BYTES {
            return Err(NoteError::TooLarge {
                what: "tlog proof (bytes)",
                limit: MAX_PROOF_BYTES,
            });
        }
        check_no_control_chars(text)?;
        let rest = text
            .strip_prefix(PROOF_HEADER)
            .and_then(|rest| rest.strip_prefix('\n'))
            .ok_or(NoteError::Malformed {
                what: "first line is not c2sp.org/tlog-proof@v1",
            })?;

        let (mut line, mut rest) = next_line(rest, "tlog proof has no index line")?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix("extra ") {
            if encoded.len() > base64_len(MAX_EXTRA_BYTES) {
                return Err(NoteError::TooLarge {
                    what: "tlog proof extra data (bytes)",
                    limit: MAX_EXTRA_BYTES,
                });
            }
            let data = STANDARD.decode(encoded).map_err(|_| NoteError::Malformed {
                what: "tlog proof extra data is not base64",
            })?;
            if data.len() > MAX_EXTRA_BYTES {
                return Err(NoteError::TooLarge {
                    what: "tlog proof extra data (bytes)",
                    limit: MAX_EXTRA_BYTES,
                });
            }
            extra = Some(data);
            (line, rest) = next_line(rest, "tlog proof has no index line")?;
        }
        let index = line
            .strip_prefix("index ")
            .ok_or(NoteError::Malformed {
                what: "tlog proof has no index line",
            })
            .and_then(|index| {
                parse_decimal(index).ok_or(NoteError::Malformed {
                    what: "tlog proof index is not a decimal number without leading zeros",
                })
            })?;

        let mut proof = Vec::new();
        loop {
            (line, rest) = next_line(rest, "tlog proof has no blank line before the checkpoint")?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(NoteError::TooLarge {
                    what: "tlog proof hash lines",
                    limit: MAX_PROOF_HASHES,
                });
            }
            proof.push(decode_hash(line).ok_or(NoteError::Malformed {
                what: "tlog proof hash is not base64 of 32 bytes",
            })?);
        }
        if rest.is_empty() || !rest.ends_with('\n') {
            return Err(NoteError::Malformed {
                what: "tlog proof checkpoint is missing or does not end with a newline",
            });
        }
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint: rest.to_owned(),
        })
    }
}

/// Splits `text` at its first newline; `missing` describes the error if there is none.
fn next_line<'a>(text: &'a str, missing: &'static str) -> Result<(&'a str, &'a str), NoteError> {
    text.split_once('\n')
        .ok_or(NoteError::Malformed { what: missing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::SignedCheckpoint;
    use crate::audit::checkpoint::tests::sample_checkpoint;
    use crate::audit::key::NoteSigner;
    use crate::audit::signed_note::tests::malformed;

    fn sample_proof(signer: &NoteSigner) -> TlogProof {
        let signed = SignedCheckpoint::sign(sample_checkpoint(), signer).unwrap();
        TlogProof {
            extra: Some(b"extra data".to_vec()),
            index: 73894,
            proof: (0u8..5).map(|i| Digest::of(&[i])).collect(),
            checkpoint: signed.note().to_owned(),
        }
    }

    #[test]
    fn tlog_proof_round_trip() {
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let proof = sample_proof(&signer);
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra ZXh0cmEgZGF0YQ==\nindex 73894\n"));
        assert_eq!(TlogProof::parse(&text).unwrap(), proof);
        let opened = SignedCheckpoint::open(
            &TlogProof::parse(&text).unwrap().checkpoint,
            &[signer.verifier_key()],
        )
        .unwrap();
        assert_eq!(opened.checkpoint(), &sample_checkpoint());

        let bare = TlogProof {
            extra: None,
            index: 0,
            proof: Vec::new(),
            ..proof.clone()
        };
        let text = bare.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 0\n\n"));
        assert_eq!(TlogProof::parse(&text).unwrap(), bare);

        let empty_extra = TlogProof {
            extra: Some(Vec::new()),
            ..proof
        };
        assert_eq!(
            TlogProof::parse(&empty_extra.to_text()).unwrap(),
            empty_extra
        );
    }

    #[test]
    fn tlog_proof_rejections() {
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let proof = sample_proof(&signer);
        let text = proof.to_text();
        let hash = STANDARD.encode([1u8; 32]);
        let rejected = [
            text.replacen("tlog-proof@v1", "tlog-proof@v2", 1),
            text.replacen("c2sp.org", "C2SP.org", 1),
            format!("\n{text}"),
            text.replacen("index 73894", "index 073894", 1),
            text.replacen("index 73894", "index ", 1),
            text.replacen("index 73894", "index  73894", 1),
            text.replacen("index 73894\n", "", 1),
            text.replacen("extra ZXh0cmEgZGF0YQ==", "extra ZXh0cmEgZGF0YQ", 1),
            text.replacen("extra ZXh0cmEgZGF0YQ==", "extra", 1),
            text.replacen("\n\nexample.com/log", "\nexample.com/log", 1),
            text.replacen(
                &STANDARD.encode(Digest::of(&[0]).as_bytes()),
                "not base64!",
                1,
            ),
            text.replacen(
                &STANDARD.encode(Digest::of(&[0]).as_bytes()),
                &STANDARD.encode([0u8; 31]),
                1,
            ),
            format!("c2sp.org/tlog-proof@v1\nindex 1\n{hash}\n"),
            "c2sp.org/tlog-proof@v1\nindex 1\n\n".to_owned(),
            "c2sp.org/tlog-proof@v1\n".to_owned(),
            "c2sp.org/tlog-proof@v1".to_owned(),
            text.replacen("index", "ind\rex", 1),
            String::new(),
        ];
        for bad in &rejected {
            assert!(malformed(TlogProof::parse(bad)), "{bad:?}");
        }

        let too_many = TlogProof {
            proof: vec![Digest::of(b"h"); MAX_PROOF_HASHES + 1],
            ..proof.clone()
        };
        assert_eq!(
            TlogProof::parse(&too_many.to_text()),
            Err(NoteError::TooLarge {
                what: "tlog proof hash lines",
                limit: MAX_PROOF_HASHES
            })
        );
        let most = TlogProof {
            proof: vec![Digest::of(b"h"); MAX_PROOF_HASHES],
            ..proof.clone()
        };
        assert_eq!(TlogProof::parse(&most.to_text()).unwrap(), most);
        let big_extra = TlogProof {
            extra: Some(vec![0; MAX_EXTRA_BYTES + 1]),
            ..proof.clone()
        };
        assert!(matches!(
            TlogProof::parse(&big_extra.to_text()),
            Err(NoteError::TooLarge { .. })
        ));
        let huge = TlogProof {
            checkpoint: format!("{}\n", "x".repeat(MAX_PROOF_BYTES)),
            ..proof
        };
        assert!(matches!(
            TlogProof::parse(&huge.to_text()),
            Err(NoteError::TooLarge { .. })
        ));
    }
}

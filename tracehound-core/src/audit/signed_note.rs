//! Signed notes (`c2sp.org/signed-note`): signing a text with a [`NoteSigner`] and opening a
//! signed note against trusted [`VerifierKey`]s.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::key::{NoteSigner, VerifierKey, is_valid_key_name};
use super::note_error::NoteError;

/// Largest signed note (or checkpoint text) accepted, in bytes.
pub(super) const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines accepted in one note. The specification asks for at least 16.
const MAX_SIGNATURES: usize = 32;
/// Start of every signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

// Signing lives here rather than in `key.rs` because it produces the note format; the key
// supplies only its key ID and the Ed25519 signature.
impl NoteSigner {
    /// Signs `text` and returns the signed note: `text`, a blank line and one signature line.
    ///
    /// `text` must end in a newline and hold no ASCII control character other than newline,
    /// and the signed note must fit the 64 KiB limit of [`open_note`].
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::Malformed {
                what: "note text does not end with a newline",
            });
        }
        check_no_control_chars(text)?;

        let mut signed = [0u8; 4 + 64];
        signed[..4].copy_from_slice(&self.key_id().to_be_bytes());
        signed[4..].copy_from_slice(&self.signature(text.as_bytes()));
        let encoded = STANDARD.encode(signed);

        let len =
            text.len() + 1 + SIGNATURE_PREFIX.len() + self.name().len() + 1 + encoded.len() + 1;
        if len > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                what: "signed note (bytes)",
                limit: MAX_NOTE_BYTES,
            });
        }
        let mut note = String::with_capacity(len);
        note.push_str(text);
        note.push('\n');
        note.push_str(SIGNATURE_PREFIX);
        note.push_str(self.name());
        note.push(' ');
        note.push_str(&encoded);
        note.push('\n');
        Ok(note)
    }
}

/// Verifies a signed note against trusted keys; returns the note text (borrowed) and the
/// names of the keys whose signatures verified.
///
/// Signatures whose name and key ID do not both match a key in `keys` are ignored. A failed
/// signature from a trusted key rejects the note ([`NoteError::BadSignature`]), and so does a
/// note with no signature from a trusted key ([`NoteError::UnknownSigner`]). Each trusted key
/// is named once in the result, in the order its first signature appears.
pub fn open_note<'a>(
    note: &'a str,
    keys: &[VerifierKey],
) -> Result<(&'a str, Vec<String>), NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            what: "signed note (bytes)",
            limit: MAX_NOTE_BYTES,
        });
    }
    check_no_control_chars(note)?;
    let split = note.rfind("\n\n").ok_or(NoteError::Malformed {
        what: "no blank line between the note text and its signatures",
    })?;
    let (text, signature_block) = (&note[..split + 1], &note[split + 2..]);
    let signature_lines = signature_block
        .strip_suffix('\n')
        .ok_or(NoteError::Malformed {
            what: "signature block is empty or does not end with a newline",
        })?;

    let mut signatures = Vec::new();
    for line in signature_lines.split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooLarge {
                what: "signature lines",
                limit: MAX_SIGNATURES,
            });
        }
        signatures.push(parse_signature_line(line)?);
    }

    let mut verified: Vec<String> = Vec::new();
    for (name, key_id, signature) in signatures {
        let Some(key) = keys
            .iter()
            .find(|key| key.key_id() == key_id && key.name() == name)
        else {
            continue;
        };
        if !key.verifies(text.as_bytes(), &signature) {
            return Err(NoteError::BadSignature {
                key: key.name().to_owned(),
            });
        }
        if !verified.iter().any(|known| known == key.name()) {
            verified.push(key.name().to_owned());
        }
    }
    if verified.is_empty() {
        return Err(NoteError::UnknownSigner);
    }
    Ok((text, verified))
}

/// Parses one signature line into its key name, key ID and signature bytes.
fn parse_signature_line(line: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::Malformed {
            what: "signature line does not start with an em dash and a space",
        })?;
    let (name, encoded) = rest.split_once(' ').ok_or(NoteError::Malformed {
        what: "signature line has no space between key name and signature",
    })?;
    if !is_valid_key_name(name) {
        return Err(NoteError::Malformed {
            what: "signature line key name is empty or holds whitespace or '+'",
        });
    }
    let decoded = STANDARD.decode(encoded).map_err(|_| NoteError::Malformed {
        what: "signature is not base64",
    })?;
    match decoded.split_first_chunk::<4>() {
        Some((key_id, signature)) if !signature.is_empty() => {
            Ok((name, u32::from_be_bytes(*key_id), signature.to_vec()))
        }
        _ => Err(NoteError::Malformed {
            what: "signature is shorter than a key ID and one byte",
        }),
    }
}

/// Notes, checkpoints and proofs hold no ASCII control character other than newline.
pub(super) fn check_no_control_chars(text: &str) -> Result<(), NoteError> {
    // UTF-8 continuation and lead bytes are all >= 0x80, so a byte scan sees only ASCII here.
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        Err(NoteError::Malformed {
            what: "text holds an ASCII control character other than newline",
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::fmt;

    use proptest::prelude::*;

    use super::*;
    use crate::audit::key::tests::{GO_SKEY, go_vkey};

    // Known answers from golang.org/x/mod/sumdb/note (note_test.go, BSD-3-Clause), signed by
    // the key `GO_SKEY`.
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_SIGNATURE_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_note() -> String {
        format!("{GO_TEXT}\n{GO_SIGNATURE_LINE}")
    }

    /// The signature line `signer` would add to `text`.
    fn signature_line(signer: &NoteSigner, text: &str) -> String {
        let note = signer.sign(text).unwrap();
        note[text.len() + 1..].to_owned()
    }

    pub(crate) fn malformed(result: Result<impl fmt::Debug, NoteError>) -> bool {
        matches!(result, Err(NoteError::Malformed { .. }))
    }

    #[test]
    fn signing_reproduces_the_go_note() {
        let signer = NoteSigner::from_skey(GO_SKEY).unwrap();
        assert_eq!(signer.name(), "PeterNeumann");
        assert_eq!(signer.sign(GO_TEXT).unwrap(), go_note());
        assert_eq!(signer.verifier_key(), go_vkey());
        assert_eq!(signer.to_skey().as_str(), GO_SKEY);
    }

    #[test]
    fn opening_the_go_note() {
        let note = go_note();
        let (text, names) = open_note(&note, &[go_vkey()]).unwrap();
        assert_eq!(text, GO_TEXT);
        assert_eq!(names, ["PeterNeumann"]);
    }

    #[test]
    fn changed_text_fails() {
        let note = go_note().replacen("answer", "Answer", 1);
        assert_eq!(
            open_note(&note, &[go_vkey()]),
            Err(NoteError::BadSignature {
                key: "PeterNeumann".into()
            })
        );
    }

    #[test]
    fn unknown_signatures_are_ignored() {
        let stranger = NoteSigner::generate("stranger.example").unwrap();
        let note = format!(
            "{}{}\u{2014} nobody AAAAAAAAAAAA\n",
            go_note(),
            signature_line(&stranger, GO_TEXT)
        );
        let (text, names) = open_note(&note, &[go_vkey()]).unwrap();
        assert_eq!(text, GO_TEXT);
        assert_eq!(names, ["PeterNeumann"]);
        // Only unknown signers: nothing vouches for the note.
        let unknown = format!("{GO_TEXT}\n{}", signature_line(&stranger, GO_TEXT));
        assert_eq!(
            open_note(&unknown, &[go_vkey()]),
            Err(NoteError::UnknownSigner)
        );
        assert_eq!(open_note(&go_note(), &[]), Err(NoteError::UnknownSigner));
    }

    #[test]
    fn a_bad_signature_from_a_known_key_rejects_the_note() {
        let mut line = GO_SIGNATURE_LINE.to_owned();
        // Change a character inside the signature (after the 4-byte key ID).
        line.replace_range(30..31, if &line[30..31] == "A" { "B" } else { "A" });
        let note = format!("{GO_TEXT}\n{line}");
        assert_eq!(
            open_note(&note, &[go_vkey()]),
            Err(NoteError::BadSignature {
                key: "PeterNeumann".into()
            })
        );

        // A valid signature from another trusted key does not rescue it.
        let witness = NoteSigner::generate("witness.example").unwrap();
        let keys = [go_vkey(), witness.verifier_key()];
        let note = format!("{GO_TEXT}\n{}{line}", signature_line(&witness, GO_TEXT));
        assert!(matches!(
            open_note(&note, &keys),
            Err(NoteError::BadSignature { .. })
        ));
        let note = format!("{}{}", go_note(), signature_line(&witness, GO_TEXT));
        assert_eq!(
            open_note(&note, &keys).unwrap().1,
            ["PeterNeumann", "witness.example"]
        );
    }

    #[test]
    fn a_matching_name_with_another_key_id_is_unknown() {
        let impostor = NoteSigner::generate("PeterNeumann").unwrap();
        assert_ne!(impostor.verifier_key().key_id(), go_vkey().key_id());
        let line = signature_line(&impostor, GO_TEXT);
        let note = format!("{GO_TEXT}\n{line}");
        assert_eq!(
            open_note(&note, &[go_vkey()]),
            Err(NoteError::UnknownSigner)
        );
        let note = format!("{}{line}", go_note());
        assert_eq!(open_note(&note, &[go_vkey()]).unwrap().1, ["PeterNeumann"]);
    }

    #[test]
    fn note_structure_is_checked() {
        let keys = [go_vkey()];
        assert!(malformed(open_note(GO_TEXT, &keys)));
        assert!(malformed(open_note(&format!("{GO_TEXT}\n"), &keys)));
        let no_final_newline = go_note();
        assert!(malformed(open_note(
            no_final_newline.trim_end_matches('\n'),
            &keys
        )));
        let control = go_note().replacen("If", "I\tf", 1);
        assert!(malformed(open_note(&control, &keys)));
        let hyphen = go_note().replacen('\u{2014}', "-", 1);
        assert!(malformed(open_note(&hyphen, &keys)));
        let bad_base64 = go_note().replacen("x08go", "x08g*", 1);
        assert!(malformed(open_note(&bad_base64, &keys)));
        let short = format!("{GO_TEXT}\n\u{2014} PeterNeumann AAAAAA==\n");
        assert!(malformed(open_note(&short, &keys)));

        let many = format!("{}{}", go_note(), GO_SIGNATURE_LINE.repeat(MAX_SIGNATURES));
        assert_eq!(
            open_note(&many, &keys),
            Err(NoteError::TooLarge {
                what: "signature lines",
                limit: MAX_SIGNATURES
            })
        );
        let enough = format!(
            "{}{}",
            go_note(),
            GO_SIGNATURE_LINE.repeat(MAX_SIGNATURES - 1)
        );
        assert_eq!(open_note(&enough, &keys).unwrap().1, ["PeterNeumann"]);
        let huge = format!("{}{}", "x".repeat(MAX_NOTE_BYTES), go_note());
        assert!(matches!(
            open_note(&huge, &keys),
            Err(NoteError::TooLarge { .. })
        ));
    }

    #[test]
    fn note_text_may_hold_blank_lines() {
        let signer = NoteSigner::generate("log.example").unwrap();
        let keys = [signer.verifier_key()];
        for text in ["a\n\nb\n", "a\n\n", "\n"] {
            let note = signer.sign(text).unwrap();
            assert_eq!(open_note(&note, &keys).unwrap().0, text);
        }
    }

    #[test]
    fn sign_validates_the_text() {
        let signer = NoteSigner::generate("log.example").unwrap();
        assert!(malformed(signer.sign("")));
        assert!(malformed(signer.sign("no newline")));
        assert!(malformed(signer.sign("tab\there\n")));
        assert!(matches!(
            signer.sign(&format!("{}\n", "x".repeat(MAX_NOTE_BYTES))),
            Err(NoteError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_generated_key_signs_and_opens() {
        let signer = NoteSigner::generate("audit.example/log").unwrap();
        let note = signer.sign("hello\n").unwrap();
        assert_eq!(
            open_note(&note, &[signer.verifier_key()]).unwrap(),
            ("hello\n", vec!["audit.example/log".to_owned()])
        );
    }

    proptest! {
        #[test]
        fn any_change_to_the_go_note_fails(index in 0usize..200, byte in any::<u8>()) {
            let mut bytes = go_note().into_bytes();
            let index = index % bytes.len();
            prop_assume!(bytes[index] != byte);
            bytes[index] = byte;
            let note = String::from_utf8_lossy(&bytes);
            prop_assert!(open_note(&note, &[go_vkey()]).is_err());
        }
    }
}

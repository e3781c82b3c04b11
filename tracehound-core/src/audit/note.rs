//! Signed notes, checkpoints and offline inclusion proofs in the C2SP text formats.
//!
//! Three formats, all plain UTF-8 text, so that the audit log's state can be published,
//! witnessed and checked with the tools of the transparency-log ecosystem:
//!
//! - **Signed note** (`c2sp.org/signed-note`): a text ending in a newline, a blank line, then
//!   one line per signature, `— <key name> <base64(key ID || signature)>`. Only Ed25519 keys
//!   (signature type `0x01`) are supported. Keys travel as *verifier key* strings
//!   (`<name>+<hex key ID>+<base64 key>`, [`VerifierKey`]) and *signer key* strings
//!   (`PRIVATE+KEY+<name>+<hex key ID>+<base64 seed>`, [`NoteSigner`]).
//! - **Checkpoint** (`c2sp.org/tlog-checkpoint`): the note text `<origin>\n<size>\n<base64
//!   root hash>\n`, optionally followed by extension lines ([`Checkpoint`],
//!   [`SignedCheckpoint`]).
//! - **Tlog proof** (`c2sp.org/tlog-proof`): an entry's index, its Merkle inclusion proof and
//!   the signed checkpoint it leads to, in one file ([`TlogProof`]).
//!
//! # Verification rules
//!
//! [`open_note`] follows the signed-note specification: signatures whose key name and key ID
//! do not both match a trusted key are ignored; a signature from a trusted key that fails to
//! verify rejects the whole note; a note with no verified signature from a trusted key is
//! rejected. Ed25519 signatures are checked strictly (canonical encodings, no small-order
//! keys), so a note has exactly one valid byte form per signature.
//!
//! # Limits
//!
//! Parsers take untrusted text and bound their work: a signed note or checkpoint text is at
//! most 64 KiB with at most 32 signature lines; a tlog proof is at most 128 KiB, with at most
//! 64 proof hashes and 16 KiB of extra data.
//!
//! # Key material
//!
//! Secret seeds are wiped from memory after use, [`NoteSigner::to_skey`] returns a string that
//! is wiped when dropped, and no `Debug` or `Display` output or error carries key material.
//!
//! # Example
//!
//! ```
//! use tracehound::Digest;
//! use tracehound::audit::note::{Checkpoint, NoteSigner, SignedCheckpoint};
//!
//! let signer = NoteSigner::generate("audit.example.com/log")?;
//! let trusted = [signer.verifier_key()];
//!
//! let checkpoint = Checkpoint::new("audit.example.com/log", 3, Digest::of(b"root"));
//! let signed = SignedCheckpoint::sign(checkpoint.clone(), &signer)?;
//!
//! let opened = SignedCheckpoint::open(signed.note(), &trusted)?;
//! assert_eq!(opened.checkpoint(), &checkpoint);
//! # Ok::<(), tracehound::audit::note::NoteError>(())
//! ```

// One file per format, each built on the ones before it: keys, signed notes, checkpoints,
// tlog proofs. This module is their public face.
pub use super::checkpoint::{Checkpoint, SignedCheckpoint};
pub use super::key::{NoteSigner, VerifierKey};
pub use super::note_error::NoteError;
pub use super::signed_note::open_note;
pub use super::tlog_proof::TlogProof;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::audit::key::tests::go_vkey;

    fn parse_everything(text: &str) {
        let keys = [go_vkey()];
        let _ = open_note(text, &keys);
        let _ = SignedCheckpoint::open(text, &keys);
        let _ = TlogProof::parse(text);
        let _ = text.parse::<VerifierKey>();
        let _ = NoteSigner::from_skey(text);
        let _ = Checkpoint::parse_text(text);
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_strings(text in any::<String>()) {
            parse_everything(&text);
        }

        #[test]
        fn parsers_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            parse_everything(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn parsers_never_panic_on_near_formats(
            text in "(c2sp.org/tlog-proof@v1\n|index [0-9]{1,3}\n|extra [A-Za-z0-9+/=]{0,8}\n|PeterNeumann|\u{2014} |[A-Za-z0-9+/=]{0,44}|\n){0,12}"
        ) {
            parse_everything(&text);
        }
    }
}

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

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use tracehound_codec::Digest;
use zeroize::Zeroizing;

/// Largest signed note (or checkpoint text) accepted, in bytes.
const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines accepted in one note. The specification asks for at least 16.
const MAX_SIGNATURES: usize = 32;
/// Largest tlog proof accepted, in bytes.
const MAX_PROOF_BYTES: usize = 128 * 1024;
/// Most inclusion-proof hashes accepted in a tlog proof (a tree of 2^64 leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;
/// Largest decoded `extra` data accepted in a tlog proof, in bytes.
const MAX_EXTRA_BYTES: usize = 16 * 1024;

/// Signature type byte for Ed25519 in key strings and key IDs.
const ALG_ED25519: u8 = 0x01;
/// Length of the base64 form of a type byte followed by 32 key bytes.
const KEY_BASE64_LEN: usize = 44;
/// Start of every signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// Start of every signer key string.
const SKEY_PREFIX: &str = "PRIVATE+KEY+";
/// First line of every tlog proof.
const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// What is wrong with a note, key, checkpoint or proof.
///
/// No variant carries key material or note contents; [`NoteError::BadSignature`] names the
/// trusted key whose signature failed, which is public.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteError {
    /// The text does not follow its format; `what` names the rule broken. Reject the input.
    Malformed {
        /// The rule broken.
        what: &'static str,
    },
    /// The input is larger than a limit of this module. Reject the input.
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// The limit (bytes, lines or hashes, as `what` says).
        limit: usize,
    },
    /// A key string or key name is not valid; `what` names the rule broken. Fix the
    /// configured key.
    BadKey {
        /// The rule broken.
        what: &'static str,
    },
    /// A key string's key ID is not the one computed from its name and public key: the
    /// string was altered or assembled from parts of different keys. Fix the configured key.
    KeyIdMismatch,
    /// No signature on the note comes from a trusted key. Reject the note, or add the
    /// signer's verifier key if it should be trusted.
    UnknownSigner,
    /// A signature from the trusted key `key` does not verify: the note was altered or forged.
    /// Reject the note.
    BadSignature {
        /// Name of the trusted key.
        key: String,
    },
    /// The operating system's random number generator failed while generating a key. Retry,
    /// or check the host's entropy source.
    Random,
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { what } => write!(f, "malformed input: {what}"),
            Self::TooLarge { what, limit } => write!(f, "{what} exceeds the limit of {limit}"),
            Self::BadKey { what } => write!(f, "invalid key: {what}"),
            Self::KeyIdMismatch => f.write_str("key ID does not match the key name and public key"),
            Self::UnknownSigner => f.write_str("note has no signature from a trusted key"),
            Self::BadSignature { key } => {
                write!(f, "signature from trusted key {key:?} does not verify")
            }
            Self::Random => f.write_str("the operating system's random number generator failed"),
        }
    }
}

impl std::error::Error for NoteError {}

/// A key that signs notes with Ed25519: a key name, the secret key and its key ID.
///
/// The secret key is wiped from memory when the signer is dropped. `Debug` shows the name and
/// key ID only.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl NoteSigner {
    /// A new key named `name`, seeded from the operating system's random number generator.
    ///
    /// The name must be non-empty and hold no whitespace, control character or `+`.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *seed).map_err(|_| NoteError::Random)?;
        Ok(Self::from_seed(name, &seed))
    }

    /// Parses a signer key string, `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        let rest = skey.strip_prefix(SKEY_PREFIX).ok_or(NoteError::BadKey {
            what: "signer key does not start with PRIVATE+KEY+",
        })?;
        let (name, key_id, encoded) = split_key_string(rest)?;
        if encoded.len() != KEY_BASE64_LEN {
            return Err(NoteError::BadKey {
                what: "signer key is not base64 of a type byte and a 32-byte seed",
            });
        }
        let mut raw = Zeroizing::new([0u8; 1 + 32]);
        match STANDARD.decode_slice(encoded, &mut *raw) {
            Ok(len) if len == raw.len() => {}
            _ => {
                return Err(NoteError::BadKey {
                    what: "signer key is not base64 of a type byte and a 32-byte seed",
                });
            }
        }
        if raw[0] != ALG_ED25519 {
            return Err(NoteError::BadKey {
                what: "unsupported signature type (only Ed25519, 0x01)",
            });
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&raw[1..]);
        let signer = Self::from_seed(name, &seed);
        if signer.key_id != key_id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(signer)
    }

    /// The signer key string, `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`. It
    /// holds the secret key; it is wiped from memory when dropped.
    pub fn to_skey(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 1 + 32]);
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        // Encoding into a buffer we wipe, rather than through base64's internal stack buffer.
        let mut encoded = Zeroizing::new([0u8; KEY_BASE64_LEN]);
        // 33 bytes always encode to exactly 44 characters, so the buffer is large enough.
        let written = STANDARD
            .encode_slice(raw.as_slice(), &mut *encoded)
            .unwrap_or_default();

        let capacity = SKEY_PREFIX.len() + self.name.len() + 1 + 8 + 1 + KEY_BASE64_LEN;
        let mut skey = Zeroizing::new(String::with_capacity(capacity));
        skey.push_str(SKEY_PREFIX);
        skey.push_str(&self.name);
        skey.push('+');
        skey.push_str(&format!("{:08x}", self.key_id));
        skey.push('+');
        for &byte in &encoded[..written] {
            skey.push(char::from(byte));
        }
        skey
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half of this key, to give to verifiers.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            public: self.key.verifying_key(),
        }
    }

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

        let signature = self.key.sign(text.as_bytes());
        let mut signed = [0u8; 4 + 64];
        signed[..4].copy_from_slice(&self.key_id.to_be_bytes());
        signed[4..].copy_from_slice(&signature.to_bytes());
        let encoded = STANDARD.encode(signed);

        let len = text.len() + 1 + SIGNATURE_PREFIX.len() + self.name.len() + 1 + encoded.len() + 1;
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
        note.push_str(&self.name);
        note.push(' ');
        note.push_str(&encoded);
        note.push('\n');
        Ok(note)
    }

    /// Builds the signer from a name already checked and a 32-byte seed.
    fn from_seed(name: &str, seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, key.verifying_key().as_bytes());
        Self {
            name: name.to_owned(),
            key,
            key_id,
        }
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// A trusted Ed25519 public key for [`open_note`]: a key name, key ID and public key.
///
/// Its text form (`Display`, `FromStr`, and also `Debug`) is the verifier key string
/// `<name>+<8 lowercase hex key ID>+<base64(0x01 || public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    public: VerifyingKey,
}

impl VerifierKey {
    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID: the first four bytes, big-endian, of SHA-256(name || `\n` || 0x01 || key).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    /// Parses `<name>+<8 lowercase hex key ID>+<base64(0x01 || 32-byte key)>`, checking the
    /// key type, the point encoding and that the key ID matches the name and key.
    fn from_str(vkey: &str) -> Result<Self, Self::Err> {
        let (name, key_id, encoded) = split_key_string(vkey)?;
        const BAD_ENCODING: NoteError = NoteError::BadKey {
            what: "verifier key is not base64 of a type byte and a 32-byte public key",
        };
        if encoded.len() != KEY_BASE64_LEN {
            return Err(BAD_ENCODING);
        }
        let raw = STANDARD.decode(encoded).map_err(|_| BAD_ENCODING)?;
        let (&key_type, public) = raw.split_first().ok_or(BAD_ENCODING)?;
        let public: &[u8; 32] = public.try_into().map_err(|_| BAD_ENCODING)?;
        if key_type != ALG_ED25519 {
            return Err(NoteError::BadKey {
                what: "unsupported signature type (only Ed25519, 0x01)",
            });
        }
        let public = VerifyingKey::from_bytes(public).map_err(|_| NoteError::BadKey {
            what: "public key is not a valid Ed25519 point",
        })?;
        if public.is_weak() {
            return Err(NoteError::BadKey {
                what: "public key is a small-order point",
            });
        }
        if self::key_id(name, public.as_bytes()) != key_id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id,
            public,
        })
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 1 + 32];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.public.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
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
            .find(|key| key.key_id == key_id && key.name == name)
        else {
            continue;
        };
        let bad_signature = || NoteError::BadSignature {
            key: key.name.clone(),
        };
        let signature: &[u8; 64] = signature
            .as_slice()
            .try_into()
            .map_err(|_| bad_signature())?;
        key.public
            .verify_strict(text.as_bytes(), &Signature::from_bytes(signature))
            .map_err(|_| bad_signature())?;
        if !verified.contains(&key.name) {
            verified.push(key.name.clone());
        }
    }
    if verified.is_empty() {
        return Err(NoteError::UnknownSigner);
    }
    Ok((text, verified))
}

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

/// Length of the padded base64 form of `bytes` bytes.
const fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
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

/// Splits `<name>+<hex key ID>+<base64>` on its first two `+` (base64 may hold more) and
/// checks the name and key ID syntax.
fn split_key_string(text: &str) -> Result<(&str, u32, &str), NoteError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(key_id), Some(encoded)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(NoteError::BadKey {
            what: "key string is not <name>+<key ID>+<key>",
        });
    };
    check_key_name(name)?;
    let key_id = parse_key_id(key_id).ok_or(NoteError::BadKey {
        what: "key ID is not 8 lowercase hex digits",
    })?;
    Ok((name, key_id, encoded))
}

/// Key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)[..4], big-endian.
fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let hash = Digest::of_parts(&[name.as_bytes(), &[b'\n', ALG_ED25519], public]);
    let [a, b, c, d, ..] = *hash.as_bytes();
    u32::from_be_bytes([a, b, c, d])
}

/// Parses exactly 8 lowercase hex digits.
fn parse_key_id(text: &str) -> Option<u32> {
    let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if text.len() != 8 || !text.as_bytes().iter().all(lower_hex) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Key names are non-empty, without whitespace, control characters or `+` (the separator of
/// key strings).
fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control())
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::BadKey {
            what: "key name is empty or holds whitespace, a control character or '+'",
        })
    }
}

/// Notes, checkpoints and proofs hold no ASCII control character other than newline.
fn check_no_control_chars(text: &str) -> Result<(), NoteError> {
    // UTF-8 continuation and lead bytes are all >= 0x80, so a byte scan sees only ASCII here.
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        Err(NoteError::Malformed {
            what: "text holds an ASCII control character other than newline",
        })
    } else {
        Ok(())
    }
}

/// Parses an ASCII decimal without sign or leading zeros (except `0` itself).
fn parse_decimal(text: &str) -> Option<u64> {
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
fn decode_hash(text: &str) -> Option<Digest> {
    if text.len() != base64_len(Digest::LEN) {
        return None;
    }
    let bytes: [u8; 32] = STANDARD.decode(text).ok()?.try_into().ok()?;
    Some(Digest::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Known answers from golang.org/x/mod/sumdb/note (note_test.go, BSD-3-Clause).
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_SIGNATURE_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    // From the C2SP signed-note specification.
    const C2SP_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

    fn go_note() -> String {
        format!("{GO_TEXT}\n{GO_SIGNATURE_LINE}")
    }

    fn go_vkey() -> VerifierKey {
        GO_VKEY.parse().unwrap()
    }

    /// The signature line `signer` would add to `text`.
    fn signature_line(signer: &NoteSigner, text: &str) -> String {
        let note = signer.sign(text).unwrap();
        note[text.len() + 1..].to_owned()
    }

    fn malformed(result: Result<impl fmt::Debug, NoteError>) -> bool {
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
    fn verifier_keys_parse_and_print() {
        let key = go_vkey();
        assert_eq!(key.name(), "PeterNeumann");
        assert_eq!(key.key_id(), 0xc74f20a3);
        assert_eq!(key.to_string(), GO_VKEY);
        assert_eq!(format!("{key:?}"), GO_VKEY);

        let c2sp: VerifierKey = C2SP_VKEY.parse().unwrap();
        assert_eq!(c2sp.name(), "example.com/foo");
        assert_eq!(c2sp.key_id(), 0x530d903a);
        assert_eq!(c2sp.to_string(), C2SP_VKEY);
    }

    #[test]
    fn verifier_key_rejections() {
        let bad_key =
            |vkey: &str| matches!(vkey.parse::<VerifierKey>(), Err(NoteError::BadKey { .. }));
        assert!(bad_key(""));
        assert!(bad_key("PeterNeumann+c74f20a3"));
        assert!(bad_key(
            "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ));
        assert!(bad_key(
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ));
        assert!(bad_key(
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ));
        assert!(bad_key(
            "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ));
        let public = *go_vkey().public.as_bytes();
        let with_raw = |raw: &[u8]| format!("PeterNeumann+c74f20a3+{}", STANDARD.encode(raw));
        assert_eq!(
            with_raw(&[&[0x01][..], &public].concat()).parse::<VerifierKey>(),
            Ok(go_vkey())
        );
        // Type byte 0x02 instead of 0x01.
        assert!(bad_key(&with_raw(&[&[0x02][..], &public].concat())));
        // 32 bytes without the type byte, and 34 bytes.
        assert!(bad_key(&with_raw(&public)));
        assert!(bad_key(&with_raw(&[&[0x01][..], &public, &[0]].concat())));
        // Not a point on the curve (y = 2 has no matching x), and the identity (small order).
        let mut not_a_point = [0u8; 33];
        not_a_point[0] = 0x01;
        not_a_point[1] = 2;
        assert!(bad_key(&with_raw(&not_a_point)));
        let mut identity = [0u8; 33];
        identity[0] = 0x01;
        identity[1] = 1;
        assert!(bad_key(&with_raw(&identity)));
        assert_eq!(
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
                .parse::<VerifierKey>(),
            Err(NoteError::KeyIdMismatch)
        );
        assert_eq!(
            "PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
                .parse::<VerifierKey>(),
            Err(NoteError::KeyIdMismatch)
        );
    }

    #[test]
    fn signer_key_rejections() {
        let bad_key =
            |skey: &str| matches!(NoteSigner::from_skey(skey), Err(NoteError::BadKey { .. }));
        assert!(bad_key(&GO_SKEY["PRIVATE+KEY+".len()..]));
        assert!(bad_key("PRIVATE+KEY+PeterNeumann+c74f20a3"));
        assert!(bad_key(&GO_SKEY.replace("+AYEK", "+AoEK")));
        assert!(bad_key(&GO_SKEY.replace("+AYEK", "+AYE")));
        assert!(bad_key(&format!("{GO_SKEY}AAAA")));
        assert!(matches!(
            NoteSigner::from_skey(&GO_SKEY.replace("c74f20a3", "c74f20a4")),
            Err(NoteError::KeyIdMismatch)
        ));
        assert!(matches!(
            NoteSigner::generate("with+plus"),
            Err(NoteError::BadKey { .. })
        ));
        assert!(matches!(
            NoteSigner::generate(""),
            Err(NoteError::BadKey { .. })
        ));
    }

    #[test]
    fn generated_keys_round_trip() {
        let signer = NoteSigner::generate("audit.example/log").unwrap();
        let vkey = signer.verifier_key();
        assert_eq!(vkey.to_string().parse::<VerifierKey>().unwrap(), vkey);
        let again = NoteSigner::from_skey(&signer.to_skey()).unwrap();
        assert_eq!(again.verifier_key(), vkey);
        assert_eq!(*again.to_skey(), *signer.to_skey());

        let note = signer.sign("hello\n").unwrap();
        assert_eq!(
            open_note(&note, &[vkey]).unwrap(),
            ("hello\n", vec!["audit.example/log".to_owned()])
        );
        let other = NoteSigner::generate("audit.example/log").unwrap();
        assert_ne!(other.verifier_key(), signer.verifier_key());
    }

    #[test]
    fn debug_and_errors_hold_no_key_material() {
        let signer = NoteSigner::from_skey(GO_SKEY).unwrap();
        let debug = format!("{signer:?}");
        assert_eq!(
            debug,
            "NoteSigner { name: \"PeterNeumann\", key_id: c74f20a3, .. }"
        );
        let secret = &GO_SKEY[GO_SKEY.rfind("+A").unwrap() + 1..];
        let error = NoteSigner::from_skey(&GO_SKEY.replace("c74f20a3", "c74f20a4")).unwrap_err();
        assert!(!error.to_string().contains(secret));
        assert!(!format!("{error:?}").contains(secret));
    }

    fn sample_checkpoint() -> Checkpoint {
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

//! Ed25519 keys for signed notes: the signer ([`NoteSigner`]) and the trusted public key
//! ([`VerifierKey`]), with their C2SP key strings and key IDs.
//!
//! Nothing here knows the note format; signing and opening notes is in `signed_note.rs`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use tracehound_codec::Digest;
use zeroize::Zeroizing;

use super::note_error::NoteError;

/// Signature type byte for Ed25519 in key strings and key IDs.
const ALG_ED25519: u8 = 0x01;
/// Length of the base64 form of a type byte followed by 32 key bytes.
const KEY_BASE64_LEN: usize = 44;
/// Start of every signer key string.
const SKEY_PREFIX: &str = "PRIVATE+KEY+";

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

    /// The key ID: the first four bytes, big-endian, of SHA-256(name || `\n` || 0x01 || key).
    pub(super) fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 signature of `message`.
    pub(super) fn signature(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
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

/// A trusted Ed25519 public key for [`open_note`](super::note::open_note): a key name, key ID
/// and public key.
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

    /// Whether `signature` is this key's Ed25519 signature of `message`. The check is strict
    /// (canonical encodings, no small-order keys), so a message has exactly one valid
    /// signature byte form per key.
    pub(super) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.public
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
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
pub(super) fn is_valid_key_name(name: &str) -> bool {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    // Known answers from golang.org/x/mod/sumdb/note (note_test.go, BSD-3-Clause).
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    pub(crate) const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    // From the C2SP signed-note specification.
    const C2SP_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

    pub(crate) fn go_vkey() -> VerifierKey {
        GO_VKEY.parse().unwrap()
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
}

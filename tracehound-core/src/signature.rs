//! Signatures: the name of a piece of evidence.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use tracehound_codec::Digest;

use crate::canonical::{CanonicalForm, EncodeError, canonicalize};
use crate::scent::{Category, ParseError};

/// `<category>:<SHA-256 of the canonical payload, 64 lowercase hex>`.
///
/// Two scents with the same category and the same canonical payload have the same signature,
/// whatever their source, severity or time; the quarantine keeps one copy per signature.
/// Equality compares the digest in constant time.
///
/// ```
/// use serde_json::json;
/// use tracehound::{CanonicalForm, Category, Signature, signature};
///
/// let sig = signature(Category::Injection, &json!({"a": 1}), CanonicalForm::Jcs).unwrap();
/// assert_eq!(
///     sig.to_string(),
///     "injection:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
/// );
/// assert_eq!(sig.to_string().parse::<Signature>().unwrap(), sig);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    category: Category,
    digest: Digest,
}

impl Signature {
    /// A signature from its parts.
    pub fn new(category: Category, digest: Digest) -> Self {
        Self { category, digest }
    }

    /// The category.
    pub fn category(&self) -> &Category {
        &self.category
    }

    /// The SHA-256 of the canonical payload: the evidence hash.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
}

/// The signature of `payload` under `category`, in canonical `form`.
///
/// Fails when the payload cannot be canonicalized within the absolute ceilings
/// ([`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES), [`MAX_DEPTH`](crate::MAX_DEPTH)).
pub fn signature(
    category: Category,
    payload: &Value,
    form: CanonicalForm,
) -> Result<Signature, EncodeError> {
    let bytes = canonicalize(payload, form)?;
    Ok(Signature::new(category, Digest::of(&bytes)))
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.category, self.digest)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (category, hex) = s.split_once(':').ok_or(ParseError::Signature {
            reason: "expected <category>:<64 lowercase hex>",
        })?;
        let category = Category::custom(category).map_err(|_| ParseError::Signature {
            reason: "the category part is not a valid category name",
        })?;
        let digest = Digest::from_hex(hex).map_err(|_| ParseError::Signature {
            reason: "the hash part is not 64 lowercase hex characters",
        })?;
        Ok(Signature::new(category, digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_malformed_text() {
        let hex = "0".repeat(64);
        assert!(format!("injection:{hex}").parse::<Signature>().is_ok());
        for bad in [
            hex.clone(),
            format!(":{hex}"),
            format!("Injection:{hex}"),
            format!("injection:{}", "0".repeat(63)),
            format!("injection:{}", "A".repeat(64)),
            format!("injection:{hex}:"),
            format!("a:b:{hex}"),
        ] {
            assert!(bad.parse::<Signature>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn category_is_part_of_identity() {
        let payload = serde_json::json!({"x": 1});
        let a = signature(Category::Injection, &payload, CanonicalForm::Jcs).unwrap();
        let b = signature(Category::Spam, &payload, CanonicalForm::Jcs).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a, b);
    }
}

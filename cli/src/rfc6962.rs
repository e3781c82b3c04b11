//! `tracehound rfc6962`: checks RFC 6962 Merkle proofs of any log, a Certificate Transparency
//! log included, with the library's strict verifiers.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Subcommand;
use tracehound::audit::merkle::{self, ProofError};

/// The two proofs of RFC 9162 §2.1, with hashes in standard, padded base64.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check that a leaf hash is leaf INDEX of the tree of SIZE leaves with root ROOT
    /// (RFC 9162 §2.1.3.2).
    ///
    /// Exits 0 when the proof holds, 1 when it does not (the reason goes to standard error),
    /// 2 for a usage error such as malformed base64.
    VerifyInclusion {
        /// The leaf hash, SHA-256(0x00 ‖ leaf), in base64.
        #[arg(long, value_name = "B64", value_parser = parse_hash)]
        leaf_hash: Bytes,
        /// The leaf's zero-based index.
        #[arg(long, value_name = "N")]
        index: u64,
        /// The number of leaves in the tree.
        #[arg(long, value_name = "N")]
        size: u64,
        /// The tree's root hash, in base64.
        #[arg(long, value_name = "B64", value_parser = parse_hash)]
        root: Bytes,
        /// The audit path, leaf side first, as comma-separated base64 hashes. Empty or
        /// omitted for a tree of one leaf.
        #[arg(long, value_name = "B64,...", value_parser = parse_hash_list)]
        proof: Option<HashList>,
    },
    /// Check that the tree of SIZE1 leaves with root ROOT1 is a prefix of the tree of SIZE2
    /// leaves with root ROOT2 (RFC 9162 §2.1.4.2).
    ///
    /// Exits 0 when the proof holds, 1 when it does not (the reason goes to standard error),
    /// 2 for a usage error such as malformed base64.
    VerifyConsistency {
        /// The number of leaves in the older tree.
        #[arg(long, value_name = "N")]
        size1: u64,
        /// The number of leaves in the newer tree.
        #[arg(long, value_name = "N")]
        size2: u64,
        /// The older tree's root hash, in base64.
        #[arg(long, value_name = "B64", value_parser = parse_hash)]
        root1: Bytes,
        /// The newer tree's root hash, in base64.
        #[arg(long, value_name = "B64", value_parser = parse_hash)]
        root2: Bytes,
        /// The consistency proof as comma-separated base64 hashes. Empty or omitted when the
        /// sizes are equal.
        #[arg(long, value_name = "B64,...", value_parser = parse_hash_list)]
        proof: Option<HashList>,
    },
}

/// Decoded base64: a hash as given, of any length. The verifiers check that it is 32 bytes,
/// so a wrong length is reported as a proof that does not hold.
#[derive(Debug, Clone)]
pub(crate) struct Bytes(Vec<u8>);

/// Decoded, comma-separated base64 hashes.
#[derive(Debug, Clone)]
pub(crate) struct HashList(Vec<Vec<u8>>);

impl HashList {
    /// The hashes as slices; an omitted `--proof` is the empty proof.
    fn slices_of(list: Option<&HashList>) -> Vec<&[u8]> {
        list.map_or_else(Vec::new, |list| list.0.iter().map(Vec::as_slice).collect())
    }
}

fn parse_hash(text: &str) -> Result<Bytes, String> {
    decode(text).map(Bytes)
}

/// The empty string is the empty proof. Otherwise every comma separates two hashes, so an
/// empty element (as in `A,,B` or `A,`) is a zero-length hash, which the verifier rejects.
fn parse_hash_list(text: &str) -> Result<HashList, String> {
    if text.is_empty() {
        return Ok(HashList(Vec::new()));
    }
    text.split(',')
        .enumerate()
        .map(|(at, element)| decode(element).map_err(|e| format!("hash {}: {e}", at + 1)))
        .collect::<Result<_, _>>()
        .map(HashList)
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text)
        .map_err(|e| format!("not standard padded base64 ({e})"))
}

/// Which proof was checked.
#[derive(Debug, Clone, Copy)]
enum ProofKind {
    /// `verify-inclusion`.
    Inclusion,
    /// `verify-consistency`.
    Consistency,
}

/// A proof that does not hold, and why.
#[derive(Debug)]
pub(crate) struct Rejected {
    kind: ProofKind,
    error: ProofError,
}

impl Rejected {
    fn new(kind: ProofKind, error: ProofError) -> Self {
        Rejected { kind, error }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ProofKind::Inclusion => "inclusion",
            ProofKind::Consistency => "consistency",
        };
        write!(f, "{kind} proof does not verify: {}", self.error)
    }
}

impl std::error::Error for Rejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Runs the command; on success returns the line to print.
pub(crate) fn run(command: &Command) -> Result<String, Rejected> {
    match command {
        Command::VerifyInclusion {
            leaf_hash,
            index,
            size,
            root,
            proof,
        } => {
            let proof = HashList::slices_of(proof.as_ref());
            merkle::verify_inclusion_bytes(&leaf_hash.0, *index, *size, &proof, &root.0)
                .map_err(|error| Rejected::new(ProofKind::Inclusion, error))?;
            Ok(format!(
                "inclusion proof verifies: leaf {index} of a tree of size {size}"
            ))
        }
        Command::VerifyConsistency {
            size1,
            size2,
            root1,
            root2,
            proof,
        } => {
            let proof = HashList::slices_of(proof.as_ref());
            merkle::verify_consistency_bytes(*size1, *size2, &proof, &root1.0, &root2.0)
                .map_err(|error| Rejected::new(ProofKind::Consistency, error))?;
            Ok(format!(
                "consistency proof verifies: the tree of size {size1} is a prefix of the tree of size {size2}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn hash_lists_split_on_commas() {
        assert!(parse_hash_list("").unwrap().0.is_empty());
        let list = parse_hash_list("AA==,AQI=").unwrap();
        assert_eq!(list.0, [vec![0], vec![1, 2]]);
        // Empty elements are zero-length hashes, left for the verifier to reject.
        assert_eq!(parse_hash_list(",AA==").unwrap().0, [vec![], vec![0]]);
        assert_eq!(parse_hash_list("AA==,").unwrap().0, [vec![0], vec![]]);
    }

    #[test]
    fn malformed_base64_is_refused() {
        for bad in ["AA", "AA=", "A===", "AA==\n", " AA==", "AA-_", "AB=="] {
            assert!(parse_hash(bad).is_err(), "{bad:?}");
        }
        let message = parse_hash_list("AA==,A").unwrap_err();
        assert!(message.starts_with("hash 2: "), "{message}");
    }
}

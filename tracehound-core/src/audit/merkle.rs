//! RFC 6962 Merkle trees: hashing and strict proof verification.
//!
//! Hashes follow RFC 6962 §2.1 (RFC 9162 §2.1.1): leaf hash = SHA-256(0x00 ‖ leaf), node
//! hash = SHA-256(0x01 ‖ left ‖ right), and the root of the empty tree is SHA-256 of nothing.
//! A tree of `n` leaves splits at the largest power of two below `n`, so every tree is a
//! sequence of perfect subtrees whose sizes are the set bits of `n`.
//!
//! Proofs come from the log ([`AuditLog::inclusion_proof`](super::AuditLog::inclusion_proof),
//! [`AuditLog::consistency_proof`](super::AuditLog::consistency_proof)) or from any other
//! RFC 6962 log, and are checked by verifiers that follow RFC 9162 §2.1.3.2 (inclusion) and
//! §2.1.4.2 (consistency).
//!
//! ```
//! use tracehound::Digest;
//! use tracehound::audit::merkle;
//!
//! // Three leaves: the root hashes the pair above the first two with the third.
//! let leaves: Vec<Digest> = [b"a", b"b", b"c"].iter().map(|l| merkle::leaf_hash(*l)).collect();
//! let pair = merkle::node_hash(&leaves[0], &leaves[1]);
//! let root = merkle::node_hash(&pair, &leaves[2]);
//!
//! // The third leaf's inclusion proof is its sibling, the pair.
//! merkle::verify_inclusion(&leaves[2], 2, 3, &[pair], &root)?;
//! // The tree of the first two leaves, whose root is the pair, grows by the third.
//! merkle::verify_consistency(2, 3, &[leaves[2]], &pair, &root)?;
//! # Ok::<(), merkle::ProofError>(())
//! ```
//!
//! # Verification policy
//!
//! The verifiers are strict:
//!
//! - **Size 0 is rejected** ([`ProofError::EmptyTree`]): an inclusion proof in an empty tree
//!   proves nothing, and neither does a consistency proof from an empty tree, since every tree
//!   extends it. Callers (the checkpoint layer) special-case the empty tree by comparing its
//!   root with [`empty_root`] instead of asking for a proof.
//! - **Equal sizes** (`size1 == size2`) need an empty proof and equal roots.
//! - **Exact lengths:** a proof must have exactly the number of hashes its index and sizes
//!   call for; one more or one fewer is an error ([`ProofError::ProofLength`]) before any
//!   hashing.
//! - **Hashes are exactly 32 bytes.** The byte-slice entry points
//!   ([`verify_inclusion_bytes`], [`verify_consistency_bytes`]) check every length first, so a
//!   short or empty root is never compared as a prefix. This is stricter than the
//!   transparency-dev reference verifier, which accepts an empty proof between equal sizes
//!   with any two equal byte strings as roots.
//! - **Bounded work:** every loop runs at most once per proof element, and a proof longer than
//!   [`MAX_PROOF_LEN`] is never valid, so untrusted input costs at most 2 × 65 hashes.
//!   Nothing here panics, whatever the sizes, indices and bytes.
//! - **Constant-time comparison** of the computed root with the expected one ([`Digest`]'s
//!   `==`).
//!
//! A root does not commit to its tree size: a proof can also verify for another size whose
//! tree has the same shape along the proof's path (for example index 0 with sizes 3 and 4).
//! Sizes must come from a signed checkpoint, never from the proof's sender alone.

use std::fmt;

use tracehound_codec::Digest;

/// Longest proof any verifier here accepts, in hashes.
///
/// An inclusion proof in a tree of at most `u64::MAX` leaves has at most 64 hashes. A
/// consistency proof can have one more: the hash of the old tree's last perfect subtree comes
/// first when the old size is not a power of two, so from `u64::MAX - 2` to `u64::MAX`
/// leaves the proof has 65 hashes.
pub const MAX_PROOF_LEN: usize = 65;

/// Hash of one leaf: SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8]) -> Digest {
    Digest::of_parts(&[&[0x00], leaf])
}

/// Hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Digest::of_parts(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

/// Root of the empty tree: SHA-256 of no bytes.
pub fn empty_root() -> Digest {
    Digest::of(b"")
}

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// A hash given as bytes is not 32 bytes long.
    HashLength {
        /// Which hash: `"leaf hash"`, `"root"`, `"first root"`, `"second root"` or
        /// `"proof element"`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The leaf index is not below the tree size.
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The tree (or, for consistency, the first tree) is empty; compare the root with
    /// [`empty_root`] instead of asking for a proof.
    EmptyTree,
    /// The first tree is larger than the second.
    SizesOutOfOrder {
        /// Size of the first (older) tree.
        size1: u64,
        /// Size of the second (newer) tree.
        size2: u64,
    },
    /// The proof does not have the number of hashes these sizes need.
    ProofLength {
        /// The number of hashes the sizes need.
        expected: usize,
        /// The number of hashes given.
        got: usize,
    },
    /// The proof leads to a different root than the one expected.
    RootMismatch,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashLength { what, len } => write!(
                f,
                "the {what} is {len} bytes long; a SHA-256 hash must be exactly 32 bytes"
            ),
            Self::IndexOutOfRange { index, size } => write!(
                f,
                "leaf index {index} is not in a tree of {size} leaves; the index must be below the size"
            ),
            Self::EmptyTree => f.write_str(
                "the tree is empty, so there is nothing to prove; compare the root with the empty root instead",
            ),
            Self::SizesOutOfOrder { size1, size2 } => write!(
                f,
                "the first tree ({size1} leaves) is larger than the second ({size2} leaves); pass the older, smaller tree first"
            ),
            Self::ProofLength { expected, got } => write!(
                f,
                "the proof has {got} hashes but these sizes need exactly {expected}"
            ),
            Self::RootMismatch => f.write_str(
                "the proof does not lead to the expected root: the proof, a hash, the index or a size is wrong",
            ),
        }
    }
}

impl std::error::Error for ProofError {}

/// Number of bits needed to write `value`: 0 for 0, 64 when the top bit is set.
fn bit_len(value: u64) -> u32 {
    u64::BITS - value.leading_zeros()
}

/// The path from the leaf at `index` to the root, for `index < size`.
///
/// Below level `inner` (where the paths to `index` and to the last leaf meet), every node on
/// the path has a sibling, on the left when the index has a 1 bit at that level. From `inner`
/// up, the path runs along the right edge of the tree: a node there has a sibling only when
/// it is a right child, which is the case at each 1 bit of the index.
#[derive(Clone, Copy)]
struct InclusionShape {
    inner: u32,
    border: u32,
}

impl InclusionShape {
    fn new(index: u64, size: u64) -> Self {
        let inner = bit_len(index ^ (size - 1));
        let border = index.checked_shr(inner).unwrap_or(0).count_ones();
        Self { inner, border }
    }

    fn len(self) -> usize {
        (self.inner + self.border) as usize
    }
}

/// A consistency proof for `0 < size1 < size2`, seen as the inclusion path of the old tree's
/// last perfect subtree (height `shift`, the trailing zeros of `size1`) in the new tree.
///
/// The path starts at level `shift` rather than at the leaves. Its first hash is that
/// subtree's root (the seed), except when `size1` is a power of two: then the subtree is the
/// whole old tree and the verifier already has its root.
#[derive(Clone, Copy)]
struct ConsistencyShape {
    shift: u32,
    path: InclusionShape,
    seeded: bool,
}

impl ConsistencyShape {
    fn new(size1: u64, size2: u64) -> Self {
        Self {
            shift: size1.trailing_zeros(),
            path: InclusionShape::new(size1 - 1, size2),
            seeded: !size1.is_power_of_two(),
        }
    }

    fn len(self) -> usize {
        // The last old leaf has `shift` trailing one bits while the new tree's last leaf is
        // larger, so the two paths meet above level `shift`: inner > shift.
        usize::from(self.seeded) + (self.path.inner - self.shift + self.path.border) as usize
    }
}

fn check_inclusion_request(index: u64, size: u64) -> Result<InclusionShape, ProofError> {
    if size == 0 {
        Err(ProofError::EmptyTree)
    } else if index >= size {
        Err(ProofError::IndexOutOfRange { index, size })
    } else {
        Ok(InclusionShape::new(index, size))
    }
}

/// `Ok(None)` for equal sizes, which need no proof.
fn check_consistency_request(
    size1: u64,
    size2: u64,
) -> Result<Option<ConsistencyShape>, ProofError> {
    if size1 > size2 {
        Err(ProofError::SizesOutOfOrder { size1, size2 })
    } else if size1 == 0 {
        Err(ProofError::EmptyTree)
    } else if size1 == size2 {
        Ok(None)
    } else {
        Ok(Some(ConsistencyShape::new(size1, size2)))
    }
}

fn check_proof_len(expected: usize, got: usize) -> Result<(), ProofError> {
    if expected == got {
        Ok(())
    } else {
        Err(ProofError::ProofLength { expected, got })
    }
}

/// Checks that the leaf with hash `leaf_hash` is at `index` in the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
    root: &Digest,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf_hash, index, size, proof)?;
    if computed == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks that the tree of `size2` leaves with root `root2` extends the tree of `size1`
/// leaves with root `root1` (RFC 9162 §2.1.4.2).
///
/// Requires `0 < size1 <= size2`; equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Digest],
    root1: &Digest,
    root2: &Digest,
) -> Result<(), ProofError> {
    let Some(shape) = check_consistency_request(size1, size2)? else {
        check_proof_len(0, proof.len())?;
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    };
    check_proof_len(shape.len(), proof.len())?;
    let (seed, path) = match proof.split_first() {
        Some((first, rest)) if shape.seeded => (*first, rest),
        _ => (*root1, proof),
    };
    let last_old_leaf = size1 - 1;
    let mut old = seed;
    let mut new = seed;
    for (sibling, level) in path.iter().zip(shape.shift..) {
        // A left sibling belongs to both trees. A right sibling lies beyond the old tree,
        // whose node at this level is its rightmost and so goes up unchanged.
        if level >= shape.path.inner || (last_old_leaf >> level) & 1 == 1 {
            old = node_hash(sibling, &old);
            new = node_hash(sibling, &new);
        } else {
            new = node_hash(&new, sibling);
        }
    }
    // `&`, not `&&`: both comparisons always run.
    if (old == *root1) & (new == *root2) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

fn digest_from_bytes(what: &'static str, bytes: &[u8]) -> Result<Digest, ProofError> {
    <[u8; Digest::LEN]>::try_from(bytes)
        .map(Digest::from_bytes)
        .map_err(|_| ProofError::HashLength {
            what,
            len: bytes.len(),
        })
}

fn check_element_lengths(proof: &[&[u8]]) -> Result<(), ProofError> {
    proof
        .iter()
        .try_for_each(|element| digest_from_bytes("proof element", element).map(drop))
}

/// Converts the proof once its length is known to be right, so an oversized proof from an
/// untrusted sender never costs an allocation.
fn proof_digests(proof: &[&[u8]]) -> Result<Vec<Digest>, ProofError> {
    proof
        .iter()
        .map(|element| digest_from_bytes("proof element", element))
        .collect()
}

/// [`verify_inclusion`] over untrusted bytes: every hash must be exactly 32 bytes, which is
/// checked before anything else.
pub fn verify_inclusion_bytes(
    leaf_hash: &[u8],
    index: u64,
    size: u64,
    proof: &[&[u8]],
    root: &[u8],
) -> Result<(), ProofError> {
    let leaf_hash = digest_from_bytes("leaf hash", leaf_hash)?;
    let root = digest_from_bytes("root", root)?;
    check_element_lengths(proof)?;
    let shape = check_inclusion_request(index, size)?;
    check_proof_len(shape.len(), proof.len())?;
    verify_inclusion(&leaf_hash, index, size, &proof_digests(proof)?, &root)
}

/// [`verify_consistency`] over untrusted bytes: every hash must be exactly 32 bytes, which is
/// checked before anything else.
pub fn verify_consistency_bytes(
    size1: u64,
    size2: u64,
    proof: &[&[u8]],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    let root1 = digest_from_bytes("first root", root1)?;
    let root2 = digest_from_bytes("second root", root2)?;
    check_element_lengths(proof)?;
    let expected = check_consistency_request(size1, size2)?.map_or(0, ConsistencyShape::len);
    check_proof_len(expected, proof.len())?;
    verify_consistency(size1, size2, &proof_digests(proof)?, &root1, &root2)
}

pub(crate) use self::internal::{
    GenerateError, NodeSource, consistency_proof, inclusion_proof, root_from_inclusion,
    subtree_root,
};

/// Proof generation, and the parts of the verifiers that the fuzz targets check one by one.
///
/// Not part of the documented API: users get proofs from [`AuditLog`](super::AuditLog) and
/// check them with the verifiers above. The items are `pub` only so that
/// `crate::internal::merkle` can re-export them for the fuzz targets.
pub(crate) mod internal {
    use std::fmt;

    use tracehound_codec::Digest;

    use super::{
        ConsistencyShape, InclusionShape, ProofError, check_inclusion_request, check_proof_len,
        empty_root, node_hash,
    };

    /// Number of proof hashes for the leaf at `index` in a tree of `size` leaves, or `None` when
    /// `index >= size`.
    pub fn inclusion_proof_len(index: u64, size: u64) -> Option<usize> {
        (index < size).then(|| InclusionShape::new(index, size).len())
    }

    /// Number of proof hashes between trees of `size1` and `size2` leaves: `None` when
    /// `size1 == 0` or `size1 > size2`, `Some(0)` when the sizes are equal.
    pub fn consistency_proof_len(size1: u64, size2: u64) -> Option<usize> {
        if size1 == 0 || size1 > size2 {
            None
        } else if size1 == size2 {
            Some(0)
        } else {
            Some(ConsistencyShape::new(size1, size2).len())
        }
    }

    /// The root that `proof` leads to from the leaf hash at `index` in a tree of `size` leaves
    /// (RFC 9162 §2.1.3.2), without comparing it to anything.
    ///
    /// Fails when `size` is 0, `index >= size` or the proof does not have exactly
    /// [`inclusion_proof_len`] hashes.
    pub fn root_from_inclusion(
        leaf_hash: &Digest,
        index: u64,
        size: u64,
        proof: &[Digest],
    ) -> Result<Digest, ProofError> {
        let shape = check_inclusion_request(index, size)?;
        check_proof_len(shape.len(), proof.len())?;
        let root = proof
            .iter()
            .zip(0u32..)
            .fold(*leaf_hash, |hash, (sibling, level)| {
                // `level < inner <= 64` whenever the shift is evaluated.
                if level >= shape.inner || (index >> level) & 1 == 1 {
                    node_hash(sibling, &hash)
                } else {
                    node_hash(&hash, sibling)
                }
            });
        Ok(root)
    }

    /// Where proof generation reads the hashes of complete (perfect) subtrees.
    pub trait NodeSource {
        /// Error of the underlying storage.
        type Error;

        /// Hash of the perfect subtree of height `level` (2^level leaves) whose first leaf is
        /// `index << level`.
        ///
        /// Level 0 is the leaf hashes. Only called for subtrees lying wholly inside the tree.
        fn node(&self, level: u32, index: u64) -> Result<Digest, Self::Error>;
    }

    /// Why a proof could not be generated.
    #[derive(Debug)]
    #[non_exhaustive]
    pub enum GenerateError<E> {
        /// The request names no proof: an inclusion proof needs `index < size` (`first` is the
        /// index, `second` the size), a consistency proof `0 < size1 <= size2`.
        Range {
            /// The leaf index, or the first tree size.
            first: u64,
            /// The tree size, or the second tree size.
            second: u64,
        },
        /// The node source failed.
        Source(E),
    }

    impl<E> fmt::Display for GenerateError<E> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Range { first, second } => write!(
                    f,
                    "no proof exists for ({first}, {second}): an inclusion proof needs index < size, a consistency proof needs 0 < size1 <= size2"
                ),
                Self::Source(_) => f.write_str("reading a tree node from storage failed"),
            }
        }
    }

    impl<E: std::error::Error + 'static> std::error::Error for GenerateError<E> {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            match self {
                Self::Range { .. } => None,
                Self::Source(error) => Some(error),
            }
        }
    }

    /// Largest power of two strictly below `width`, where RFC 6962 splits a tree of `width`
    /// leaves. Requires `width >= 2`.
    fn split_width(width: u64) -> u64 {
        1 << (width - 1).ilog2()
    }

    /// Root of leaves `[start, end)` (`end > start`), from complete subtrees only.
    ///
    /// A perfect range aligned on its own size is one [`NodeSource::node`] call; any other range
    /// is split at `start` + the largest power of two below `end - start`, as RFC 6962 does.
    /// Every range that proofs use (the whole tree and the subtrees it splits into) starts at a
    /// multiple of a power of two at least as large as itself, and costs O(log n) node reads. A
    /// range without that alignment has a root no stored node covers: it is still computed
    /// correctly, but may read up to `end - start` nodes. An empty range (`end <= start`) gives
    /// [`empty_root`] without reading anything.
    pub fn subtree_root<S: NodeSource + ?Sized>(
        source: &S,
        start: u64,
        end: u64,
    ) -> Result<Digest, S::Error> {
        let width = end.saturating_sub(start);
        if width == 0 {
            return Ok(empty_root());
        }
        if width.is_power_of_two() && start & (width - 1) == 0 {
            let level = width.trailing_zeros();
            return source.node(level, start >> level);
        }
        // Both halves have a smaller ceil(log2(width)), so the recursion is at most 64 deep.
        let split = start + split_width(width);
        let left = subtree_root(source, start, split)?;
        let right = subtree_root(source, split, end)?;
        Ok(node_hash(&left, &right))
    }

    /// RFC 6962 PATH(index, D\[0:size\]): the inclusion proof of the leaf at `index`.
    ///
    /// Fails with [`GenerateError::Range`] when `index >= size`.
    pub fn inclusion_proof<S: NodeSource + ?Sized>(
        source: &S,
        index: u64,
        size: u64,
    ) -> Result<Vec<Digest>, GenerateError<S::Error>> {
        let Some(len) = inclusion_proof_len(index, size) else {
            return Err(GenerateError::Range {
                first: index,
                second: size,
            });
        };
        let mut proof = Vec::with_capacity(len);
        // Walk down from the root; the RFC lists the siblings from the leaf up.
        let (mut start, mut end) = (0, size);
        while end - start > 1 {
            let split = start + split_width(end - start);
            if index < split {
                proof.push(subtree_root(source, split, end).map_err(GenerateError::Source)?);
                end = split;
            } else {
                proof.push(subtree_root(source, start, split).map_err(GenerateError::Source)?);
                start = split;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// RFC 6962 PROOF(size1, D\[0:size2\]): the consistency proof from the tree of `size1` leaves
    /// to the tree of `size2` leaves.
    ///
    /// Requires `0 < size1 <= size2` ([`GenerateError::Range`] otherwise); equal sizes give an
    /// empty proof.
    pub fn consistency_proof<S: NodeSource + ?Sized>(
        source: &S,
        size1: u64,
        size2: u64,
    ) -> Result<Vec<Digest>, GenerateError<S::Error>> {
        let Some(len) = consistency_proof_len(size1, size2) else {
            return Err(GenerateError::Range {
                first: size1,
                second: size2,
            });
        };
        let mut proof = Vec::with_capacity(len);
        // SUBPROOF walked from the root down. `start < size1 <= end` throughout, and
        // `covers_old_tree` is the RFC's flag b: the range starts at leaf 0, so a range ending at
        // `size1` is the whole old tree, whose root the verifier already has.
        let (mut start, mut end) = (0, size2);
        let mut covers_old_tree = true;
        while size1 < end {
            let split = start + split_width(end - start);
            if size1 <= split {
                proof.push(subtree_root(source, split, end).map_err(GenerateError::Source)?);
                end = split;
            } else {
                proof.push(subtree_root(source, start, split).map_err(GenerateError::Source)?);
                start = split;
                covers_old_tree = false;
            }
        }
        if !covers_old_tree {
            proof.push(subtree_root(source, start, end).map_err(GenerateError::Source)?);
        }
        proof.reverse();
        Ok(proof)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::cell::Cell;
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    use super::internal::{consistency_proof_len, inclusion_proof_len};
    use super::*;

    // ---- RFC 6962 §2.1, written as the RFC states it -------------------------------------

    /// The largest power of two strictly below `n` (n > 1).
    fn rfc_k(n: u64) -> u64 {
        let mut k = 1;
        while k < n - k {
            k *= 2;
        }
        k
    }

    fn mth(leaves: &[Vec<u8>]) -> Digest {
        match leaves {
            [] => Digest::of(b""),
            [leaf] => Digest::of_parts(&[&[0x00], leaf]),
            _ => {
                let k = rfc_k(leaves.len() as u64) as usize;
                let left = mth(&leaves[..k]);
                let right = mth(&leaves[k..]);
                Digest::of_parts(&[&[0x01], left.as_bytes(), right.as_bytes()])
            }
        }
    }

    fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<Digest> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = rfc_k(n as u64) as usize;
        let mut proof;
        if m < k {
            proof = path(m, &leaves[..k]);
            proof.push(mth(&leaves[k..]));
        } else {
            proof = path(m - k, &leaves[k..]);
            proof.push(mth(&leaves[..k]));
        }
        proof
    }

    fn rfc_proof(m: usize, leaves: &[Vec<u8>]) -> Vec<Digest> {
        subproof(m, leaves, true)
    }

    fn subproof(m: usize, leaves: &[Vec<u8>], b: bool) -> Vec<Digest> {
        let n = leaves.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(leaves)] };
        }
        let k = rfc_k(n as u64) as usize;
        let mut proof;
        if m <= k {
            proof = subproof(m, &leaves[..k], b);
            proof.push(mth(&leaves[k..]));
        } else {
            proof = subproof(m - k, &leaves[k..], false);
            proof.push(mth(&leaves[..k]));
        }
        proof
    }

    /// For each hash of PATH(m, D[n]), bottom up: is the sibling on the left? `None` when
    /// there is no such proof. Two requests verify the same proof against the same root
    /// exactly when these agree.
    fn path_sides(m: u64, n: u64) -> Option<Vec<bool>> {
        if m >= n {
            return None;
        }
        let (mut m, mut n) = (m, n);
        let mut top_down = Vec::new();
        while n > 1 {
            let k = rfc_k(n);
            if m < k {
                top_down.push(false);
                n = k;
            } else {
                top_down.push(true);
                m -= k;
                n -= k;
            }
        }
        top_down.reverse();
        Some(top_down)
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Role {
        /// MTH of the old tree's last perfect subtree (SUBPROOF with m == n, b false).
        Seed,
        /// A left sibling of both trees.
        LeftOfBoth,
        /// A right sibling, in the new tree only.
        RightOfNew,
    }

    /// The role of each hash of PROOF(m, D[n]), in proof order; `None` when there is no proof.
    fn proof_roles(m: u64, n: u64) -> Option<Vec<Role>> {
        if m == 0 || m > n {
            return None;
        }
        let (mut m, mut n, mut b) = (m, n, true);
        let mut top_down = Vec::new();
        while m != n {
            let k = rfc_k(n);
            if m <= k {
                top_down.push(Role::RightOfNew);
                n = k;
            } else {
                top_down.push(Role::LeftOfBoth);
                m -= k;
                n -= k;
                b = false;
            }
        }
        if !b {
            top_down.push(Role::Seed);
        }
        top_down.reverse();
        Some(top_down)
    }

    // ---- Node sources ------------------------------------------------------------------

    /// Every complete node of a tree over `leaves`, level by level.
    struct Levels(Vec<Vec<Digest>>);

    impl Levels {
        fn new(leaves: &[Vec<u8>]) -> Self {
            let mut levels = vec![leaves.iter().map(|l| leaf_hash(l)).collect::<Vec<_>>()];
            while levels.last().unwrap().len() > 1 {
                let next = levels
                    .last()
                    .unwrap()
                    .chunks_exact(2)
                    .map(|pair| node_hash(&pair[0], &pair[1]))
                    .collect();
                levels.push(next);
            }
            Self(levels)
        }

        /// The tree of the first `size` leaves.
        fn prefix(&self, size: u64) -> Prefix<'_> {
            Prefix {
                levels: self,
                size,
                reads: Cell::new(0),
            }
        }
    }

    #[derive(Debug, PartialEq)]
    enum SourceError {
        OutsideTree { level: u32, index: u64 },
        Missing,
    }

    impl fmt::Display for SourceError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl std::error::Error for SourceError {}

    /// Checks the contract: only subtrees wholly inside the tree of `size` leaves are read.
    fn check_inside(size: u64, level: u32, index: u64) -> Result<(), SourceError> {
        let fits = size.checked_shr(level).is_some_and(|nodes| index < nodes);
        if fits {
            Ok(())
        } else {
            Err(SourceError::OutsideTree { level, index })
        }
    }

    struct Prefix<'a> {
        levels: &'a Levels,
        size: u64,
        reads: Cell<u64>,
    }

    impl NodeSource for Prefix<'_> {
        type Error = SourceError;

        fn node(&self, level: u32, index: u64) -> Result<Digest, SourceError> {
            check_inside(self.size, level, index)?;
            self.reads.set(self.reads.get() + 1);
            self.levels
                .0
                .get(level as usize)
                .and_then(|nodes| nodes.get(index as usize))
                .copied()
                .ok_or(SourceError::Missing)
        }
    }

    /// A tree of any size up to `u64::MAX` whose leaves are all the same, so the hash of a
    /// perfect subtree depends only on its height.
    struct Uniform {
        perfect: Vec<Digest>,
        size: u64,
        reads: Cell<u64>,
    }

    impl Uniform {
        fn new(size: u64) -> Self {
            let mut perfect = vec![leaf_hash(b"same")];
            for _ in 0..63 {
                let below = *perfect.last().unwrap();
                perfect.push(node_hash(&below, &below));
            }
            Self {
                perfect,
                size,
                reads: Cell::new(0),
            }
        }
    }

    impl NodeSource for Uniform {
        type Error = SourceError;

        fn node(&self, level: u32, index: u64) -> Result<Digest, SourceError> {
            check_inside(self.size, level, index)?;
            self.reads.set(self.reads.get() + 1);
            self.perfect
                .get(level as usize)
                .copied()
                .ok_or(SourceError::Missing)
        }
    }

    const MAX_LEAVES: usize = 300;

    fn leaves() -> &'static [Vec<u8>] {
        static LEAVES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        LEAVES.get_or_init(|| {
            (0..MAX_LEAVES)
                .map(|i| format!("leaf {i}").into_bytes())
                .collect()
        })
    }

    fn levels() -> &'static Levels {
        static LEVELS: OnceLock<Levels> = OnceLock::new();
        LEVELS.get_or_init(|| Levels::new(leaves()))
    }

    fn hex(text: &str) -> Vec<u8> {
        tracehound_test_support::unhex(text).unwrap()
    }

    fn is_length_error(result: &Result<(), ProofError>) -> bool {
        matches!(result, Err(ProofError::ProofLength { .. }))
    }

    fn flip_bit(digest: &Digest, bit: usize) -> Digest {
        let mut bytes = *digest.as_bytes();
        bytes[(bit / 8) % 32] ^= 1 << (bit % 8);
        Digest::from_bytes(bytes)
    }

    // ---- Known answers -------------------------------------------------------------------

    #[test]
    fn known_answers() {
        let inputs = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves: Vec<Vec<u8>> = inputs.iter().map(|h| hex(h)).collect();
        let tree = Levels::new(&leaves);
        assert_eq!(empty_root().to_string(), roots[0]);
        for (size, want) in roots.iter().enumerate() {
            assert_eq!(
                mth(&leaves[..size]).to_string(),
                *want,
                "reference, size {size}"
            );
            let root = subtree_root(&tree.prefix(size as u64), 0, size as u64).unwrap();
            assert_eq!(root.to_string(), *want, "size {size}");
        }
        assert_eq!(
            leaf_hash(b"L123456").to_string(),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
        );
        // node_hash takes digests; the published vector hashes two 4-byte strings.
        assert_eq!(
            Digest::of_parts(&[&[0x01], b"N123", b"N456"]).to_string(),
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
        );
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        assert_eq!(
            node_hash(&a, &b),
            Digest::of_parts(&[&[0x01], a.as_bytes(), b.as_bytes()])
        );
    }

    // ---- transparency-dev vectors ---------------------------------------------------------

    fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                json_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }

    fn base64_field(case: &serde_json::Value, name: &str) -> Vec<u8> {
        STANDARD.decode(case[name].as_str().unwrap()).unwrap()
    }

    fn proof_field(case: &serde_json::Value) -> Vec<Vec<u8>> {
        match &case["proof"] {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|item| STANDARD.decode(item.as_str().unwrap()).unwrap())
                .collect(),
            other => panic!("proof is neither null nor an array: {other}"),
        }
    }

    /// The one vector this module deliberately answers differently: the reference verifier
    /// compares the roots of equal sizes as arbitrary byte strings, while here a 12-byte
    /// "root" is refused before anything else.
    const STRICTER_THAN_REFERENCE: &str = "sizes-are-equal-one-and-proof-is-empty.json";

    #[test]
    fn transparency_dev_vectors() {
        let base = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata/rfc6962"
        ));
        let mut checked = 0;
        for kind in ["inclusion", "consistency"] {
            let mut files = Vec::new();
            json_files(&base.join(kind), &mut files);
            files.sort();
            assert!(files.len() >= 25, "only {} {kind} vectors", files.len());
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                let case: serde_json::Value = serde_json::from_str(&text).unwrap();
                let proof = proof_field(&case);
                let proof: Vec<&[u8]> = proof.iter().map(Vec::as_slice).collect();
                let result = if kind == "inclusion" {
                    verify_inclusion_bytes(
                        &base64_field(&case, "leafHash"),
                        case["leafIdx"].as_u64().unwrap(),
                        case["treeSize"].as_u64().unwrap(),
                        &proof,
                        &base64_field(&case, "root"),
                    )
                } else {
                    verify_consistency_bytes(
                        case["size1"].as_u64().unwrap(),
                        case["size2"].as_u64().unwrap(),
                        &proof,
                        &base64_field(&case, "root1"),
                        &base64_field(&case, "root2"),
                    )
                };
                let want_err = case["wantErr"].as_bool().unwrap();
                let desc = case["desc"].as_str().unwrap();
                if file.ends_with(STRICTER_THAN_REFERENCE) {
                    assert!(!want_err);
                    assert_eq!(
                        result,
                        Err(ProofError::HashLength {
                            what: "first root",
                            len: 12
                        })
                    );
                } else {
                    assert_eq!(
                        result.is_err(),
                        want_err,
                        "{} ({desc}): {result:?}",
                        file.display()
                    );
                }
                checked += 1;
            }
        }
        assert!(checked >= 50, "only {checked} vectors found");
    }

    // ---- Generation against the RFC, verification and mutations --------------------------

    fn check_inclusion(index: u64, size: u64) -> Result<(), TestCaseError> {
        let leaves = &leaves()[..size as usize];
        let source = levels().prefix(size);
        let root = mth(leaves);
        let leaf = leaf_hash(&leaves[index as usize]);
        let proof = inclusion_proof(&source, index, size).unwrap();
        prop_assert_eq!(&proof, &path(index as usize, leaves));
        prop_assert_eq!(Some(proof.len()), inclusion_proof_len(index, size));
        prop_assert_eq!(subtree_root(&source, 0, size).unwrap(), root);
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        let bytes: Vec<&[u8]> = proof.iter().map(|d| d.as_bytes().as_slice()).collect();
        prop_assert_eq!(
            verify_inclusion_bytes(leaf.as_bytes(), index, size, &bytes, root.as_bytes()),
            Ok(())
        );

        let mismatch = Err(ProofError::RootMismatch);
        prop_assert_eq!(
            verify_inclusion(&flip_bit(&leaf, 3), index, size, &proof, &root),
            mismatch.clone()
        );
        prop_assert_eq!(
            verify_inclusion(&leaf, index, size, &proof, &flip_bit(&root, 200)),
            mismatch.clone()
        );
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip_bit(&bad[i], i * 37 + 5);
            prop_assert_eq!(
                verify_inclusion(&leaf, index, size, &bad, &root),
                mismatch.clone()
            );
            let mut shorter = proof.clone();
            shorter.remove(i);
            prop_assert!(is_length_error(&verify_inclusion(
                &leaf, index, size, &shorter, &root
            )));
        }
        for at in [0, proof.len()] {
            let mut longer = proof.clone();
            longer.insert(at, leaf);
            prop_assert!(is_length_error(&verify_inclusion(
                &leaf, index, size, &longer, &root
            )));
        }
        let sides = path_sides(index, size);
        let others = [
            (index ^ 1, size),
            (index + 1, size),
            (index.wrapping_sub(1), size),
            (0, size),
            (size - 1, size),
            (index, size + 1),
            (index, size - 1),
            (index, size * 2),
            (index, size / 2),
            (index, u64::MAX),
            (size, size),
        ];
        for (other_index, other_size) in others {
            if (other_index, other_size) == (index, size) {
                continue;
            }
            let result = verify_inclusion(&leaf, other_index, other_size, &proof, &root);
            prop_assert_eq!(
                result.is_ok(),
                path_sides(other_index, other_size) == sides,
                "index {} size {} as index {} size {}: {:?}",
                index,
                size,
                other_index,
                other_size,
                result
            );
        }
        Ok(())
    }

    fn check_consistency(size1: u64, size2: u64) -> Result<(), TestCaseError> {
        let leaves = &leaves()[..size2 as usize];
        let source = levels().prefix(size2);
        let root1 = mth(&leaves[..size1 as usize]);
        let root2 = mth(leaves);
        let proof = consistency_proof(&source, size1, size2).unwrap();
        prop_assert_eq!(&proof, &rfc_proof(size1 as usize, leaves));
        prop_assert_eq!(Some(proof.len()), consistency_proof_len(size1, size2));
        prop_assert_eq!(
            verify_consistency(size1, size2, &proof, &root1, &root2),
            Ok(())
        );
        let bytes: Vec<&[u8]> = proof.iter().map(|d| d.as_bytes().as_slice()).collect();
        prop_assert_eq!(
            verify_consistency_bytes(size1, size2, &bytes, root1.as_bytes(), root2.as_bytes()),
            Ok(())
        );

        let mismatch = Err(ProofError::RootMismatch);
        prop_assert_eq!(
            verify_consistency(size1, size2, &proof, &flip_bit(&root1, 9), &root2),
            mismatch.clone()
        );
        prop_assert_eq!(
            verify_consistency(size1, size2, &proof, &root1, &flip_bit(&root2, 9)),
            mismatch.clone()
        );
        if size1 < size2 {
            prop_assert_eq!(
                verify_consistency(size1, size2, &proof, &root2, &root1),
                mismatch.clone()
            );
        }
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip_bit(&bad[i], i * 37 + 5);
            prop_assert_eq!(
                verify_consistency(size1, size2, &bad, &root1, &root2),
                mismatch.clone()
            );
            let mut shorter = proof.clone();
            shorter.remove(i);
            prop_assert!(is_length_error(&verify_consistency(
                size1, size2, &shorter, &root1, &root2
            )));
        }
        for at in [0, proof.len()] {
            let mut longer = proof.clone();
            longer.insert(at, root1);
            prop_assert!(is_length_error(&verify_consistency(
                size1, size2, &longer, &root1, &root2
            )));
        }
        let roles = proof_roles(size1, size2);
        let others = [
            (size1 + 1, size2),
            (size1 - 1, size2),
            (size1 ^ 2, size2),
            (size1, size2 + 1),
            (size1, size2 - 1),
            (size1, size2 * 2),
            (size1, size2 / 2),
            (size2, size1),
            (size2, size2),
            (size1, u64::MAX),
        ];
        for (other1, other2) in others {
            if (other1, other2) == (size1, size2) {
                continue;
            }
            let result = verify_consistency(other1, other2, &proof, &root1, &root2);
            prop_assert_eq!(
                result.is_ok(),
                proof_roles(other1, other2) == roles,
                "sizes {} {} as {} {}: {:?}",
                size1,
                size2,
                other1,
                other2,
                result
            );
        }
        Ok(())
    }

    #[test]
    fn every_proof_up_to_64_leaves() {
        for size in 1..=64 {
            for index in 0..size {
                check_inclusion(index, size).unwrap();
            }
            for size1 in 1..=size {
                check_consistency(size1, size).unwrap();
            }
        }
    }

    fn index_and_size() -> impl Strategy<Value = (u64, u64)> {
        (1..=MAX_LEAVES as u64).prop_flat_map(|size| (0..size, Just(size)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn inclusion_matches_the_rfc((index, size) in index_and_size()) {
            check_inclusion(index, size)?;
        }

        #[test]
        fn consistency_matches_the_rfc((size1, size2) in index_and_size()) {
            check_consistency(size1 + 1, size2)?;
        }
    }

    // ---- Huge trees, read counts, errors -------------------------------------------------

    #[test]
    fn proofs_in_huge_trees() {
        let sizes = [
            1,
            2,
            3,
            1 << 20,
            1_000_000,
            (1 << 63) - 1,
            1 << 63,
            (1 << 63) + 1,
            u64::MAX - 2,
            u64::MAX - 1,
            u64::MAX,
        ];
        for size in sizes {
            let source = Uniform::new(size);
            let root = subtree_root(&source, 0, size).unwrap();
            let limit = 2 * u64::from(bit_len(size)) + 1;
            for index in [
                0,
                1,
                size / 2,
                size.wrapping_sub(4),
                size.wrapping_sub(2),
                size - 1,
            ] {
                if index >= size {
                    continue;
                }
                source.reads.set(0);
                let proof = inclusion_proof(&source, index, size).unwrap();
                assert!(source.reads.get() <= limit, "{} reads", source.reads.get());
                assert_eq!(Some(proof.len()), inclusion_proof_len(index, size));
                assert!(proof.len() <= 64);
                let leaf = source.perfect[0];
                assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
            }
            for size1 in [1, 2, 3, size / 2, size.wrapping_sub(2), size - 1, size] {
                if size1 == 0 || size1 > size {
                    continue;
                }
                let root1 = subtree_root(&source, 0, size1).unwrap();
                source.reads.set(0);
                let proof = consistency_proof(&source, size1, size).unwrap();
                assert!(source.reads.get() <= limit, "{} reads", source.reads.get());
                assert_eq!(Some(proof.len()), consistency_proof_len(size1, size));
                assert!(proof.len() <= MAX_PROOF_LEN);
                assert_eq!(
                    verify_consistency(size1, size, &proof, &root1, &root),
                    Ok(())
                );
            }
        }
        assert_eq!(inclusion_proof_len(u64::MAX - 3, u64::MAX), Some(64));
        assert_eq!(
            consistency_proof_len(u64::MAX - 2, u64::MAX),
            Some(MAX_PROOF_LEN)
        );
    }

    #[test]
    fn a_million_leaves_take_few_reads() {
        let size = 1_000_000;
        let source = Uniform::new(size);
        let mut most = 0;
        for index in (0..size).step_by(997).chain([size - 1]) {
            source.reads.set(0);
            inclusion_proof(&source, index, size).unwrap();
            most = most.max(source.reads.get());
        }
        assert!(most <= 40, "{most} reads");
    }

    #[test]
    fn range_and_source_errors() {
        let source = levels().prefix(5);
        assert!(matches!(
            inclusion_proof(&source, 5, 5),
            Err(GenerateError::Range {
                first: 5,
                second: 5
            })
        ));
        assert!(matches!(
            inclusion_proof(&source, 0, 0),
            Err(GenerateError::Range { .. })
        ));
        for (size1, size2) in [(0, 0), (0, 5), (6, 5)] {
            assert!(matches!(
                consistency_proof(&source, size1, size2),
                Err(GenerateError::Range { .. })
            ));
        }
        assert_eq!(consistency_proof(&source, 5, 5).unwrap(), []);
        // Asking for more leaves than the source holds reaches the source's error.
        let error = inclusion_proof(&source, 0, 8).unwrap_err();
        assert!(matches!(
            error,
            GenerateError::Source(SourceError::OutsideTree { .. })
        ));
        assert!(std::error::Error::source(&error).is_some());
        assert!(!error.to_string().is_empty());
        assert_eq!(subtree_root(&source, 3, 3).unwrap(), empty_root());
        assert_eq!(subtree_root(&source, 4, 1).unwrap(), empty_root());
        // An unaligned range is computed as the RFC defines it.
        let tree = levels().prefix(MAX_LEAVES as u64);
        assert_eq!(subtree_root(&tree, 3, 250).unwrap(), mth(&leaves()[3..250]));
    }

    #[test]
    fn verification_errors() {
        let d = Digest::of(b"x");
        assert_eq!(
            verify_inclusion(&d, 0, 0, &[], &d),
            Err(ProofError::EmptyTree)
        );
        assert_eq!(
            verify_inclusion(&d, 3, 3, &[], &d),
            Err(ProofError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert_eq!(
            verify_inclusion(&d, 0, 2, &[], &d),
            Err(ProofError::ProofLength {
                expected: 1,
                got: 0
            })
        );
        assert_eq!(verify_inclusion(&d, 0, 1, &[], &d), Ok(()));
        assert_eq!(
            verify_consistency(0, 0, &[], &d, &d),
            Err(ProofError::EmptyTree)
        );
        assert_eq!(
            verify_consistency(2, 1, &[], &d, &d),
            Err(ProofError::SizesOutOfOrder { size1: 2, size2: 1 })
        );
        assert_eq!(
            verify_consistency(3, 3, &[d], &d, &d),
            Err(ProofError::ProofLength {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            verify_consistency(3, 3, &[], &d, &empty_root()),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(verify_consistency(3, 3, &[], &d, &d), Ok(()));

        let short = [0u8; 31];
        let good = [0u8; 32];
        assert_eq!(
            verify_inclusion_bytes(&short, 0, 0, &[], &[]),
            Err(ProofError::HashLength {
                what: "leaf hash",
                len: 31
            })
        );
        assert_eq!(
            verify_inclusion_bytes(&good, 0, 0, &[], &[]),
            Err(ProofError::HashLength {
                what: "root",
                len: 0
            })
        );
        assert_eq!(
            verify_inclusion_bytes(&good, 0, 0, &[&good, &[1; 33]], &good),
            Err(ProofError::HashLength {
                what: "proof element",
                len: 33
            })
        );
        assert_eq!(
            verify_consistency_bytes(1, 1, &[], &good, &short),
            Err(ProofError::HashLength {
                what: "second root",
                len: 31
            })
        );
        let many = vec![good.as_slice(); 1000];
        assert_eq!(
            verify_consistency_bytes(1, 2, &many, &good, &good),
            Err(ProofError::ProofLength {
                expected: 1,
                got: 1000
            })
        );

        let messages = [
            ProofError::HashLength {
                what: "root",
                len: 3,
            },
            ProofError::IndexOutOfRange { index: 1, size: 1 },
            ProofError::EmptyTree,
            ProofError::SizesOutOfOrder { size1: 2, size2: 1 },
            ProofError::ProofLength {
                expected: 1,
                got: 2,
            },
            ProofError::RootMismatch,
        ]
        .map(|e| e.to_string());
        assert!(messages.iter().all(|m| !m.is_empty()));
        assert!(messages[0].contains("root is 3 bytes"));
    }

    // ---- Never panics ----------------------------------------------------------------------

    fn interesting_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(u64::MAX),
            Just(u64::MAX - 1),
            Just(1 << 63),
            0..300u64,
            any::<u64>(),
        ]
    }

    fn hash_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 32),
            1 => proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn bytes_verifiers_never_panic(
            first in interesting_u64(),
            second in interesting_u64(),
            proof in proptest::collection::vec(hash_bytes(), 0..70),
            a in hash_bytes(),
            b in hash_bytes(),
        ) {
            let proof: Vec<&[u8]> = proof.iter().map(Vec::as_slice).collect();
            let inclusion = verify_inclusion_bytes(&a, first, second, &proof, &b);
            if let Err(ProofError::ProofLength { expected, .. }) = inclusion {
                prop_assert_eq!(Some(expected), inclusion_proof_len(first, second));
            }
            let consistency = verify_consistency_bytes(first, second, &proof, &a, &b);
            if let Err(ProofError::ProofLength { expected, .. }) = consistency {
                prop_assert_eq!(Some(expected), consistency_proof_len(first, second));
            }
        }

        #[test]
        fn typed_verifiers_run_every_length(
            first in interesting_u64(),
            second in interesting_u64(),
            seed in any::<[u8; 32]>(),
        ) {
            // Proofs of exactly the right length, so the hashing loops run in full.
            let element = |i: usize| Digest::of_parts(&[&seed, &i.to_be_bytes()]);
            let d = Digest::from_bytes(seed);
            if let Some(len) = inclusion_proof_len(first, second) {
                prop_assert!(len <= 64);
                let proof: Vec<Digest> = (0..len).map(element).collect();
                prop_assert!(root_from_inclusion(&d, first, second, &proof).is_ok());
            }
            if let Some(len) = consistency_proof_len(first, second) {
                prop_assert!(len <= MAX_PROOF_LEN);
                let proof: Vec<Digest> = (0..len).map(element).collect();
                prop_assert!(!is_length_error(&verify_consistency(first, second, &proof, &d, &d)));
            }
        }
    }
}

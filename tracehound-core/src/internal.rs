//! Not a stable API. These items exist for the fuzz targets (and tests) and may change or
//! disappear in any release, without notice; use [`crate::audit`] instead.

/// RFC 6962 proof generation over stored subtree hashes, and the pieces of the proof
/// verifiers, which the fuzz targets check one by one against the RFCs.
///
/// ```
/// use tracehound::Digest;
/// use tracehound::audit::merkle;
/// use tracehound::internal::merkle::{
///     NodeSource, consistency_proof, inclusion_proof, subtree_root,
/// };
///
/// /// Three leaves and the one complete pair above the first two.
/// struct Levels(Vec<Vec<Digest>>);
///
/// impl NodeSource for Levels {
///     type Error = std::io::Error;
///     fn node(&self, level: u32, index: u64) -> Result<Digest, Self::Error> {
///         let nodes = self.0.get(level as usize);
///         let node = nodes.and_then(|n| n.get(usize::try_from(index).ok()?));
///         node.copied().ok_or_else(|| std::io::Error::other("node not stored"))
///     }
/// }
///
/// let leaves: Vec<Digest> = [b"a", b"b", b"c"].iter().map(|l| merkle::leaf_hash(*l)).collect();
/// let pair = merkle::node_hash(&leaves[0], &leaves[1]);
/// let tree = Levels(vec![leaves.clone(), vec![pair]]);
///
/// let root = subtree_root(&tree, 0, 3)?;
/// let proof = inclusion_proof(&tree, 2, 3)?;
/// assert_eq!(proof, [pair]);
/// merkle::verify_inclusion(&leaves[2], 2, 3, &proof, &root)?;
///
/// let old_root = subtree_root(&tree, 0, 2)?;
/// let proof = consistency_proof(&tree, 2, 3)?;
/// merkle::verify_consistency(2, 3, &proof, &old_root, &root)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod merkle {
    pub use crate::audit::merkle::internal::{
        GenerateError, NodeSource, consistency_proof, consistency_proof_len, inclusion_proof,
        inclusion_proof_len, root_from_inclusion, subtree_root,
    };
}

//! Fixtures shared by the fuzz targets: a fixed signing key, an in-memory Merkle tree, and
//! reference implementations written the way RFC 6962 and RFC 9162 state them, to compare
//! the library's fast code against.

#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::sync::LazyLock;

use tracehound::audit::merkle::node_hash;
use tracehound::audit::{NoteSigner, VerifierKey};
use tracehound::internal::merkle::NodeSource;
use tracehound_codec::Digest;

/// The deployment name of the logs the targets build; the key name is
/// `<deployment>/tracehound`.
pub const DEPLOYMENT: &str = "fuzz.example";

/// A signer key generated once for these targets. It is test material: it signs nothing
/// outside this directory.
pub const SKEY: &str =
    "PRIVATE+KEY+fuzz.example/tracehound+626f919f+AaIa3oXRYPxg+lnmnmeKlC7xRZvOCIu1Cy24qC5r2V2w";

/// The verifier key of [`SKEY`].
pub const VKEY: &str =
    "fuzz.example/tracehound+626f919f+Ab6u0Bc7tqjGkLK8uXDycvwIovdoQJ8LyOroThS90pk8";

/// The signer of [`SKEY`] and the one trusted key, its verifier key.
#[derive(Debug)]
pub struct Keys {
    /// Signs with [`SKEY`].
    pub signer: NoteSigner,
    /// Holds only the verifier key of [`SKEY`].
    pub trusted: [VerifierKey; 1],
}

/// The fixed keys, parsed once per process.
pub fn keys() -> &'static Keys {
    static KEYS: LazyLock<Keys> = LazyLock::new(|| {
        let signer = NoteSigner::from_skey(SKEY).expect("the fixed signer key parses");
        let trusted: VerifierKey = VKEY.parse().expect("the fixed verifier key parses");
        assert_eq!(
            signer.verifier_key(),
            trusted,
            "SKEY and VKEY are one key pair"
        );
        Keys {
            signer,
            trusted: [trusted],
        }
    });
    &KEYS
}

/// Every perfect subtree hash of a tree, level by level: level 0 holds the leaf hashes.
#[derive(Debug, Clone)]
pub struct MemoryTree {
    levels: Vec<Vec<Digest>>,
}

impl MemoryTree {
    /// The tree over `leaf_hashes`.
    pub fn new(leaf_hashes: Vec<Digest>) -> Self {
        let mut levels = vec![leaf_hashes];
        while let Some(below) = levels.last().filter(|level| level.len() >= 2) {
            let above = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        MemoryTree { levels }
    }

    /// The leaf hashes.
    pub fn leaves(&self) -> &[Digest] {
        &self.levels[0]
    }

    /// The hashes of each level, lowest first: what `nodes-NN.bin` holds.
    pub fn levels(&self) -> &[Vec<Digest>] {
        &self.levels
    }
}

impl NodeSource for MemoryTree {
    type Error = Infallible;

    fn node(&self, level: u32, index: u64) -> Result<Digest, Infallible> {
        let node = self
            .levels
            .get(level as usize)
            .and_then(|nodes| nodes.get(usize::try_from(index).ok()?));
        Ok(*node.unwrap_or_else(|| {
            panic!("the library asked for node ({level}, {index}), outside the tree")
        }))
    }
}

/// RFC 6962 §2.1 MTH, by direct recursion.
pub fn reference_root(leaf_hashes: &[Digest]) -> Digest {
    match leaf_hashes {
        [] => Digest::of(b""),
        [leaf] => *leaf,
        _ => {
            let mut k = 1;
            while k < leaf_hashes.len() - k {
                k *= 2;
            }
            node_hash(
                &reference_root(&leaf_hashes[..k]),
                &reference_root(&leaf_hashes[k..]),
            )
        }
    }
}

/// Right-shifts both values until `first` is odd or zero (RFC 9162 §2.1.3.2 step 4.b).
fn shift_while_even(first: &mut u64, second: &mut u64) {
    while *first & 1 == 0 && *first != 0 {
        *first >>= 1;
        *second >>= 1;
    }
}

/// RFC 9162 §2.1.3.2, step by step.
pub fn reference_verify_inclusion(
    leaf_hash: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
    root: &Digest,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            shift_while_even(&mut fn_, &mut sn);
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2, step by step, with the library's policy for the cases the RFC leaves
/// to the caller: an empty first tree is rejected, and equal sizes need an empty proof and
/// equal roots.
pub fn reference_verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Digest],
    root1: &Digest,
    root2: &Digest,
) -> bool {
    if size1 == 0 || size1 > size2 {
        return false;
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            shift_while_even(&mut fn_, &mut sn);
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *root1 && sr == *root2 && sn == 0
}

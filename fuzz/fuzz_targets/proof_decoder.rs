//! Merkle proof verification over untrusted sizes, indices and hash bytes, and proof
//! generation over real trees.
//!
//! - The byte-slice verifiers never panic, reject any hash that is not 32 bytes before
//!   anything else, and accept exactly what the RFC 9162 reference verifiers accept.
//! - Over a real tree of up to 300 leaves: roots match RFC 6962's recursive definition,
//!   generated inclusion and consistency proofs verify, the verdict on any other index or
//!   sizes matches the reference, and one flipped bit in a leaf hash, proof or root, or
//!   one hash too many or too few, makes verification fail.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tracehound::audit::merkle::{self, ProofError};
use tracehound::internal::merkle::{
    GenerateError, consistency_proof, consistency_proof_len, inclusion_proof, inclusion_proof_len,
    root_from_inclusion, subtree_root,
};
use tracehound_codec::Digest;
use tracehound_fuzz::{
    MemoryTree, reference_root, reference_verify_consistency, reference_verify_inclusion,
};

/// Most leaves of a generated tree.
const MAX_LEAVES: u16 = 300;

#[derive(Debug, Arbitrary)]
struct Input {
    /// The leaf index, or the first tree size of a consistency proof.
    index: u64,
    size: u64,
    leaf_hash: Vec<u8>,
    root: Vec<u8>,
    second_root: Vec<u8>,
    proof: Vec<Vec<u8>>,
    /// The same kind of request with every hash 32 bytes long, to reach the hashing.
    hashes: Hashes,
    tree: Option<TreeCase>,
}

#[derive(Debug, Arbitrary)]
struct Hashes {
    index: u64,
    size: u64,
    leaf_hash: [u8; 32],
    root: [u8; 32],
    second_root: [u8; 32],
    proof: Vec<[u8; 32]>,
}

#[derive(Debug, Arbitrary)]
struct TreeCase {
    leaves: u16,
    seed: u8,
    size: u16,
    index: u16,
    old_size: u16,
    /// Another index and sizes to try the generated proofs with.
    other_index: u64,
    other_size: u64,
    other_old_size: u64,
    flip_at: u16,
    flip_bit: u8,
}

fuzz_target!(|input: Input| {
    untrusted_bytes(&input);
    untrusted_hashes(&input.hashes);
    if let Some(tree) = &input.tree {
        real_tree(tree);
    }
});

fn untrusted_bytes(input: &Input) {
    let proof: Vec<&[u8]> = input.proof.iter().map(Vec::as_slice).collect();
    let wrong_length = |hashes: &[&[u8]]| hashes.iter().any(|hash| hash.len() != Digest::LEN);

    let inclusion = merkle::verify_inclusion_bytes(
        &input.leaf_hash,
        input.index,
        input.size,
        &proof,
        &input.root,
    );
    if wrong_length(&[&input.leaf_hash, &input.root]) || wrong_length(&proof) {
        assert!(matches!(inclusion, Err(ProofError::HashLength { .. })));
    } else {
        let proof = digests(&proof);
        assert_eq!(
            inclusion.is_ok(),
            reference_verify_inclusion(
                &digest(&input.leaf_hash),
                input.index,
                input.size,
                &proof,
                &digest(&input.root)
            )
        );
    }

    let consistency = merkle::verify_consistency_bytes(
        input.index,
        input.size,
        &proof,
        &input.root,
        &input.second_root,
    );
    if wrong_length(&[&input.root, &input.second_root]) || wrong_length(&proof) {
        assert!(matches!(consistency, Err(ProofError::HashLength { .. })));
    } else {
        let proof = digests(&proof);
        assert_eq!(
            consistency.is_ok(),
            reference_verify_consistency(
                input.index,
                input.size,
                &proof,
                &digest(&input.root),
                &digest(&input.second_root)
            )
        );
    }
}

fn untrusted_hashes(input: &Hashes) {
    let leaf_hash = Digest::from_bytes(input.leaf_hash);
    let root = Digest::from_bytes(input.root);
    let second_root = Digest::from_bytes(input.second_root);
    let proof: Vec<Digest> = input
        .proof
        .iter()
        .copied()
        .map(Digest::from_bytes)
        .collect();
    let (index, size) = (input.index, input.size);

    let inclusion = merkle::verify_inclusion(&leaf_hash, index, size, &proof, &root);
    check_inclusion_verdict(&inclusion, index, size, proof.len());
    assert_eq!(
        inclusion.is_ok(),
        reference_verify_inclusion(&leaf_hash, index, size, &proof, &root)
    );
    if let Ok(computed) = root_from_inclusion(&leaf_hash, index, size, &proof) {
        assert_eq!(computed == root, inclusion.is_ok());
    }

    let consistency = merkle::verify_consistency(index, size, &proof, &root, &second_root);
    check_consistency_verdict(&consistency, index, size, proof.len());
    assert_eq!(
        consistency.is_ok(),
        reference_verify_consistency(index, size, &proof, &root, &second_root)
    );
}

/// A rejection names the right reason: range first, then proof length.
fn check_inclusion_verdict(verdict: &Result<(), ProofError>, index: u64, size: u64, len: usize) {
    match inclusion_proof_len(index, size) {
        None => assert!(matches!(
            verdict,
            Err(ProofError::IndexOutOfRange { .. } | ProofError::EmptyTree)
        )),
        Some(expected) if expected != len => {
            assert_eq!(
                verdict,
                &Err(ProofError::ProofLength { expected, got: len })
            );
        }
        Some(_) => assert!(matches!(verdict, Ok(()) | Err(ProofError::RootMismatch))),
    }
}

fn check_consistency_verdict(verdict: &Result<(), ProofError>, size1: u64, size2: u64, len: usize) {
    match consistency_proof_len(size1, size2) {
        None => assert!(matches!(
            verdict,
            Err(ProofError::EmptyTree | ProofError::SizesOutOfOrder { .. })
        )),
        Some(expected) if expected != len => {
            assert_eq!(
                verdict,
                &Err(ProofError::ProofLength { expected, got: len })
            );
        }
        Some(_) => assert!(matches!(verdict, Ok(()) | Err(ProofError::RootMismatch))),
    }
}

fn real_tree(case: &TreeCase) {
    let leaves = 1 + case.leaves % MAX_LEAVES;
    let tree = MemoryTree::new(
        (0..leaves)
            .map(|i| {
                let [hi, lo] = i.to_be_bytes();
                merkle::leaf_hash(&[case.seed, hi, lo])
            })
            .collect(),
    );
    let size = 1 + u64::from(case.size % leaves);
    let index = u64::from(case.index) % size;
    let old_size = 1 + u64::from(case.old_size) % size;
    let root_of = |size: u64| subtree_root(&tree, 0, size).expect("in the tree");
    let root = root_of(size);
    let old_root = root_of(old_size);
    assert_eq!(root, reference_root(&tree.leaves()[..size as usize]));
    assert_eq!(
        old_root,
        reference_root(&tree.leaves()[..old_size as usize])
    );
    let leaf = tree.leaves()[index as usize];

    let proof = inclusion_proof(&tree, index, size).expect("index < size");
    assert_eq!(Some(proof.len()), inclusion_proof_len(index, size));
    assert_eq!(
        merkle::verify_inclusion(&leaf, index, size, &proof, &root),
        Ok(())
    );
    assert!(reference_verify_inclusion(
        &leaf, index, size, &proof, &root
    ));
    let proof_bytes: Vec<&[u8]> = proof.iter().map(Digest::as_bytes).map(|h| &h[..]).collect();
    assert_eq!(
        merkle::verify_inclusion_bytes(leaf.as_bytes(), index, size, &proof_bytes, root.as_bytes()),
        Ok(())
    );
    for (other_index, other_size) in [
        (case.other_index, size),
        (index, case.other_size),
        (case.other_index, case.other_size),
    ] {
        assert_eq!(
            merkle::verify_inclusion(&leaf, other_index, other_size, &proof, &root).is_ok(),
            reference_verify_inclusion(&leaf, other_index, other_size, &proof, &root),
            "index {other_index}, size {other_size}"
        );
    }
    let [mut leaf_bytes, mut root_bytes] = [leaf, root].map(|hash| *hash.as_bytes());
    let mut path = proof
        .iter()
        .map(|hash| *hash.as_bytes())
        .collect::<Vec<_>>();
    flip_one_bit(case, &mut [&mut leaf_bytes, &mut root_bytes], &mut path);
    assert!(
        merkle::verify_inclusion(
            &Digest::from_bytes(leaf_bytes),
            index,
            size,
            &path.into_iter().map(Digest::from_bytes).collect::<Vec<_>>(),
            &Digest::from_bytes(root_bytes),
        )
        .is_err()
    );
    assert_wrong_lengths_fail(&proof, |proof| {
        merkle::verify_inclusion(&leaf, index, size, proof, &root)
    });

    let proof = consistency_proof(&tree, old_size, size).expect("0 < old size <= size");
    assert_eq!(Some(proof.len()), consistency_proof_len(old_size, size));
    assert_eq!(
        merkle::verify_consistency(old_size, size, &proof, &old_root, &root),
        Ok(())
    );
    assert!(reference_verify_consistency(
        old_size, size, &proof, &old_root, &root
    ));
    for (other_old, other_size) in [
        (case.other_old_size, size),
        (old_size, case.other_size),
        (case.other_old_size, case.other_size),
    ] {
        assert_eq!(
            merkle::verify_consistency(other_old, other_size, &proof, &old_root, &root).is_ok(),
            reference_verify_consistency(other_old, other_size, &proof, &old_root, &root),
            "sizes {other_old} and {other_size}"
        );
    }
    let [mut old_bytes, mut root_bytes] = [old_root, root].map(|hash| *hash.as_bytes());
    let mut path = proof
        .iter()
        .map(|hash| *hash.as_bytes())
        .collect::<Vec<_>>();
    flip_one_bit(case, &mut [&mut old_bytes, &mut root_bytes], &mut path);
    assert!(
        merkle::verify_consistency(
            old_size,
            size,
            &path.into_iter().map(Digest::from_bytes).collect::<Vec<_>>(),
            &Digest::from_bytes(old_bytes),
            &Digest::from_bytes(root_bytes),
        )
        .is_err()
    );
    assert_wrong_lengths_fail(&proof, |proof| {
        merkle::verify_consistency(old_size, size, proof, &old_root, &root)
    });

    assert!(matches!(
        inclusion_proof(&tree, size, size),
        Err(GenerateError::Range { .. })
    ));
    assert!(matches!(
        consistency_proof(&tree, 0, size),
        Err(GenerateError::Range { .. })
    ));
    if old_size < size {
        assert!(matches!(
            consistency_proof(&tree, size, old_size),
            Err(GenerateError::Range { .. })
        ));
    }
}

/// Flips one bit, chosen by the case, among the two named hashes and the proof.
fn flip_one_bit(case: &TreeCase, hashes: &mut [&mut [u8; 32]; 2], path: &mut [[u8; 32]]) {
    let total = (hashes.len() + path.len()) * Digest::LEN;
    let at = usize::from(case.flip_at) % total;
    let (hash, byte) = (at / Digest::LEN, at % Digest::LEN);
    let target = match hashes.get_mut(hash) {
        Some(named) => &mut named[byte],
        None => &mut path[hash - hashes.len()][byte],
    };
    *target ^= 1 << (case.flip_bit % 8);
}

/// One hash more or one fewer than a valid proof fails on its length.
fn assert_wrong_lengths_fail(
    proof: &[Digest],
    verify: impl Fn(&[Digest]) -> Result<(), ProofError>,
) {
    let mut longer = proof.to_vec();
    longer.push(Digest::of(b"extra"));
    assert!(matches!(
        verify(&longer),
        Err(ProofError::ProofLength { .. })
    ));
    if let Some((_, shorter)) = proof.split_last() {
        assert!(matches!(
            verify(shorter),
            Err(ProofError::ProofLength { .. })
        ));
    }
}

/// A hash known to be 32 bytes long.
fn digest(bytes: &[u8]) -> Digest {
    Digest::from_bytes(bytes.try_into().expect("checked to be 32 bytes"))
}

fn digests(hashes: &[&[u8]]) -> Vec<Digest> {
    hashes.iter().map(|hash| digest(hash)).collect()
}

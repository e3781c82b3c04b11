//! Untrusted text into every C2SP parser of the audit log: signed notes, checkpoints, tlog
//! proofs, evidence bundles, verifier keys and signer keys.
//!
//! Beyond "never panics":
//! - the parsers are strict, so whatever one accepts prints back byte for byte;
//! - any text the fixed signer signs opens again, and a checkpoint text round-trips through
//!   sign and open; one changed byte anywhere in the signed note makes it fail to open;
//! - an input starting with 0x01 is used as the record of a real evidence bundle (tree,
//!   inclusion proof, signed checkpoint): the bundle verifies exactly when the record decodes,
//!   and one changed byte anywhere in the bundle makes it fail.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracehound::audit::merkle::leaf_hash;
use tracehound::audit::note::{self, Checkpoint, NoteSigner, SignedCheckpoint, TlogProof};
use tracehound::audit::{AuditRecord, EvidenceProof, VerifierKey};
use tracehound::internal::merkle::{inclusion_proof, subtree_root};
use tracehound_codec::Digest;
use tracehound_fuzz::{DEPLOYMENT, Keys, MemoryTree, keys};

/// Largest record a tlog proof's `extra` line may carry.
const MAX_EXTRA_BYTES: usize = 16 * 1024;
/// Texts up to this size sign: a signed note is at most 64 KiB, signature line included.
const MAX_SIGNED_TEXT: usize = 60 * 1024;

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    let text = String::from_utf8_lossy(data);
    parse_everything(&text, &keys.trusted);
    sign_and_open(&text, keys);
    if data.first() == Some(&1) && data.len() <= MAX_EXTRA_BYTES {
        evidence_bundle(data, keys);
    }
});

/// Runs every parser on `text` and checks what they accept.
fn parse_everything(text: &str, trusted: &[VerifierKey]) {
    if let Ok(checkpoint) = Checkpoint::parse_text(text) {
        assert_eq!(
            checkpoint.to_text(),
            text,
            "checkpoint text is not canonical"
        );
    }
    let opened = note::open_note(text, trusted);
    if let Ok((body, names)) = &opened {
        assert!(text.starts_with(body));
        assert_eq!(names, &[trusted[0].name()]);
    }
    match SignedCheckpoint::open(text, trusted) {
        Ok(signed) => {
            assert_eq!(signed.note(), text);
            let (body, _) = opened.expect("a signed checkpoint is a signed note");
            assert_eq!(
                Checkpoint::parse_text(body).as_ref(),
                Ok(signed.checkpoint())
            );
        }
        Err(_) => {
            if let Ok((body, _)) = opened {
                assert!(Checkpoint::parse_text(body).is_err());
            }
        }
    }
    if let Ok(proof) = TlogProof::parse(text) {
        assert_eq!(proof.to_text(), text, "tlog proof is not canonical");
    }
    if let Ok(bundle) = EvidenceProof::parse(text) {
        assert_eq!(bundle.to_text(), text, "evidence bundle is not canonical");
        if let Ok(verified) = bundle.verify(trusted, None) {
            assert_eq!(verified.index, bundle.index);
            assert_eq!(verified.record.seq, bundle.index);
        }
    }
    if let Ok(key) = text.parse::<VerifierKey>() {
        assert_eq!(key.to_string(), text, "verifier key is not canonical");
    }
    if let Ok(signer) = NoteSigner::from_skey(text) {
        assert_eq!(
            signer.to_skey().as_str(),
            text,
            "signer key is not canonical"
        );
    }
}

/// Signs `text` (control characters dropped, a final newline added) with the fixed signer
/// and checks that the note opens, round-trips as a checkpoint when it is one, and stops
/// opening after one changed byte.
fn sign_and_open(text: &str, keys: &Keys) {
    let mut body: String = text.chars().filter(|&c| c == '\n' || c >= ' ').collect();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    if body.len() > MAX_SIGNED_TEXT {
        return;
    }
    let note = keys
        .signer
        .sign(&body)
        .expect("a short text ending in a newline, without control characters, signs");
    assert_eq!(
        note::open_note(&note, &keys.trusted),
        Ok((body.as_str(), vec![keys.signer.name().to_owned()]))
    );
    parse_everything(&note, &keys.trusted);

    match Checkpoint::parse_text(&body) {
        Ok(checkpoint) => {
            let opened = SignedCheckpoint::open(&note, &keys.trusted)
                .expect("a signed checkpoint text opens");
            assert_eq!(opened.checkpoint(), &checkpoint);
            let signed = SignedCheckpoint::sign(checkpoint, &keys.signer)
                .expect("a parsed checkpoint signs again");
            // Ed25519 signatures are deterministic: one checkpoint, one note.
            assert_eq!(signed, opened);
        }
        Err(_) => assert!(SignedCheckpoint::open(&note, &keys.trusted).is_err()),
    }

    let choice = Digest::of(body.as_bytes());
    let [hi, lo, byte, ..] = *choice.as_bytes();
    if let Some(changed) = change_one_byte(&note, u16::from_be_bytes([hi, lo]), byte) {
        assert!(
            note::open_note(&changed, &keys.trusted).is_err(),
            "a note with one changed byte still opens: {changed:?}"
        );
    }
}

/// `text` with its byte at `at` (modulo its length) replaced by `byte`, or by `byte ^ 1` if
/// that is the byte already there; `None` when the result is not UTF-8.
fn change_one_byte(text: &str, at: u16, byte: u8) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    let at = usize::from(at) % bytes.len();
    bytes[at] = if bytes[at] == byte { byte ^ 1 } else { byte };
    String::from_utf8(bytes).ok()
}

/// Builds a real evidence bundle whose record is `data` (sequence number set to its index)
/// and checks that it verifies exactly when the record decodes.
fn evidence_bundle(data: &[u8], keys: &Keys) {
    let choice = Digest::of(data);
    let choice = choice.as_bytes();
    let size = 1 + u64::from(choice[0] % 24);
    let index = u64::from(choice[1]) % size;
    let epoch = 1 + u64::from(choice[2]);

    let mut record = data.to_vec();
    if let Some(seq) = record.get_mut(2..10) {
        seq.copy_from_slice(&index.to_be_bytes());
    }
    let leaves = (0..size)
        .map(|i| {
            if i == index {
                leaf_hash(&record)
            } else {
                leaf_hash(&i.to_be_bytes())
            }
        })
        .collect();
    let tree = MemoryTree::new(leaves);
    let root = subtree_root(&tree, 0, size).expect("the tree holds every node");
    let proof = inclusion_proof(&tree, index, size).expect("index < size");
    let origin = format!("{DEPLOYMENT}/tracehound/{epoch}");
    let checkpoint = Checkpoint::new(origin.clone(), size, root);
    let signed = SignedCheckpoint::sign(checkpoint.clone(), &keys.signer)
        .expect("a checkpoint with a plain origin signs");
    let text = TlogProof {
        extra: Some(record.clone()),
        index,
        proof,
        checkpoint: signed.note().to_owned(),
    }
    .to_text();

    let bundle = EvidenceProof::parse(&text).expect("a well-formed bundle parses");
    let decoded = AuditRecord::decode(&record);
    match bundle.verify(&keys.trusted, None) {
        Ok(verified) => {
            assert_eq!(Ok(&verified.record), decoded.as_ref());
            assert_eq!(verified.index, index);
            assert_eq!(verified.checkpoint, checkpoint);
        }
        Err(error) => assert!(
            decoded.is_err(),
            "a valid bundle of a valid record fails: {error:?}"
        ),
    }
    assert_eq!(
        bundle.verify(&keys.trusted, Some(&origin)).is_ok(),
        decoded.is_ok()
    );
    let other_origin = format!("{DEPLOYMENT}/tracehound/{}", epoch + 1);
    assert!(bundle.verify(&keys.trusted, Some(&other_origin)).is_err());

    let at = u16::from_be_bytes([choice[3], choice[4]]);
    if let Some(changed) = change_one_byte(&text, at, choice[5]) {
        let verified = EvidenceProof::parse(&changed).and_then(|b| b.verify(&keys.trusted, None));
        assert!(
            verified.is_err(),
            "a bundle with one changed byte still verifies: {changed:?}"
        );
    }
}

//! What the demo does with the audit log once the workload is through: a checkpoint signed
//! on demand, and an evidence proof exported, verified as a third party would, and tampered
//! with.

use std::cmp::Reverse;
use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};
use tracehound::audit::{
    EvidenceProof, SignedCheckpoint, VerifiedEvidence, VerifierKey, VerifyError,
};
use tracehound::{CanonicalForm, Digest, Receipt, Signature, Tracehound, canonicalize};

use super::call::{Call, call};
use super::workload::{ATTACKS, Request};

/// The evidence proof bundle the demo exports, in the audit directory.
const PROOF_FILE: &str = "evidence-proof.tlog-proof";

/// Lines of the bundle shown: the header, the record and the leaf index.
const PROOF_LINES_SHOWN: usize = 3;

/// What the demo did with the audit log after the workload.
pub(super) struct AuditDemo {
    /// The log's directory.
    pub(super) dir: PathBuf,
    /// Whether the directory is removed when the demo ends.
    pub(super) temporary: bool,
    /// The checkpoint signed on demand.
    pub(super) checkpoint: SignedCheckpoint,
    /// The verifier key, as text.
    pub(super) vkey: String,
    /// The evidence proof exported and checked.
    pub(super) proof: ProofDemo,
}

/// An evidence proof bundle: exported, verified with only the public key, and tampered with.
pub(super) struct ProofDemo {
    /// The evidence proven.
    pub(super) receipt: Receipt,
    /// The bundle's file.
    pub(super) path: PathBuf,
    /// Its size, bytes.
    pub(super) bytes: usize,
    /// Its first lines.
    pub(super) head: Vec<String>,
    /// What verifying the file proved.
    pub(super) verified: VerifiedEvidence,
    /// Whether the evidence bytes were checked against the record.
    pub(super) evidence_checked: bool,
    /// Why the tampered copy did not verify.
    pub(super) tampered: VerifyError,
}

/// Signs a checkpoint on demand, then exports an evidence proof bundle for the
/// highest-severity evidence held and checks it as a third party would: from the file, with
/// only the verifier key's text.
pub(super) fn demonstrate_audit(
    tracehound: &Tracehound,
    requests: &[Request],
    host: &str,
    dir: PathBuf,
    temporary: bool,
) -> Result<AuditDemo, String> {
    let checkpoint = tracehound
        .checkpoint()
        .map_err(|e| format!("cannot sign a checkpoint: {e}"))?;
    let vkey = tracehound.verifier_key().to_string();
    // `list` is highest priority first; the first of the highest severity is kept.
    let receipt = tracehound
        .list()
        .into_iter()
        .min_by_key(|receipt| Reverse(receipt.severity()))
        .ok_or("the quarantine holds no evidence to prove")?;
    let bundle = tracehound
        .prove(receipt.signature())
        .map_err(|e| format!("cannot prove {}: {e}", receipt.signature()))?;
    let path = dir.join(PROOF_FILE);
    fs::write(&path, bundle.to_text())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;

    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key: VerifierKey = vkey
        .parse()
        .map_err(|e| format!("the verifier key does not parse: {e}"))?;
    let keys = [key];
    let verified = EvidenceProof::parse(&text)
        .and_then(|proof| proof.verify(&keys, None))
        .map_err(|e| format!("the evidence proof does not verify: {e}"))?;
    let form = tracehound.config().canonical_form;
    let evidence_checked = match flagged_evidence(requests, host, receipt.signature(), form) {
        Some(canonical) => {
            verified
                .check_evidence(&canonical)
                .map_err(|e| format!("the evidence proof verifies but {e}"))?;
            true
        }
        None => false,
    };
    let tampered_text = tamper(&text).ok_or("the evidence proof has no record line")?;
    let tampered = match EvidenceProof::parse(&tampered_text).and_then(|p| p.verify(&keys, None)) {
        Ok(_) => return Err("a tampered evidence proof verified".into()),
        Err(e) => e,
    };
    Ok(AuditDemo {
        dir,
        temporary,
        checkpoint,
        vkey,
        proof: ProofDemo {
            receipt,
            path,
            bytes: text.len(),
            head: text
                .lines()
                .take(PROOF_LINES_SHOWN)
                .map(str::to_owned)
                .collect(),
            verified,
            evidence_checked,
            tampered,
        },
    })
}

/// The canonical bytes of the attack whose evidence `signature` names.
///
/// The quarantine never hands payloads out; a host that checks evidence against a proof
/// keeps its own copy of what it flagged, which the demo re-creates from its workload.
fn flagged_evidence(
    requests: &[Request],
    host: &str,
    signature: &Signature,
    form: CanonicalForm,
) -> Option<Vec<u8>> {
    let category = signature.category().as_str();
    requests
        .iter()
        .filter(|r| {
            matches!(r, Request::Attack { pattern, .. } if ATTACKS[*pattern].category == category)
        })
        .map(|r| described(&call(*r), host))
        .find_map(|evidence| {
            let canonical = canonicalize(&evidence, form).ok()?;
            (Digest::of(&canonical) == *signature.digest()).then_some(canonical)
        })
}

/// The evidence the HTTP policy writes for `call` as the demo's client sends it to `host`:
/// method, path, query, the headers it keeps (of those the client sends: `user-agent`,
/// `host` and, with a body, `content-type`) and the parsed body. The attacks carry nothing
/// the policy redacts.
fn described(call: &Call, host: &str) -> Value {
    let (path, query) = match call.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (call.target.as_str(), None),
    };
    let mut evidence = json!({"method": call.method(), "path": path});
    let mut headers = json!({"user-agent": call.user_agent, "host": host});
    if let Some(query) = query {
        evidence["query"] = Value::from(query);
    }
    if let Some(body) = &call.body {
        headers["content-type"] = Value::from("application/json");
        evidence["body"] = serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(body).into_owned()));
    }
    evidence["headers"] = headers;
    evidence
}

/// `text` with one character of its record (`extra`) line replaced by another base64
/// character, so the bundle still parses and the change reaches verification.
fn tamper(text: &str) -> Option<String> {
    const RECORD_LINE: &str = "\nextra ";
    // Well inside the line, where every base64 character carries record bits.
    const OFFSET: usize = 8;
    let start = text.find(RECORD_LINE)? + RECORD_LINE.len();
    let line = text[start..].split('\n').next()?;
    let old = *line.as_bytes().get(OFFSET)?;
    if !old.is_ascii_alphanumeric() {
        return None;
    }
    let at = start + OFFSET;
    let mut tampered = text.to_owned();
    tampered.replace_range(at..=at, if old == b'A' { "B" } else { "A" });
    Some(tampered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_changes_one_base64_character_of_the_record_line() {
        let text = "c2sp.org/tlog-proof@v1\nextra AAECAwQFBgcICQoL\nindex 3\n\nnote\n";
        let tampered = tamper(text).unwrap_or_default();
        assert_eq!(tampered.len(), text.len());
        let changed: Vec<usize> = (0..text.len())
            .filter(|&i| text.as_bytes()[i] != tampered.as_bytes()[i])
            .collect();
        assert_eq!(changed, [text.find("extra ").unwrap_or_default() + 6 + 8]);
        assert_eq!(tamper("c2sp.org/tlog-proof@v1\nindex 3\n"), None);
        assert_eq!(
            tamper("c2sp.org/tlog-proof@v1\nextra AQ==\nindex 3\n"),
            None
        );
    }

    #[test]
    fn the_evidence_of_a_query_attack_is_its_request_as_described() {
        let call = call(Request::Attack {
            pattern: 1,
            variant: 4,
            source: 0,
        });
        assert_eq!(call.method(), "GET");
        assert_eq!(call.path(), "/search");
        let evidence = described(&call, "127.0.0.1:8080");
        assert_eq!(evidence["path"], "/search");
        assert_eq!(evidence["headers"]["host"], "127.0.0.1:8080");
        assert!(evidence.get("body").is_none());
        let query = evidence["query"].as_str().unwrap_or_default();
        assert!(query.starts_with("q=%3Cscript%3E") && query.ends_with("&v=4"));
    }
}

//! `tracehound cold`: list, read, verify and erase evidence in a cold store, a local
//! directory (`file:///path`) or a bucket (`s3://`, `gs://`, `az://`), without the service
//! that wrote it.

use std::fmt::Write as _;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tracehound::clock::Timestamp;
use tracehound::cold::{
    ColdEvidence, ColdReader, ColdStore, IndexEntry, Layout, ObjectKey, ReadError, Selection,
    destination_digest,
};
use tracehound::{Category, Digest, Severity, Signature, SourceKey};
use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};

use crate::verify_proof::utc;

/// The store and the deployment's objects in it.
#[derive(Debug, Args)]
pub(crate) struct Store {
    /// The store: `file:///abs/dir`, `s3://bucket/root`, `gs://bucket/root`,
    /// `az://container/root`. Credentials come from the usual environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `GOOGLE_SERVICE_ACCOUNT`,
    /// `AZURE_STORAGE_ACCOUNT_NAME`, …).
    url: String,
    /// An S3-compatible endpoint (Cloudflare R2, a local test server); path-style.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The bucket's region.
    #[arg(long)]
    region: Option<String>,
    /// Allow plain HTTP to the endpoint (test servers only).
    #[arg(long)]
    allow_http: bool,
    /// The key prefix the service writes under (`cold.prefix`).
    #[arg(long, default_value = "evidence")]
    prefix: String,
    /// The deployment (`cold.deployment`, or else `audit.deployment`).
    #[arg(long, default_value = "localhost")]
    deployment: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Which evidence, by the facts object keys hold.
#[derive(Debug, Args)]
pub(crate) struct Filter {
    /// Captured at or after this time: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or Unix ms.
    #[arg(long, value_parser = parse_time)]
    from: Option<Timestamp>,
    /// Captured before this time (same forms).
    #[arg(long, value_parser = parse_time)]
    until: Option<Timestamp>,
    /// Of this category.
    #[arg(long)]
    category: Option<Category>,
    /// At least this severe: low, medium, high, critical.
    #[arg(long)]
    min_severity: Option<Severity>,
    /// From this source key (an address, a client id).
    #[arg(long)]
    source: Option<String>,
    /// This piece of evidence (`category:sha256`).
    #[arg(long)]
    signature: Option<Signature>,
}

impl Filter {
    fn selection(&self) -> Selection {
        let mut selection = Selection::default();
        selection.from = self.from;
        selection.until = self.until;
        selection.category = self.category.clone();
        selection.min_severity = self.min_severity;
        selection.source = self.source.as_deref().map(SourceKey::new);
        selection.signature = self.signature.clone();
        selection
    }

    fn is_empty(&self) -> bool {
        self.selection() == Selection::default()
    }
}

/// `tracehound cold …`.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List evidence from object keys alone: nothing is downloaded.
    List {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        filter: Filter,
    },
    /// Read one piece of evidence, verified: its metadata, and its payload only with
    /// `--show-payload`.
    Get {
        #[command(flatten)]
        store: Store,
        /// A signature (`category:sha256`: its newest capture) or an object key.
        target: String,
        /// Print the canonical payload too.
        #[arg(long)]
        show_payload: bool,
    },
    /// Verify every object of the deployment: manifests, envelopes, hashes, sizes, and
    /// the exported checkpoints (their signatures too, with `--key`); with `--log`, against
    /// the audit log's records too. Names each damaged object by its key; exits 1 if any is
    /// damaged.
    Verify {
        #[command(flatten)]
        store: Store,
        /// The log's verifier key (`tracehound vkey`): every exported checkpoint must carry
        /// a valid signature by it, for the origin and size its key names.
        #[arg(long, value_name = "VKEY")]
        key: Option<tracehound::audit::VerifierKey>,
        /// The service's audit log directory (`audit.dir`), read-only (a running service
        /// may keep writing it): every object must be the one an `evacuated` record names,
        /// every evacuation the log records must be in the store unless an `erased` record
        /// follows it, and each manifest's audit leaf must record that evidence entering
        /// the quarantine.
        #[arg(long, value_name = "DIR")]
        log: Option<std::path::PathBuf>,
    },
    /// Delete the selected evidence (envelopes and manifests) from the store. Exits 1 if
    /// the store refused to delete any object (a retention lock).
    ///
    /// This erases the store only; `Tracehound::erase` in the service also erases the
    /// quarantine and the spool and records an `erased` audit leaf per piece.
    Erase {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        filter: Filter,
    },
}

/// What a run printed, and whether it found something wrong.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) text: String,
    pub(crate) failed: bool,
}

pub(crate) fn run(command: &Command) -> Result<Report, String> {
    match command {
        Command::List { store, filter } => list(store, filter),
        Command::Get {
            store,
            target,
            show_payload,
        } => get(store, target, *show_payload),
        Command::Verify { store, key, log } => verify(store, key.as_ref(), log.as_deref()),
        Command::Erase { store, filter } => erase(store, filter),
    }
}

fn open(store: &Store) -> Result<ColdReader, String> {
    let mut config = StoreConfig::new(store.url.as_str());
    config.endpoint.clone_from(&store.endpoint);
    config.region.clone_from(&store.region);
    config.allow_http = store.allow_http;
    let opened = ObjectStoreCold::open(&config).map_err(|e| format!("{}: {e}", store.url))?;
    let layout = Layout::new(&store.prefix, &store.deployment)
        .map_err(|e| format!("--prefix/--deployment: {e}"))?;
    Ok(ColdReader::new(
        Arc::new(opened) as Arc<dyn ColdStore>,
        layout,
    ))
}

fn entry_json(entry: &IndexEntry) -> Value {
    json!({
        "signature": entry.signature.to_string(),
        "severity": entry.severity.as_str(),
        "captured": utc(entry.captured),
        "captured_ms": entry.captured.as_unix_millis(),
        "size": entry.size,
        "source_tag": entry.source_tag,
        "object": entry.evidence_key.as_str(),
        "manifest": entry.manifest_key.as_str(),
    })
}

fn list(store: &Store, filter: &Filter) -> Result<Report, String> {
    let reader = open(store)?;
    let entries = reader
        .list(&filter.selection())
        .map_err(|e| format!("listing {}: {e}", store.url))?;
    let text = if store.json {
        let entries: Vec<Value> = entries.iter().map(entry_json).collect();
        format!("{}\n", json!({ "evidence": entries }))
    } else {
        let mut text = String::new();
        for e in &entries {
            let _ = writeln!(
                text,
                "{}  {:<8}  {:>8} B  {}  {}",
                utc(e.captured),
                e.severity.as_str(),
                e.size,
                e.signature,
                e.evidence_key
            );
        }
        let _ = writeln!(text, "{} piece(s) of evidence", entries.len());
        text
    };
    Ok(Report {
        text,
        failed: false,
    })
}

fn get(store: &Store, target: &str, show_payload: bool) -> Result<Report, String> {
    let reader = open(store)?;
    let entry = if let Ok(signature) = target.parse::<Signature>() {
        let entries = reader
            .list(&Selection::signature(signature))
            .map_err(|e| format!("listing {}: {e}", store.url))?;
        entries.last().cloned()
    } else {
        let key = ObjectKey::new(target).map_err(|e| format!("{target}: {e}"))?;
        let entries = reader
            .list(&Selection::default())
            .map_err(|e| format!("listing {}: {e}", store.url))?;
        entries
            .into_iter()
            .rev()
            .find(|e| e.evidence_key == key || e.manifest_key == key)
    };
    let entry = entry.ok_or_else(|| format!("{target}: no such evidence in {}", store.url))?;
    let read = reader.read(&entry).map_err(|e| e.to_string())?;
    let m = &read.manifest;
    let text = if store.json {
        let mut value = entry_json(&entry);
        value["source"] = json!(m.source);
        value["audit_leaf"] = json!(m.audit_leaf);
        value["envelope_hash"] = json!(m.envelope_hash);
        value["envelope_size"] = json!(m.envelope_size);
        value["cause"] = json!(m.cause);
        value["verified"] = json!(true);
        if show_payload {
            value["payload"] = json!(String::from_utf8_lossy(&read.payload));
        }
        format!("{value}\n")
    } else {
        let mut text = String::new();
        let leaf = m
            .audit_leaf
            .map_or_else(|| "-".to_owned(), |[e, i]| format!("epoch {e}, index {i}"));
        for (name, value) in [
            ("signature", m.signature.clone()),
            ("severity", m.severity.clone()),
            ("captured", utc(entry.captured)),
            ("size", format!("{} bytes", m.size)),
            ("source", m.source.clone()),
            ("audit leaf", leaf),
            ("cause", m.cause.clone()),
            ("object", m.object.clone()),
            (
                "envelope",
                format!("{} ({} bytes)", m.envelope_hash, m.envelope_size),
            ),
            ("verified", "envelope, hashes and manifest agree".to_owned()),
        ] {
            let _ = writeln!(text, "{name:>10}: {value}");
        }
        if show_payload {
            let _ = writeln!(text, "{}", String::from_utf8_lossy(&read.payload));
        }
        text
    };
    Ok(Report {
        text,
        failed: false,
    })
}

fn verify(
    store: &Store,
    key: Option<&tracehound::audit::VerifierKey>,
    log: Option<&std::path::Path>,
) -> Result<Report, String> {
    let reader = open(store)?;
    let listing = |prefix: &str| {
        let mut keys = Vec::new();
        reader
            .store()
            .list(prefix, &mut |key, _| keys.push(key.clone()))
            .map(|()| keys)
            .map_err(|e| format!("listing {}: {e}", store.url))
    };
    let root = reader.layout().root().to_owned();
    let all = listing(&format!("{root}/"))?;
    let index_prefix = format!("{}/", reader.layout().index_prefix());
    let checkpoint_prefix = format!("{root}/checkpoints/");
    let mut damaged: Vec<(String, String)> = Vec::new();
    let mut described = std::collections::BTreeSet::new();
    let mut verified = Vec::new();
    let mut ok = 0usize;
    let mut checkpoints = 0usize;
    let vkey = key;
    for key in &all {
        let text = key.as_str();
        if text.starts_with(&index_prefix) {
            let Some(entry) = reader.layout().parse_manifest_key(key) else {
                damaged.push((text.to_owned(), "not a manifest key".into()));
                continue;
            };
            described.insert(entry.evidence_key.clone());
            match reader.read(&entry) {
                Ok(mut evidence) => {
                    ok += 1;
                    // Only the facts are compared with the log: let the payload go.
                    evidence.payload = Vec::new();
                    verified.push(evidence);
                }
                Err(error) => damaged.push(describe(error)),
            }
        } else if text.starts_with(&checkpoint_prefix) {
            checkpoints += 1;
            let note = reader
                .store()
                .get(key)
                .map_err(|e| format!("reading {text}: {e}"))?
                .unwrap_or_default();
            let named = text[checkpoint_prefix.len()..].split_once('/');
            if let Err(reason) = check_checkpoint(&note, named, &store.deployment, vkey) {
                damaged.push((text.to_owned(), reason));
            }
        }
    }
    // Envelopes no manifest describes: left by a crash between the two writes, or planted.
    for key in all.iter().filter(|k| k.as_str().ends_with(".thcs")) {
        if described.contains(key) {
            continue;
        }
        match reader.get_object(key) {
            Ok(_) => damaged.push((key.to_string(), "no manifest describes it".into())),
            Err(error) => damaged.push(describe(error)),
        }
    }
    let against_log = log.map(|dir| {
        let checked = against_the_log(dir, &verified);
        damaged.extend(checked.damaged.iter().cloned());
        (dir, checked)
    });
    let failed = !damaged.is_empty();
    let text = if store.json {
        let damaged: Vec<Value> = damaged
            .iter()
            .map(|(key, reason)| json!({"key": key, "reason": reason}))
            .collect();
        let mut report = json!({"verified": ok, "checkpoints": checkpoints, "damaged": damaged});
        if let Some((dir, checked)) = &against_log {
            report["log"] = json!({
                "dir": dir.display().to_string(),
                "epochs": checked.epochs,
                "records": checked.records,
                "evacuations": checked.evacuations,
                "erasures": checked.erasures,
            });
        }
        format!("{report}\n")
    } else {
        let mut text = String::new();
        for (key, reason) in &damaged {
            let _ = writeln!(text, "DAMAGED  {key}: {reason}");
        }
        if let Some((dir, checked)) = &against_log {
            let _ = writeln!(
                text,
                "audit log {}: {} record(s) in {} epoch(s), {} evacuation(s), {} erasure(s)",
                dir.display(),
                checked.records,
                checked.epochs.len(),
                checked.evacuations,
                checked.erasures
            );
        }
        let _ = writeln!(
            text,
            "{ok} piece(s) of evidence verified, {checkpoints} checkpoint(s), {} damaged",
            damaged.len()
        );
        text
    };
    Ok(Report { text, failed })
}

/// Checks an exported checkpoint: a signed note whose checkpoint names the origin
/// `<deployment>/tracehound/<epoch>` and the size its key gives, signed by `key` if given.
fn check_checkpoint(
    note: &[u8],
    named: Option<(&str, &str)>,
    deployment: &str,
    key: Option<&tracehound::audit::VerifierKey>,
) -> Result<(), String> {
    use tracehound::audit::note::{Checkpoint, SignedCheckpoint};
    let text = std::str::from_utf8(note).map_err(|_| "not UTF-8 text".to_owned())?;
    let checkpoint = match key {
        Some(key) => SignedCheckpoint::open(text, std::slice::from_ref(key))
            .map_err(|e| format!("the signature does not verify: {e}"))?
            .checkpoint()
            .clone(),
        None => {
            let body = text
                .split_once("\n\n")
                .map(|(body, _)| format!("{body}\n"))
                .ok_or("not a signed note")?;
            Checkpoint::parse_text(&body).map_err(|e| format!("not a checkpoint: {e}"))?
        }
    };
    let (epoch, size) = named.ok_or("not a checkpoint key")?;
    if checkpoint.origin != format!("{deployment}/tracehound/{epoch}")
        || checkpoint.size.to_string() != size
    {
        return Err(format!(
            "holds the checkpoint of {} at size {}, not the one its key names",
            checkpoint.origin, checkpoint.size
        ));
    }
    Ok(())
}

/// What the audit log said about the verified objects.
#[derive(Debug, Default)]
struct AgainstLog {
    epochs: Vec<u64>,
    records: u64,
    evacuations: u64,
    erasures: u64,
    /// (object key or signature, what is wrong), in the order found.
    damaged: Vec<(String, String)>,
}

/// Checks the verified objects against the log in `dir`, read-only: each envelope must be
/// what an `evacuated` record commits to (its destination digest), each evacuation the log
/// records must be in the store unless an `erased` record of the evidence follows it, and
/// the leaf each manifest names must be the evidence's `quarantined` record.
fn against_the_log(dir: &std::path::Path, verified: &[ColdEvidence]) -> AgainstLog {
    use std::collections::HashMap;
    use tracehound::AuditLeaf;
    use tracehound::audit::{RecordBody, RecordType};

    let mut checked = AgainstLog::default();
    // Envelope objects by destination digest: their key, and whether a record names them.
    let mut objects: HashMap<Digest, (&ObjectKey, bool)> = HashMap::new();
    // Manifests by the leaf they name, each with what is wrong with that leaf (at first:
    // that it was not found).
    type Named<'a> = Vec<(&'a ColdEvidence, Option<String>)>;
    let mut leaves: HashMap<(u64, u64), Named<'_>> = HashMap::new();
    for evidence in verified {
        let key = &evidence.entry.evidence_key;
        if let Ok(hash) = evidence.manifest.envelope_hash.parse::<Digest>() {
            objects.insert(destination_digest(key, &hash), (key, false));
        }
        if let Some([epoch, index]) = evidence.manifest.audit_leaf {
            let unseen = Some(format!(
                "its manifest names audit leaf {epoch}/{index}, which the log does not hold"
            ));
            leaves
                .entry((epoch, index))
                .or_default()
                .push((evidence, unseen));
        }
    }
    // Evacuations of objects the store does not hold, and the last erasure of each piece.
    let mut absent: HashMap<Signature, AuditLeaf> = HashMap::new();
    let mut erased: HashMap<Signature, AuditLeaf> = HashMap::new();
    let scanned = tracehound::audit::scan(dir, |leaf, record| {
        let RecordBody::Evidence {
            signature,
            size,
            severity,
            digest,
            ..
        } = &record.body
        else {
            return Ok(());
        };
        match record.kind {
            RecordType::Evacuated => {
                checked.evacuations += 1;
                match digest.as_ref().and_then(|d| objects.get_mut(d)) {
                    Some((_, recorded)) => *recorded = true,
                    None => {
                        absent.insert(signature.clone(), leaf);
                    }
                }
            }
            RecordType::Erased => {
                checked.erasures += 1;
                erased.insert(signature.clone(), leaf);
            }
            _ => {}
        }
        if let Some(manifests) = leaves.get_mut(&(leaf.epoch, leaf.index)) {
            for (evidence, problem) in manifests {
                let m = &evidence.manifest;
                let same = record.kind == RecordType::Quarantined
                    && signature.to_string() == m.signature
                    && *size == m.size
                    && severity.as_str() == m.severity;
                *problem = (!same).then(|| {
                    format!(
                        "its manifest names audit leaf {}/{}, which records {} of other evidence                          or other facts",
                        leaf.epoch,
                        leaf.index,
                        record.kind.as_str()
                    )
                });
            }
        }
        Ok(())
    });
    match scanned {
        Ok(scanned) => {
            checked.epochs = scanned.epochs;
            checked.records = scanned.records;
        }
        Err(error) => {
            checked
                .damaged
                .push((dir.display().to_string(), format!("the audit log: {error}")));
            return checked;
        }
    }
    let mut unrecorded: Vec<&ObjectKey> = objects
        .values()
        .filter(|(_, recorded)| !recorded)
        .map(|(key, _)| *key)
        .collect();
    unrecorded.sort();
    for key in unrecorded {
        checked.damaged.push((
            key.to_string(),
            "no evacuated record in the audit log names this object with these bytes (a crash \
             between the write and its record leaves one; so does an object put there by \
             someone else)"
                .into(),
        ));
    }
    let mut absent: Vec<(Signature, AuditLeaf)> = absent.into_iter().collect();
    absent.sort_by_key(|(signature, leaf)| (*leaf, signature.to_string()));
    for (signature, leaf) in absent {
        if erased.get(&signature).is_some_and(|at| *at > leaf) {
            continue;
        }
        checked.damaged.push((
            signature.to_string(),
            format!(
                "the audit log records its evacuation (leaf {}/{}) and no erasure after it, \
                 but the store does not hold that object",
                leaf.epoch, leaf.index
            ),
        ));
    }
    let mut wrong: Vec<(String, String)> = leaves
        .into_values()
        .flatten()
        .filter_map(|(evidence, problem)| {
            problem.map(|problem| (evidence.entry.manifest_key.to_string(), problem))
        })
        .collect();
    wrong.sort();
    checked.damaged.extend(wrong);
    checked
}

fn describe(error: ReadError) -> (String, String) {
    match error {
        ReadError::Damaged { key, reason } => (key.to_string(), reason),
        ReadError::Missing { key } => (key.to_string(), "missing".into()),
        other => ("-".into(), other.to_string()),
    }
}

fn erase(store: &Store, filter: &Filter) -> Result<Report, String> {
    if filter.is_empty() {
        return Err(
            "erase needs a selection: --signature, --source, --from/--until, --category or \
             --min-severity"
                .into(),
        );
    }
    let reader = open(store)?;
    let erased = reader
        .erase(&filter.selection())
        .map_err(|e| format!("erasing in {}: {e}", store.url))?;
    let failed = erased.iter().any(|e| !e.refused.is_empty());
    let text = if store.json {
        let items: Vec<Value> = erased
            .iter()
            .map(|e| {
                json!({
                    "signature": e.signature.to_string(),
                    "deleted": e.deleted.iter().map(ObjectKey::as_str).collect::<Vec<_>>(),
                    "refused": e.refused.iter().map(|(k, m)| json!({"key": k.as_str(), "reason": m})).collect::<Vec<_>>(),
                })
            })
            .collect();
        format!("{}\n", json!({ "erased": items }))
    } else {
        let mut text = String::new();
        for e in &erased {
            for key in &e.deleted {
                let _ = writeln!(text, "deleted  {key}");
            }
            for (key, reason) in &e.refused {
                let _ = writeln!(text, "REFUSED  {key}: {reason}");
            }
        }
        let _ = writeln!(text, "{} piece(s) of evidence erased", erased.len());
        text
    };
    Ok(Report { text, failed })
}

/// A time on the command line: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ`, or Unix milliseconds.
fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(Timestamp::from_unix_millis(ms));
    }
    let bad = || format!("`{text}` is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix ms");
    let (date, clock) = match text.split_once('T') {
        Some((date, clock)) => (date, Some(clock.strip_suffix('Z').ok_or_else(bad)?)),
        None => (text, None),
    };
    let numbers = |s: &str, n: usize| -> Option<Vec<u32>> {
        let parts: Vec<u32> = s
            .split(['-', ':'])
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        (parts.len() == n).then_some(parts)
    };
    let ymd = numbers(date, 3).ok_or_else(bad)?;
    let hms = clock
        .map_or(Some(vec![0, 0, 0]), |c| numbers(c, 3))
        .ok_or_else(bad)?;
    let valid = (1..=12).contains(&ymd[1])
        && (1..=31).contains(&ymd[2])
        && ymd[0] >= 1970
        && hms[0] < 24
        && hms[1] < 60
        && hms[2] < 60;
    if !valid {
        return Err(bad());
    }
    let days = days_from_civil(i64::from(ymd[0]), ymd[1], ymd[2]);
    let midnight = Timestamp::from_unix_millis(days as u64 * 86_400_000);
    if midnight.utc_date() != (i64::from(ymd[0]), ymd[1], ymd[2]) {
        return Err(bad()); // 2026-02-30
    }
    let seconds = days as u64 * 86_400 + u64::from(hms[0] * 3_600 + hms[1] * 60 + hms[2]);
    Ok(Timestamp::from_unix_millis(seconds * 1_000))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years from March 1).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_print() {
        for (text, ms) in [
            ("1970-01-01", 0),
            ("2000-02-29", 951_782_400_000),
            ("2026-12-08T01:02:03Z", 1_796_691_723_000),
            ("1796691723000", 1_796_691_723_000),
        ] {
            assert_eq!(
                parse_time(text),
                Ok(Timestamp::from_unix_millis(ms)),
                "{text}"
            );
        }
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-12-08T25:00:00Z",
            "12/08/2026",
            "yesterday",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        // What `list` and `get` print parses back to the same time.
        for text in ["2026-12-08T01:02:03Z", "2000-02-29T23:59:59Z"] {
            assert_eq!(parse_time(text).map(utc).as_deref(), Ok(text));
        }
    }
}

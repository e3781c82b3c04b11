//! `tracehound verify-proof`: checks an evidence proof bundle offline, with only the log's
//! public verifier key.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use tracehound::MAX_PAYLOAD_BYTES;
use tracehound::audit::note::NoteError;
use tracehound::audit::{EvidenceProof, RecordBody, VerifiedEvidence, VerifierKey, VerifyError};
use tracehound::clock::Timestamp;

/// Largest bundle read. The library refuses bundles over 128 KiB with a precise message;
/// this bound only keeps a wrong file (a disk image, `/dev/zero`) from filling memory.
const MAX_BUNDLE_BYTES: usize = 1024 * 1024;

/// Signer key strings start with this; they hold a secret key and are never echoed.
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";

#[derive(Debug, Args)]
pub(crate) struct VerifyProofArgs {
    /// The bundle (`.tlog-proof` text, as `EvidenceProof::to_text` writes it); `-` reads it
    /// from standard input.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// A trusted verifier key, `<name>+<key ID>+<base64>`. Repeat for several keys: the
    /// checkpoint needs a valid signature from at least one, and none that fails from any.
    #[arg(long = "key", value_name = "VKEY", required = true)]
    keys: Vec<String>,
    /// The checkpoint origin required, to pin one epoch. Default: any epoch of a trusted
    /// key, `<key name>/<epoch>`.
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// A file with the evidence's canonical bytes, to check that they are the evidence the
    /// record is about.
    #[arg(long, value_name = "FILE")]
    evidence: Option<PathBuf>,
}

/// Why the command did not print a summary.
#[derive(Debug)]
pub(crate) enum Error {
    /// A file could not be read. Exit 2.
    Read {
        /// What the file holds: "proof bundle" or "evidence".
        what: &'static str,
        /// The file, or `-` for standard input.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// A file is larger than anything it could validly hold. Exit 2.
    TooLarge {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The largest size read, bytes.
        limit: usize,
    },
    /// A `--key` value is not a verifier key. Exit 2.
    BadKey {
        /// Which `--key`, from 1.
        position: usize,
        /// Why.
        problem: NoteError,
    },
    /// A `--key` value is a signer (private) key. Exit 2.
    SignerKey {
        /// Which `--key`, from 1.
        position: usize,
    },
    /// The bundle is not UTF-8 text, so it cannot be a proof bundle. Exit 1.
    NotText,
    /// The bundle does not parse or does not verify. Exit 1.
    Rejected(VerifyError),
    /// The bundle verifies but the evidence given is not what its record is about. Exit 1.
    EvidenceMismatch(VerifyError),
}

impl Error {
    /// 1 when the bundle or evidence does not hold, 2 when nothing could be checked.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::NotText | Error::Rejected(_) | Error::EvidenceMismatch(_) => 1,
            Error::Read { .. }
            | Error::TooLarge { .. }
            | Error::BadKey { .. }
            | Error::SignerKey { .. } => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { what, path, error } => {
                write!(f, "cannot read the {what} {}: {error}", path.display())
            }
            Error::TooLarge { what, path, limit } => write!(
                f,
                "the {what} {} is larger than {limit} bytes, more than any valid one",
                path.display()
            ),
            Error::BadKey { position, problem } => {
                write!(
                    f,
                    "--key number {position} is not a verifier key: {problem}"
                )
            }
            Error::SignerKey { position } => write!(
                f,
                "--key number {position} is a signer key, which holds the secret key; \
                 pass the verifier key (the log's public key) instead, and keep the signer key secret"
            ),
            Error::NotText => f.write_str("proof does not verify: the bundle is not UTF-8 text"),
            Error::Rejected(e) => write!(f, "proof does not verify: {e}"),
            Error::EvidenceMismatch(e) => write!(f, "the proof verifies but {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { error, .. } => Some(error),
            Error::BadKey { problem, .. } => Some(problem),
            Error::Rejected(e) | Error::EvidenceMismatch(e) => Some(e),
            Error::TooLarge { .. } | Error::SignerKey { .. } | Error::NotText => None,
        }
    }
}

/// Verifies the bundle; on success returns the summary to print.
pub(crate) fn run(args: &VerifyProofArgs) -> Result<String, Error> {
    let keys = parse_keys(&args.keys)?;
    let bundle = read_input("proof bundle", &args.file, MAX_BUNDLE_BYTES)?;
    // Read before verifying, so that an unreadable evidence file is a usage error whatever
    // the bundle holds.
    let evidence = match &args.evidence {
        Some(path) => Some(read_input("evidence", path, MAX_PAYLOAD_BYTES)?),
        None => None,
    };
    let text = std::str::from_utf8(&bundle).map_err(|_| Error::NotText)?;
    let verified = EvidenceProof::parse(text)
        .and_then(|proof| proof.verify(&keys, args.origin.as_deref()))
        .map_err(Error::Rejected)?;
    if let Some(evidence) = &evidence {
        verified
            .check_evidence(evidence)
            .map_err(Error::EvidenceMismatch)?;
    }
    Ok(summary(&verified, evidence.is_some()))
}

fn parse_keys(keys: &[String]) -> Result<Vec<VerifierKey>, Error> {
    keys.iter()
        .enumerate()
        .map(|(at, key)| {
            let position = at + 1;
            if key.starts_with(SIGNER_KEY_PREFIX) {
                return Err(Error::SignerKey { position });
            }
            key.parse()
                .map_err(|problem| Error::BadKey { position, problem })
        })
        .collect()
}

/// Reads at most `limit` bytes of `path` (`-` is standard input).
fn read_input(what: &'static str, path: &Path, limit: usize) -> Result<Vec<u8>, Error> {
    let read_error = |error| Error::Read {
        what,
        path: path.to_path_buf(),
        error,
    };
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from a larger one.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let read = if path.as_os_str() == "-" {
        io::stdin().lock().take(cap).read_to_end(&mut bytes)
    } else {
        File::open(path).and_then(|file| file.take(cap).read_to_end(&mut bytes))
    };
    read.map_err(read_error)?;
    if bytes.len() > limit {
        return Err(Error::TooLarge {
            what,
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// What the bundle proves, one fact a line. Records hold hashes and sizes, never payloads.
fn summary(verified: &VerifiedEvidence, evidence_checked: bool) -> String {
    let record = &verified.record;
    let checkpoint = &verified.checkpoint;
    let mut out = String::from("proof verifies\n");
    // Writing to a String cannot fail.
    let mut line = |label: &str, value: fmt::Arguments<'_>| {
        let _ = writeln!(out, "  {label:<12}{value}");
    };
    line("record", format_args!("{}", record.kind));
    match &record.body {
        RecordBody::Evidence {
            signature,
            size,
            severity,
            reason,
            digest,
        } => {
            line("signature", format_args!("{signature}"));
            line("severity", format_args!("{severity}"));
            line("size", format_args!("{size} bytes"));
            if *reason != 0 {
                line("reason", format_args!("{reason}"));
            }
            if let Some(digest) = digest {
                line("digest", format_args!("{digest}"));
            }
        }
        RecordBody::Gap { lost, first, last } => {
            line("lost", format_args!("{lost} records"));
            line("first lost", format_args!("{}", utc(*first)));
            line("last lost", format_args!("{}", utc(*last)));
        }
        RecordBody::EpochStart { previous_epoch, .. } => {
            line("previous", format_args!("epoch {previous_epoch}"));
        }
        _ => {}
    }
    line(
        "claimed at",
        format_args!("{} (the host's clock, not verified)", utc(record.time)),
    );
    line("leaf index", format_args!("{}", verified.index));
    line("origin", format_args!("{}", checkpoint.origin));
    line("tree size", format_args!("{}", checkpoint.size));
    line(
        "root",
        format_args!("{}", STANDARD.encode(checkpoint.root.as_bytes())),
    );
    if evidence_checked {
        line(
            "evidence",
            format_args!("matches the record's evidence hash"),
        );
    }
    out
}

/// RFC 3339 UTC text of a timestamp, with nanoseconds when there are any.
pub(crate) fn utc(time: Timestamp) -> String {
    const NANOS_PER_SECOND: u64 = 1_000_000_000;
    const SECONDS_PER_DAY: u64 = 86_400;
    let nanos = time.as_unix_nanos();
    let seconds = nanos / NANOS_PER_SECOND;
    let fraction = nanos % NANOS_PER_SECOND;
    let (year, month, day) = time.utc_date();
    let of_day = seconds % SECONDS_PER_DAY;
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    if fraction != 0 {
        let _ = write!(text, ".{fraction:09}");
    }
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn times_print_as_rfc_3339_utc() {
        let at = |nanos| utc(Timestamp::from_unix_nanos(nanos));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            utc(Timestamp::from_unix_millis(1_700_000_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(at(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(
            at(951_868_799_000_000_001),
            "2000-02-29T23:59:59.000000001Z"
        );
        assert_eq!(at(4_107_456_000_000_000_000), "2100-02-28T00:00:00Z");
        assert_eq!(at(4_107_542_400_000_000_000), "2100-03-01T00:00:00Z");
        assert_eq!(at(1_735_689_599_000_000_000), "2024-12-31T23:59:59Z");
        assert_eq!(at(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }

    #[test]
    fn signer_keys_are_refused_without_being_echoed() {
        let secret = ["PRIVATE+KEY+example/tracehound+01234567+AQ==".to_owned()];
        let error = parse_keys(&secret).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(!error.to_string().contains("AQ=="), "{error}");
    }
}

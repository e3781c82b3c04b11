//! The `tracehound` command.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracehound::{CanonicalForm, Category, signature};

mod cold;
mod demo;
mod rfc6962;
mod verify_proof;

#[derive(Debug, Parser)]
#[command(
    name = "tracehound",
    version,
    about = "A decision-free runtime security buffer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve an axum app behind the tracehound layer on 127.0.0.1, drive a realistic mixed
    /// workload at it over HTTP, and report what the clients saw and what Tracehound did.
    ///
    /// The Tracehound runs on its default configuration. The clients play a trusted proxy
    /// that names many simulated clients in `X-Forwarded-For`, and a WAF that signs its
    /// verdicts (some forged) in `Tracehound-Verdict`.
    Demo {
        /// Seed for the workload's choices; the same seed gives the same requests.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scale of the workload, 1 to 10 (1 is about 21,600 requests).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
        scale: u32,
        /// Keep the durable audit log, and the evidence proof bundle the demo exports
        /// (`evidence-proof.tlog-proof`), in this directory; every run starts a new epoch.
        /// Default: a temporary directory, removed when the demo ends.
        #[arg(long, value_name = "DIR")]
        audit_dir: Option<PathBuf>,
        /// Evacuate evidence to this store instead of a `cold` directory beside the audit
        /// log: `file:///dir` (outlives the demo), `s3://bucket/root`, `gs://…`, `az://…`.
        #[arg(long, value_name = "URL")]
        cold: Option<String>,
        /// An S3-compatible endpoint for `--cold` (Cloudflare R2, a local test server).
        #[arg(long, value_name = "URL", requires = "cold")]
        endpoint: Option<String>,
    },
    /// Run as a hound worker: the built-in analyzers on the sandboxed `serve` loop, speaking
    /// the hound IPC protocol on standard input and output. A hound pool starts this; it is
    /// not for use by hand.
    #[command(hide = true)]
    Hound,
    /// Print the signature (`category:sha256`) of a JSON payload.
    Signature {
        /// Threat category: injection, ddos, flood, spam, malware, unknown, or a custom name.
        #[arg(long)]
        category: String,
        /// Canonical form: RFC 8785 (`jcs`) or the TypeScript library's (`ts`).
        #[arg(long, value_enum, default_value_t = Form::Jcs)]
        form: Form,
        /// The payload as JSON text; `-` reads it from standard input.
        json: String,
    },
    /// Verify an evidence proof bundle offline, with only the log's verifier key.
    ///
    /// Checks the checkpoint's signature and origin, the record's inclusion in the
    /// checkpoint's tree and, with `--evidence`, the evidence bytes; then prints what the
    /// record says (hashes and sizes, never a payload).
    ///
    /// Exits 0 when the proof holds, 1 when it does not (the reason goes to standard error),
    /// 2 when it could not be checked: a usage error, a bad key or an unreadable file.
    VerifyProof(verify_proof::VerifyProofArgs),
    /// Verify RFC 6962 Merkle inclusion and consistency proofs of any log, a Certificate
    /// Transparency log included.
    ///
    /// Hashes are standard, padded base64, as CT logs print them. The checks are strict: every
    /// hash must be 32 bytes, a proof must have exactly the hashes its sizes need, and a tree
    /// of size 0 proves nothing.
    #[command(subcommand)]
    Rfc6962(rfc6962::Command),
    /// Cold storage: list, read (verified), verify and erase evacuated evidence in a local
    /// directory or a bucket.
    #[command(subcommand)]
    Cold(Box<cold::Command>),
    /// Print the verifier key (a C2SP vkey string) of an audit log's signing key.
    ///
    /// KEY_FILE is the log's private key: `<audit dir>/signing.key`, or the configured
    /// `audit.key_file`. Give the printed key to whoever verifies checkpoints and proofs.
    Vkey {
        /// The private key file (`PRIVATE+KEY+<name>+<id>+<base64>`).
        key_file: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Form {
    Jcs,
    Ts,
}

/// Why a command failed; each kind has its exit status.
#[derive(Debug)]
enum Failure {
    /// `demo` or `signature` failed. Exit 1.
    Command(String),
    /// `verify-proof` did not verify (exit 1) or could not check (exit 2).
    VerifyProof(verify_proof::Error),
    /// An RFC 6962 proof does not hold. Exit 1.
    Rfc6962(rfc6962::Rejected),
    /// The result could not be written. Exit 2.
    Output(io::Error),
    /// `cold verify` found damage, or `cold erase` was refused; the report says what. Exit 1.
    Found,
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Command(_) | Failure::Rfc6962(_) | Failure::Found => 1,
            Failure::VerifyProof(e) => e.exit_code(),
            Failure::Output(_) => 2,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Command(message) => f.write_str(message),
            Failure::VerifyProof(e) => e.fmt(f),
            Failure::Rfc6962(e) => e.fmt(f),
            Failure::Output(e) => write!(f, "cannot write to standard output: {e}"),
            Failure::Found => f.write_str("see the report above"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hound => {
            return tracehound::hound::serve(tracehound::hound::builtin_analyzers());
        }
        Command::Demo {
            seed,
            scale,
            audit_dir,
            cold,
            endpoint,
        } => {
            let target = demo::ColdTarget {
                url: cold,
                endpoint,
            };
            demo::run(seed, scale, audit_dir.as_deref(), &target).map_err(Failure::Command)
        }
        Command::Signature {
            category,
            form,
            json,
        } => print_signature(&category, form, &json).map_err(Failure::Command),
        Command::VerifyProof(args) => verify_proof::run(&args)
            .map_err(Failure::VerifyProof)
            .and_then(|summary| print(&summary)),
        Command::Rfc6962(command) => rfc6962::run(&command)
            .map_err(Failure::Rfc6962)
            .and_then(|line| print(&format!("{line}\n"))),
        Command::Cold(command) => {
            cold::run(&command)
                .map_err(Failure::Command)
                .and_then(|report| {
                    print(&report.text)?;
                    if report.failed {
                        Err(Failure::Found)
                    } else {
                        Ok(())
                    }
                })
        }
        Command::Vkey { key_file } => verifier_key(&key_file)
            .map_err(Failure::Command)
            .and_then(|vkey| print(&format!("{vkey}\n"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("tracehound: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Writes `text` to standard output, reporting failure (a closed pipe) instead of panicking.
fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Failure::Output)
}

/// The vkey of the signing key in `path`; errors never echo the file's content.
fn verifier_key(path: &std::path::Path) -> Result<String, String> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    let signer = tracehound::audit::NoteSigner::from_skey(text.trim_end())
        .map_err(|e| format!("{} is not a C2SP Ed25519 private key: {e}", path.display()))?;
    Ok(signer.verifier_key().to_string())
}

fn print_signature(category: &str, form: Form, json: &str) -> Result<(), String> {
    let category: Category = category.parse().map_err(|e| format!("{e}"))?;
    let text = if json == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        text
    } else {
        json.to_owned()
    };
    let payload: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the payload is not JSON: {e}"))?;
    let form = match form {
        Form::Jcs => CanonicalForm::Jcs,
        Form::Ts => CanonicalForm::TracehoundJs,
    };
    let signature = signature(category, &payload, form).map_err(|e| e.to_string())?;
    println!("{signature}");
    Ok(())
}

//! The `tracehound` command.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracehound::{CanonicalForm, Category, signature};

mod demo;

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
    /// Drive a realistic mixed workload through a real Tracehound on its default
    /// configuration, and report what it did.
    Demo {
        /// Seed for the workload's choices; the same seed gives the same requests.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scale of the workload, 1 to 10 (1 is about 60,000 requests).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
        scale: u32,
    },
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
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Form {
    Jcs,
    Ts,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { seed, scale } => demo::run(seed, scale),
        Command::Signature {
            category,
            form,
            json,
        } => print_signature(&category, form, &json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tracehound: {message}");
            ExitCode::FAILURE
        }
    }
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

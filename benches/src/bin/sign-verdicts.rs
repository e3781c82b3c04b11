//! Writes pre-signed flagged requests for `benches/http/mixed.lua` to replay: wrk's Lua has
//! no HMAC, so the signatures are computed here, just before a run.
//!
//! ```text
//! TRACEHOUND_WAF_SECRET=... sign-verdicts COUNT TAG OUT_FILE
//! ```
//!
//! Writes COUNT lines `<target> TAB <Tracehound-Verdict value>`, each target unique
//! (`/search?q=%27%20OR%201%3D1--%20<TAG>-<n>`, a percent-encoded SQL injection), each
//! verdict `injection`/`high`, signed for `GET` and that target at the current time. Give
//! every run its own TAG so no two runs send the same flagged request. The verdicts are
//! valid for the verifier's window (300 s by default), so sign just before the run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use tracehound::http::SignedVerdict;

const USAGE: &str = "usage: TRACEHOUND_WAF_SECRET=... sign-verdicts COUNT TAG OUT_FILE";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sign-verdicts: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [count, tag, out] = args.as_slice() else {
        return Err(USAGE.to_owned());
    };
    let count: u64 = count.parse().map_err(|e| format!("COUNT {count}: {e}"))?;
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!("TAG {tag:?}: use letters, digits and '-' only"));
    }
    let secret = std::env::var_os("TRACEHOUND_WAF_SECRET")
        .ok_or("TRACEHOUND_WAF_SECRET is not set (the secret the server verifies with)")?;
    let waf = SignedVerdict::new(secret.into_encoded_bytes())
        .map_err(|e| format!("TRACEHOUND_WAF_SECRET: {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("system clock: {e}"))?
        .as_secs();

    let file = File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut writer = BufWriter::new(file);
    for n in 0..count {
        let target = format!("/search?q=%27%20OR%201%3D1--%20{tag}-{n}");
        let verdict = waf.sign("GET", &target, now, "injection", "high");
        writeln!(writer, "{target}\t{verdict}").map_err(|e| format!("{out}: {e}"))?;
    }
    writer.flush().map_err(|e| format!("{out}: {e}"))?;
    Ok(())
}

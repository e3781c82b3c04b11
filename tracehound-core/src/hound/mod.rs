//! Hounds: sandboxed worker processes that analyse evidence, and the pool that runs them.
//!
//! Evidence is attacker-controlled bytes. Tracehound hashes it in the host and does nothing
//! else with it there: anything that parses or decompresses it happens in a *hound*, a
//! separate process that locks itself down (no new privileges, resource limits, a seccomp
//! allow-list, landlock denying the filesystem) before it reads its first job, and talks to
//! the host only through length-prefixed `postcard` frames on its stdin and stdout
//! ([`tracehound_codec::ipc`]).
mod analysis;
mod analyzer;

pub use analysis::{Indicators, PayloadSummary};
pub use analyzer::{Analyzer, Facts, Input};
pub use tracehound_codec::ipc::{Fact, FactValue, Finding, JobFailure, Report, SandboxStatus};

/// The analyzers of the stock `tracehound-hound` worker, in report order.
pub fn builtin_analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(PayloadSummary), Box::new(Indicators)]
}

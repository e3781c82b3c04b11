//! The built-in hound analyzers over arbitrary payload bytes (they run in the sandbox, but a
//! panic there still costs a job and a worker).
//!
//! - Neither analyzer panics, and both finish in time linear in the input (libFuzzer's
//!   timeout catches a blow-up).
//! - Both are deterministic: a second run gives the same facts.
//! - Every report they make passes the host's `Report::validate` (names and labels are words).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracehound::hound::{Analyzer, Facts, Input, builtin_analyzers};
use tracehound_codec::ipc::{Finding, Report};

fn run(analyzers: &mut [Box<dyn Analyzer>], bytes: &[u8]) -> Vec<Finding> {
    let input = Input::new(bytes);
    analyzers
        .iter_mut()
        .map(|analyzer| {
            let mut facts = Facts::default();
            analyzer.analyze(&input, &mut facts);
            Finding {
                analyzer: analyzer.name().to_owned(),
                facts: facts.as_slice().to_vec(),
            }
        })
        .collect()
}

fuzz_target!(|bytes: &[u8]| {
    let mut analyzers = builtin_analyzers();
    let findings = run(&mut analyzers, bytes);
    assert_eq!(findings, run(&mut analyzers, bytes), "not deterministic");
    let report = Report {
        job: 1,
        decoded_size: bytes.len() as u64,
        decoded_hash: [0; 32],
        findings,
    };
    assert!(report.validate().is_ok(), "a report the host would refuse");
});

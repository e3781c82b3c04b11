//! The built-in analyzers: payload summary and indicators.

use crate::hound::{Analyzer, Facts, Input};

/// Shape and statistics of a payload.
#[derive(Debug, Default, Clone, Copy)]
pub struct PayloadSummary;

impl Analyzer for PayloadSummary {
    fn name(&self) -> &'static str {
        "summary"
    }

    fn analyze(&mut self, input: &Input<'_>, facts: &mut Facts) {
        facts.count("size", input.bytes().len() as u64);
    }
}

/// Indicators found in a payload's strings.
#[derive(Debug, Default, Clone, Copy)]
pub struct Indicators;

impl Analyzer for Indicators {
    fn name(&self) -> &'static str {
        "indicators"
    }

    fn analyze(&mut self, _input: &Input<'_>, _facts: &mut Facts) {}
}

//! Finished analyses kept for lookup by signature, bounded in count and in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::{Analysis, FactValue, HoundOutcome};
use crate::signature::Signature;

/// Finished analyses by signature; the oldest is forgotten first, past `hound.retained`
/// entries or [`ANALYSES_MAX_BYTES`] of estimated memory.
#[derive(Debug)]
pub(crate) struct Analyses {
    by_signature: HashMap<Signature, Arc<Analysis>>,
    order: VecDeque<(Signature, u64, usize)>,
    cap: usize,
    bytes: usize,
}

/// Memory the retained analyses may hold, estimated; a report is at most 256 facts, so this
/// keeps at least 2,000 of the largest.
const ANALYSES_MAX_BYTES: usize = 64 << 20;

impl Analyses {
    pub(crate) fn new(cap: usize) -> Self {
        Analyses {
            by_signature: HashMap::new(),
            order: VecDeque::new(),
            cap,
            bytes: 0,
        }
    }

    /// Heap and inline size of an analysis, roughly: enough to bound, not to account.
    fn cost(analysis: &Analysis) -> usize {
        let report = match &analysis.outcome {
            HoundOutcome::Analysed(report) => report
                .findings
                .iter()
                .map(|finding| {
                    let facts: usize = finding
                        .facts
                        .iter()
                        .map(|fact| match &fact.value {
                            FactValue::Label(label) => 64 + fact.name.len() + label.len(),
                            _ => 64 + fact.name.len(),
                        })
                        .sum();
                    64 + finding.analyzer.len() + facts
                })
                .sum(),
            _ => 0,
        };
        256 + report
    }

    /// Retains `analysis`; returns the analyses it pushed out, for the caller to drop.
    pub(crate) fn insert(&mut self, analysis: Arc<Analysis>) -> Vec<Arc<Analysis>> {
        let mut forgotten = Vec::new();
        if self.cap == 0 {
            return forgotten;
        }
        let cost = Self::cost(&analysis);
        self.bytes += cost;
        self.order
            .push_back((analysis.signature.clone(), analysis.job, cost));
        // A replaced older analysis of the same evidence stays in `order` until it comes up
        // for eviction, where its job id tells it apart and only its cost is released.
        forgotten.extend(
            self.by_signature
                .insert(analysis.signature.clone(), analysis),
        );
        while self.order.len() > self.cap || self.bytes > ANALYSES_MAX_BYTES {
            let Some((signature, job, cost)) = self.order.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(cost);
            if self
                .by_signature
                .get(&signature)
                .is_some_and(|a| a.job == job)
            {
                forgotten.extend(self.by_signature.remove(&signature));
            }
        }
        forgotten
    }

    /// The latest retained analysis of the evidence with this signature.
    pub(crate) fn get(&self, signature: &Signature) -> Option<Arc<Analysis>> {
        self.by_signature.get(signature).cloned()
    }
}

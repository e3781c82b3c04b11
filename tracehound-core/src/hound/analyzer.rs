//! The seam for analysis code that runs inside a hound worker.

use std::cell::OnceCell;

use tracehound_codec::Digest;
use tracehound_codec::ipc::{Fact, FactValue, Finding, MAX_FACTS};

/// Analysis code that runs inside a sandboxed hound worker.
///
/// A worker built on [`serve`](crate::hound::serve) verifies each job's evidence against its
/// recorded hash, decodes it within the worker's limits, then hands the payload to every
/// analyzer in turn. An analyzer records what it derived as named [`Facts`]: counts, flags,
/// digests and labels from its own vocabulary, never payload text (the host refuses labels
/// outside `a-z 0-9 _ . -`, and nothing else can carry text).
///
/// Analyzers run on attacker-controlled bytes inside the sandbox: they may panic (the job
/// fails with [`JobFailure::AnalyzerPanicked`](tracehound_codec::ipc::JobFailure)), but they
/// should be deterministic, so that the same evidence yields the same report and the same
/// analysis digest in the audit log.
///
/// ```
/// use tracehound::hound::{Analyzer, Facts, Input};
///
/// /// Counts NUL bytes, which have no business in a JSON payload.
/// struct NulBytes;
///
/// impl Analyzer for NulBytes {
///     fn name(&self) -> &'static str {
///         "nul-bytes"
///     }
///
///     fn analyze(&mut self, input: &Input<'_>, facts: &mut Facts) {
///         let nuls = input.bytes().iter().filter(|b| **b == 0).count();
///         facts.count("nul", nuls as u64);
///     }
/// }
///
/// let mut facts = Facts::default();
/// NulBytes.analyze(&Input::new(b"a\0b\0"), &mut facts);
/// assert_eq!(facts.len(), 1);
/// ```
pub trait Analyzer: Send {
    /// Short name (1-64 bytes of `a-z 0-9 _ . -`), reported with its findings.
    fn name(&self) -> &'static str;

    /// Derives facts from one payload.
    fn analyze(&mut self, input: &Input<'_>, facts: &mut Facts);
}

/// A verified, decoded payload handed to analyzers.
#[derive(Debug)]
pub struct Input<'a> {
    bytes: &'a [u8],
    json: OnceCell<Option<serde_json::Value>>,
}

impl<'a> Input<'a> {
    /// Wraps decoded payload bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        Input {
            bytes,
            json: OnceCell::new(),
        }
    }

    /// The payload bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The payload parsed as JSON, once for all analyzers; `None` when it is not JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(self.bytes).ok())
            .as_ref()
    }
}

/// The facts one analyzer recorded about one payload.
///
/// Holds at most [`MAX_FACTS`] facts; later ones are counted in [`Facts::overflowed`] and
/// dropped, so a report stays small whatever the payload.
#[derive(Debug, Default)]
pub struct Facts {
    facts: Vec<Fact>,
    overflowed: u64,
}

impl Facts {
    /// Records a count, size or scaled measure.
    pub fn count(&mut self, name: &'static str, value: u64) {
        self.push(name, FactValue::Count(value));
    }

    /// Records a yes-or-no fact.
    pub fn flag(&mut self, name: &'static str, value: bool) {
        self.push(name, FactValue::Flag(value));
    }

    /// Records a digest of derived bytes.
    pub fn digest(&mut self, name: &'static str, value: Digest) {
        self.push(name, FactValue::Digest(value.into()));
    }

    /// Records a word from the analyzer's own vocabulary.
    pub fn label(&mut self, name: &'static str, value: &'static str) {
        self.push(name, FactValue::Label(value.to_owned()));
    }

    /// Number of facts recorded.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// No fact recorded.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// Facts dropped because the analyzer recorded more than [`MAX_FACTS`].
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// The recorded facts.
    pub fn as_slice(&self) -> &[Fact] {
        &self.facts
    }

    fn push(&mut self, name: &'static str, value: FactValue) {
        if self.facts.len() < MAX_FACTS {
            self.facts.push(Fact {
                name: name.to_owned(),
                value,
            });
        } else {
            self.overflowed += 1;
        }
    }

    pub(crate) fn into_finding(self, analyzer: &'static str) -> Finding {
        Finding {
            analyzer: analyzer.to_owned(),
            facts: self.facts,
        }
    }
}

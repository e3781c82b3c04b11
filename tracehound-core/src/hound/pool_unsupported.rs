//! Platforms without Unix processes and pipes: a hound pool cannot start, and building a
//! `Tracehound` that asks for one fails with [`ConfigError::Spawn`](crate::ConfigError).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::config::HoundConfig;
use crate::hound::{HoundOutcome, HoundStats};
use crate::quarantine::EvidenceBytes;
use crate::scent::Severity;
use crate::signature::Signature;

#[derive(Debug)]
pub(crate) struct Order {
    pub(crate) signature: Signature,
    pub(crate) severity: Severity,
    pub(crate) bytes: EvidenceBytes,
}

#[derive(Debug)]
pub(crate) struct Completed {
    pub(crate) job: u64,
    pub(crate) order: Order,
    pub(crate) outcome: HoundOutcome,
    pub(crate) duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    Exhausted,
}

pub(crate) type Sink = Arc<dyn Fn(Completed) + Send + Sync>;

#[derive(Debug)]
pub(crate) enum Pool {}

impl Pool {
    pub(crate) fn start(_config: HoundConfig, _sink: Sink) -> io::Result<Pool> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "hound workers need a Unix platform (and Linux for the sandbox)",
        ))
    }

    pub(crate) fn offer(&self, _order: Order) -> Offered {
        match *self {}
    }

    pub(crate) fn stats(&self) -> HoundStats {
        match *self {}
    }
}

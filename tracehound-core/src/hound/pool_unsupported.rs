//! Platforms without Unix processes and pipes: a hound pool cannot start, and building a
//! `Tracehound` that asks for one fails with [`Error::Start`](crate::Error::Start).

use std::io;

use crate::hound::{HoundConfig, HoundStats, HoundWorkers, Offered, Order, Sink};

#[derive(Debug)]
pub(crate) enum Pool {}

impl Pool {
    pub(crate) fn start(_config: HoundConfig, _sink: Sink, _seed: u64) -> io::Result<Pool> {
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

    pub(crate) fn workers(&self) -> HoundWorkers {
        match *self {}
    }
}

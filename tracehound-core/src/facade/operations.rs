//! Operations on held evidence: removal, replacement, flushing and expiry.

use crate::error::Error;
use crate::evidence::Removed;
use crate::quarantine::Removal;
use crate::rate_limit::RateLimiter;
use crate::scent::Scent;
use crate::signature::Signature;
use tracehound_codec::Digest;

use super::Inner;
use super::outcome::{Maintenance, Replacement};
use super::pipeline::candidate;

impl Inner {
    pub(super) fn remove(&self, signature: &Signature, removal: Removal) -> Result<Removed, Error> {
        let now = self.clock.now();
        self.with_vault(|quarantine, journal| {
            quarantine
                .remove(signature, removal, now, journal)
                .ok_or(Error::NotFound)
        })
    }

    pub(super) fn replace(&self, old: &Signature, scent: &Scent) -> Result<Replacement, Error> {
        let threat = scent.threat().ok_or(Error::NoThreatSignal)?;
        let now = self.clock.now();
        let mut order = None;
        let replacement = self.encode(scent, |bytes| {
            let digest = Digest::of(bytes);
            self.with_vault(|quarantine, journal| {
                let removed = quarantine
                    .remove(old, Removal::Replaced { by: digest }, now, journal)
                    .ok_or(Error::NotFound)?;
                let signature = Signature::new(threat.category.clone(), digest);
                let candidate = candidate(scent, threat, bytes, signature);
                let outcome = quarantine.insert(candidate, || now, journal).into();
                order = self.order_for(quarantine, &outcome);
                Ok::<_, Error>(Replacement { removed, outcome })
            })
        })??;
        self.offer(order);
        Ok(replacement)
    }

    pub(super) fn flush(&self) -> Vec<Removed> {
        let now = self.clock.now();
        self.with_vault(|quarantine, journal| quarantine.flush(now, journal))
    }

    pub(super) fn maintain(&self) -> Result<Maintenance, Error> {
        let now = self.clock.now();
        let expired = match self.config.quarantine.max_age {
            Some(max_age) => self
                .with_vault(|quarantine, journal| quarantine.expire(max_age, now, journal).len()),
            None => 0,
        };
        let keys_forgotten = self.limiter.as_ref().map_or(0, RateLimiter::sweep);
        self.bus.prune();
        Ok(Maintenance {
            expired,
            keys_forgotten,
        })
    }
}

//! The intercept pipeline, steps 1 to 6: rate limit, threat signal, canonical encoding,
//! signature, insert, and the hound job for new evidence.

use crate::canonical::EncodeError;
use crate::error::Error;
use crate::events::EventKind;
use crate::hound::{Exhaustion, Offered, Order};
use crate::quarantine::{Candidate, Quarantine};
use crate::rate_limit::Verdict;
use crate::scent::{Scent, SourceKey, ThreatSignal};
use crate::signature::Signature;
use tracehound_codec::Digest;

use super::Inner;
use super::outcome::Outcome;
use super::scratch::{Unencoded, with_canonical};

/// New evidence from a scent's threat and its canonical bytes.
pub(super) fn candidate<'a>(
    scent: &'a Scent,
    threat: &ThreatSignal,
    bytes: &'a [u8],
    signature: Signature,
) -> Candidate<'a> {
    Candidate {
        signature,
        bytes,
        severity: threat.severity,
        captured: scent.captured(),
        source: scent.source(),
    }
}

impl Inner {
    /// Step 1: the rate limit. `Some` is the outcome of a limited source.
    pub(super) fn rate_limit(&self, source: &SourceKey) -> Option<Outcome> {
        let limiter = self.limiter.as_ref()?;
        let Verdict::Limited { retry_after } = limiter.check(source) else {
            return None;
        };
        if self.bus.wanted() {
            self.bus.publish(
                self.clock.now(),
                [EventKind::RateLimitExceeded {
                    source: source.clone(),
                    retry_after,
                }],
            );
        }
        Some(Outcome::RateLimited { retry_after })
    }

    /// Steps 2 to 6, for an admitted source.
    pub(super) fn examine(&self, scent: &Scent) -> Outcome {
        let Some(threat) = scent.threat() else {
            return Outcome::Clean;
        };
        if self.bus.wanted() {
            self.bus.publish(
                self.clock.now(),
                [EventKind::ThreatDetected {
                    source: scent.source().clone(),
                    category: threat.category.clone(),
                    severity: threat.severity,
                }],
            );
        }
        match self.encode(scent, |bytes| self.insert(scent, threat, bytes)) {
            Ok(outcome) => outcome,
            Err(Unencoded::Refused(EncodeError::TooLarge { limit })) => {
                Outcome::PayloadTooLarge { limit }
            }
            // Bad input from the request, not a failure of tracehound: refused, and not
            // logged, since a client can trigger it at line rate.
            Err(Unencoded::Refused(error)) => Outcome::Unencodable { error },
            Err(Unencoded::Failed(error)) => Outcome::Error(error),
        }
    }

    /// Encodes the scent's payload under the configured form and limits and hands the
    /// canonical bytes to `then`; they are wiped afterwards.
    pub(super) fn encode<T>(
        &self,
        scent: &Scent,
        then: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, Unencoded> {
        with_canonical(
            scent.payload(),
            self.config.canonical_form,
            self.limits,
            then,
        )
    }

    fn insert(&self, scent: &Scent, threat: &ThreatSignal, bytes: &[u8]) -> Outcome {
        let signature = Signature::new(threat.category.clone(), Digest::of(bytes));
        let mut order = None;
        let outcome = self.with_vault(|quarantine, journal| {
            // Known threats are the common repeat under attack: answer them before building
            // anything for an insert.
            if quarantine.contains(&signature) {
                return Outcome::Ignored { signature };
            }
            let candidate = candidate(scent, threat, bytes, signature);
            let outcome: Outcome = quarantine
                .insert(candidate, || self.clock.now(), journal)
                .into();
            order = self.order_for(quarantine, &outcome);
            outcome
        });
        self.offer(order);
        outcome
    }

    /// A hound job for newly kept evidence, if a pool is configured: a weak handle on the
    /// held bytes, so the job costs no copy and keeps nothing alive.
    pub(super) fn order_for(&self, quarantine: &Quarantine, outcome: &Outcome) -> Option<Order> {
        let (Some(_), Outcome::Quarantined(receipt)) = (&self.hound, outcome) else {
            return None;
        };
        quarantine
            .evidence(receipt.signature())
            .map(|(bytes, receipt)| Order {
                signature: receipt.signature().clone(),
                severity: receipt.severity(),
                size: receipt.size(),
                bytes: bytes.downgrade(),
            })
    }

    /// Offers a job to the hound pool, if there is one; never waits.
    pub(super) fn offer(&self, order: Option<Order>) {
        let (Some(pool), Some(order)) = (&self.hound, order) else {
            return;
        };
        let signature = order.signature.clone();
        let escalate = self
            .config
            .hound
            .as_ref()
            .is_some_and(|h| h.on_exhausted == Exhaustion::Escalate);
        if pool.offer(order) == Offered::Exhausted && escalate {
            self.bus.publish(
                self.now_or_epoch(),
                [EventKind::AnalysisEscalated { signature }],
            );
        }
    }
}

impl From<Unencoded> for Error {
    fn from(unencoded: Unencoded) -> Self {
        match unencoded {
            Unencoded::Refused(error) => Error::Encode(error),
            Unencoded::Failed(error) => error,
        }
    }
}

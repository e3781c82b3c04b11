//! Formatting shared by the progress line, the event listener and the report; a module of its
//! own so that the client threads need not depend on the report, which reads their results.

use tracehound::EventKind;

/// `1234567` as `1,234,567`.
pub(super) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn event_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::ThreatDetected { .. } => "threat detected",
        EventKind::EvidenceQuarantined(_) => "evidence quarantined",
        EventKind::EvidenceEvicted { .. } => "evidence evicted",
        EventKind::EvidenceDropped { .. } => "evidence dropped",
        EventKind::EvidenceNeutralized { .. } => "evidence neutralized",
        EventKind::EvidencePurged { .. } => "evidence purged",
        EventKind::EvidenceReplaced { .. } => "evidence replaced",
        EventKind::EvidenceExpired { .. } => "evidence expired",
        EventKind::CheckpointSigned(_) => "checkpoint signed",
        EventKind::RateLimitExceeded { .. } => "rate limit exceeded",
        EventKind::InterceptFailed { .. } => "intercept failed",
        EventKind::EvidenceAnalysed(_) => "evidence analysed",
        EventKind::AnalysisEscalated { .. } => "analysis escalated",
        EventKind::EvidenceEvacuated { .. } => "evidence evacuated",
        EventKind::EvacuationLost { .. } => "evacuation lost",
        EventKind::ColdStoreUnreachable { .. } => "cold store unreachable",
        EventKind::ColdStoreRecovered => "cold store recovered",
        EventKind::EvidenceErased { .. } => "evidence erased",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}

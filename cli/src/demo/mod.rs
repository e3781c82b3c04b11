//! `tracehound demo`: a realistic mixed workload, sent over real HTTP to a real axum server
//! protected by `tracehound-tower`'s layer, in front of one `Tracehound` on its default
//! configuration with a durable audit log. Everything printed is computed from the run: the
//! statuses the clients received, the verdict and HTTP layer counters, the snapshot's counters,
//! the audit log's root, a checkpoint signed on demand, an evidence proof verified with only
//! the public key, and the events a subscriber received.

mod audit;
mod call;
mod client;
mod cold;
mod format;
mod report;
mod server;
mod workload;

use std::collections::BTreeMap;
use std::fs;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tracehound::http::{ClientKeySource, HttpConfig, HttpPolicy, IpPrefix, SignedVerdict};
use tracehound::{Config, HoundConfig, Tracehound};

use audit::demonstrate_audit;
use call::{Waf, random_secret};
use client::{CLIENT_THREADS, drive};
pub(crate) use cold::ColdTarget;
use cold::demonstrate_cold;
use format::{event_name, group};
use report::{Results, report};
use server::{Server, app};
use workload::{Mix, workload};

/// Names the demo's log in checkpoint origins and in its key name.
const DEPLOYMENT: &str = "demo.tracehound.local";

/// Body bytes the layer buffers and describes: above `max_payload_bytes`, so that the
/// oversized upload reaches tracehound whole and is refused as too large rather than kept
/// truncated.
const MAX_BODY_BYTES: usize = 2 << 20;

/// A directory made for one run under the system's temporary directory, removed when the
/// run ends (also when it fails).
struct TempDir {
    path: PathBuf,
    removed: bool,
}

impl TempDir {
    fn create() -> Result<TempDir, String> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let path =
            std::env::temp_dir().join(format!("tracehound-demo-{}-{nanos}", std::process::id()));
        // `create_dir`, not `create_dir_all`: a path that already exists is not ours to use.
        fs::create_dir(&path)
            .map_err(|e| format!("cannot create the directory {}: {e}", path.display()))?;
        Ok(TempDir {
            path,
            removed: false,
        })
    }

    fn remove(mut self) -> Result<(), String> {
        self.removed = true;
        fs::remove_dir_all(&self.path)
            .map_err(|e| format!("cannot remove the directory {}: {e}", self.path.display()))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.removed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The hound pool's defer queue: as long as the default quarantine.
const DEFER_QUEUE: NonZeroUsize = match NonZeroUsize::new(16_384) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

pub(crate) fn run(
    seed: u64,
    scale: u32,
    audit_dir: Option<&Path>,
    cold_target: &ColdTarget,
) -> Result<(), String> {
    // Declared before the `Tracehound` so that it is removed after the log is closed.
    let (dir, temporary) = match audit_dir {
        Some(dir) => (dir.to_path_buf(), None),
        None => {
            let temp = TempDir::create()?;
            (temp.path.clone(), Some(temp))
        }
    };
    let mut config = Config::default();
    config.audit.dir = Some(dir.clone());
    config.audit.deployment = DEPLOYMENT.to_owned();
    // This binary is also the hound worker (`tracehound hound`): evidence is analysed in
    // sandboxed copies of it.
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut hound = HoundConfig::new(exe);
    hound.args = vec!["hound".to_owned()];
    // Queued jobs hold their evidence weakly, so a queue as long as the quarantine costs
    // little: every piece of evidence gets a worker, or is skipped once evicted.
    hound.defer_queue = DEFER_QUEUE;
    config.hound = Some(hound);
    // Evidence leaving the quarantine is evacuated: to a directory beside the log, or to
    // the store `--cold` names; the spool waits beside the log.
    let (store, cold_url, cold) = cold::open(cold_target, &dir)?;
    config.cold = Some(cold);
    let tracehound = Tracehound::builder()
        .config(config)
        .cold_store(store)
        .build()
        .map_err(|e| format!("cannot build tracehound: {e}"))?;
    let subscription = tracehound
        .subscribe(tracehound.config().events.max_queue.get())
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    let listener = thread::Builder::new()
        .name("demo-events".into())
        .spawn(move || {
            let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
            while let Some(event) = subscription.recv() {
                *seen.entry(event_name(event.kind())).or_default() += 1;
            }
            (seen, subscription.dropped())
        })
        .map_err(|e| format!("cannot start the event listener: {e}"))?;

    let secret = |whose: &str| {
        SignedVerdict::new(random_secret()?)
            .map_err(|e| format!("cannot key the {whose} verdicts: {e}"))
    };
    let waf = Waf {
        signer: secret("WAF's")?,
        forger: secret("forged")?,
    };
    let mut http = HttpConfig::default();
    // The clients connect from 127.0.0.1 as a proxy the layer trusts, and name the client
    // each request stands for in `X-Forwarded-For`: one machine plays many clients.
    let proxy: IpPrefix = "127.0.0.1"
        .parse()
        .map_err(|e| format!("cannot name the trusted proxy: {e}"))?;
    http.client_key = ClientKeySource::RightmostForwardedFor {
        trusted_proxies: vec![proxy],
    };
    http.max_body_bytes = MAX_BODY_BYTES;
    let policy = Arc::new(
        HttpPolicy::new(tracehound.clone(), http, waf.signer.clone())
            .map_err(|e| format!("cannot build the HTTP policy: {e}"))?,
    );
    let server = Server::start(app(&policy))?;
    let addr = server.addr;

    let requests = workload(seed, scale);
    let mix = Mix::of(&requests);
    eprintln!(
        "tracehound demo: serving http://{addr} behind the tracehound layer; sending {} requests \
         (seed {seed}) from {CLIENT_THREADS} client threads; audit log in {}",
        group(requests.len() as u64),
        dir.display(),
    );
    let traffic = drive(&requests, addr, &waf, &tracehound);
    // Stopped whether or not the traffic went through: dropping the app lets go of the
    // layer's handle on the `Tracehound`.
    let stopped = server.shut_down();
    let traffic = traffic?;
    stopped?;
    let http_stats = policy.stats();
    let verdicts = waf.signer.stats();
    drop(policy);

    let hound_drained = wait_for_hounds(&tracehound);
    let audit = demonstrate_audit(
        &tracehound,
        &requests,
        &addr.to_string(),
        dir.clone(),
        temporary.is_some(),
    )?;
    // A worker that died while idle (killed from outside, say) counts once its slot has
    // checked it: wait for every slot's next check, so the report shows such a death even
    // in its last moments.
    let hound_settled = settle_hounds(&tracehound);
    // Everything still held goes to the store; one object is read back, verified.
    let cold = demonstrate_cold(&tracehound, cold_url)?;
    // Taken after the audit demonstration, so its figures count the checkpoint it signed and
    // the events it published.
    let snapshot = tracehound.snapshot();
    let workers = tracehound.hound_workers();
    let analysis = tracehound.analysis(audit.proof.receipt.signature());
    let verified = tracehound
        .list()
        .iter()
        .filter(|r| tracehound.verify_evidence(r.signature()).is_ok())
        .count();
    // Dropping the last handle signs a final checkpoint and closes the event stream once
    // the listener has drained it.
    drop(tracehound);
    let (events, events_lost) = listener
        .join()
        .map_err(|_| "the event listener failed".to_string())?;
    report(&Results {
        addr,
        mix: &mix,
        traffic: &traffic,
        http: http_stats,
        verdicts,
        snapshot: &snapshot,
        verified,
        audit: &audit,
        cold: &cold,
        events: &events,
        events_lost,
        analysis: analysis.as_deref(),
        hound_drained,
        hound_settled,
        workers: &workers,
    });
    temporary.map_or(Ok(()), TempDir::remove)
}

/// Waits (at most 30 s) until the hound pool has finished every job it accepted; false if it
/// had not by then.
fn wait_for_hounds(tracehound: &Tracehound) -> bool {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let h = tracehound.snapshot().hound;
        let finished = h.analysed
            + h.refused
            + h.timeouts
            + h.crashes
            + h.sandbox_violations
            + h.protocol_violations
            + h.gone;
        if finished >= h.accepted {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most 5 s) until every slot of the pool has checked its worker, and has one,
/// after this call began; false if some had not by then.
fn settle_hounds(tracehound: &Tracehound) -> bool {
    let before = tracehound.hound_workers();
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let now = tracehound.hound_workers();
        let settled = now
            .slots
            .iter()
            .zip(&before.slots)
            .all(|(now, before)| now.checks > before.checks && now.pid.is_some());
        if settled {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

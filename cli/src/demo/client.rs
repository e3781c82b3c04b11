//! The client threads: they send the workload over keep-alive connections, show progress,
//! and count the statuses they receive.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tracehound::http::VERDICT_HEADER;
use tracehound::{Snapshot, Tracehound};

use super::call::{Call, Waf, call};
use super::format::group;
use super::workload::Request;

/// Client threads, each with its own keep-alive connection, taking the workload's requests
/// in turn.
///
/// The order in which the server receives concurrent requests varies from run to run, but a
/// seed still gives the same evidence counts: only low-severity evidence is ever evicted
/// (there is always some held when the quarantine is full), and no attack is low, so every
/// repeated attack finds its first copy held.
pub(super) const CLIENT_THREADS: usize = 4;

/// What the clients saw.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) requests: u64,
    pub(super) ok: u64,
    pub(super) forbidden: u64,
    pub(super) too_large: u64,
    pub(super) too_many: u64,
    pub(super) other: u64,
    /// Summed over requests: from sending the request to reading the whole response.
    pub(super) round_trips: Duration,
}

impl Tally {
    fn count(&mut self, status: u16, round_trip: Duration) {
        self.requests += 1;
        self.round_trips += round_trip;
        match status {
            200 => self.ok += 1,
            403 => self.forbidden += 1,
            413 => self.too_large += 1,
            429 => self.too_many += 1,
            _ => self.other += 1,
        }
    }

    fn add(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.forbidden += other.forbidden;
        self.too_large += other.too_large;
        self.too_many += other.too_many;
        self.other += other.other;
        self.round_trips += other.round_trips;
    }
}

/// What every client thread shares.
struct Clients<'a> {
    base: String,
    waf: &'a Waf,
    /// Requests sent so far, by every thread.
    done: AtomicUsize,
    /// Set when a client fails, so the others stop early.
    failed: AtomicBool,
}

impl Clients<'_> {
    /// Sends `requests` one after another on one keep-alive connection.
    fn run(&self, requests: impl Iterator<Item = Request>) -> Result<Tally, String> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Only ever 127.0.0.1: never through a proxy named in the environment.
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        let agent = ureq::Agent::new_with_config(config);
        let mut tally = Tally::default();
        for request in requests {
            if self.failed.load(Ordering::Relaxed) {
                break;
            }
            let call = call(request);
            let started = Instant::now();
            let status = self
                .send(&agent, &call, &request.client())
                .inspect_err(|_| self.failed.store(true, Ordering::Relaxed))?;
            tally.count(status, started.elapsed());
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(tally)
    }

    fn send(&self, agent: &ureq::Agent, call: &Call, client: &str) -> Result<u16, String> {
        let url = format!("{}{}", self.base, call.target);
        let verdict = self.waf.verdict(call);
        let failed = |e: ureq::Error| format!("{} {} failed: {e}", call.method(), call.path());
        let mut response = match &call.body {
            None => {
                let mut request = agent
                    .get(&url)
                    .header("user-agent", call.user_agent)
                    .header("x-forwarded-for", client);
                if let Some(verdict) = &verdict {
                    request = request.header(VERDICT_HEADER, verdict);
                }
                request.call().map_err(failed)?
            }
            Some(body) => {
                let mut request = agent
                    .post(&url)
                    .header("user-agent", call.user_agent)
                    .header("content-type", "application/json")
                    .header("x-forwarded-for", client);
                if let Some(verdict) = &verdict {
                    request = request.header(VERDICT_HEADER, verdict);
                }
                request.send(&body[..]).map_err(failed)?
            }
        };
        // Read to the end, so the connection can carry the next request.
        response.body_mut().read_to_vec().map_err(failed)?;
        Ok(response.status().as_u16())
    }
}

/// What went over HTTP.
pub(super) struct Traffic {
    pub(super) tally: Tally,
    pub(super) elapsed: Duration,
}

/// Sends the workload from [`CLIENT_THREADS`] threads, showing progress, and adds up what
/// they saw.
pub(super) fn drive(
    requests: &[Request],
    addr: SocketAddr,
    waf: &Waf,
    tracehound: &Tracehound,
) -> Result<Traffic, String> {
    let clients = Clients {
        base: format!("http://{addr}"),
        waf,
        done: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    };
    let next = AtomicUsize::new(0);
    let next = &next;
    // Each thread takes the next request not yet sent.
    let requests_left = move || {
        std::iter::from_fn(move || requests.get(next.fetch_add(1, Ordering::Relaxed)).copied())
    };
    let mut progress = Progress::new(requests.len());
    let started = Instant::now();
    let tallies = thread::scope(|scope| {
        let mut threads = Vec::with_capacity(CLIENT_THREADS);
        for i in 0..CLIENT_THREADS {
            let clients = &clients;
            let spawned = thread::Builder::new()
                .name(format!("demo-client-{i}"))
                .spawn_scoped(scope, move || clients.run(requests_left()));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    clients.failed.store(true, Ordering::Relaxed);
                    return Err(format!("cannot start a client thread: {e}"));
                }
            }
        }
        loop {
            let finished = threads.iter().all(|t| t.is_finished());
            progress.update(clients.done.load(Ordering::Relaxed), || {
                tracehound.snapshot()
            });
            if finished {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| "a client thread panicked".to_owned())?
            })
            .collect::<Result<Vec<Tally>, String>>()
    })?;
    let elapsed = started.elapsed();
    let mut tally = Tally::default();
    for t in &tallies {
        tally.add(t);
    }
    Ok(Traffic { tally, elapsed })
}

/// Shows progress on standard error: a redrawn bar on a terminal, a line per tenth otherwise.
struct Progress {
    total: usize,
    terminal: bool,
    shown: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            terminal: std::io::stderr().is_terminal(),
            shown: 0,
        }
    }

    /// Shows `done` requests when a new step is reached; the last step is all of them.
    fn update(&mut self, done: usize, snapshot: impl FnOnce() -> Snapshot) {
        let step = if self.terminal { 200 } else { 10 };
        let tick = done * step / self.total.max(1);
        if tick == self.shown {
            return;
        }
        self.shown = tick;
        let snap = snapshot();
        let line = format!(
            "{:>3}% {:>9} requests | quarantine {:>6} | rate limited {:>6} | audit {:>7} leaves",
            done * 100 / self.total.max(1),
            group(done as u64),
            group(snap.quarantine.count as u64),
            group(snap.outcomes.rate_limited),
            group(snap.audit.size),
        );
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r{line}");
            if done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}

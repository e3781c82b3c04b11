//! Hounds: sandboxed worker processes that analyse evidence, and the pool that runs them.
//!
//! Evidence is attacker-controlled bytes. Tracehound hashes it in the host and does nothing
//! else with it there: anything that parses or decompresses it happens in a *hound*, a
//! separate process that locks itself down before it reads its first job and talks to the
//! host only through length-prefixed `postcard` frames on its stdin and stdout
//! ([`tracehound_codec::ipc`]).
//!
//! # The sandbox (Linux)
//!
//! Before answering the host's handshake, a worker built on [`serve`] drops root (to
//! `nobody`, clearing its capabilities) and asks to die with the host, then sets
//! `no_new_privs`, a landlock rule set that handles every filesystem, network and scope right
//! the kernel knows and grants none, resource limits (address space and CPU seconds from
//! [`HoundConfig`](crate::HoundConfig); no new file descriptors, processes, file growth or
//! core dumps), and, on every thread, a seccomp allow-list (read on fd 0, write on fds 1 and
//! 2, anonymous non-executable memory, private futexes, clocks, `getrandom`, its own signals,
//! exit). Any other system call, or an allowed one with other arguments, kills the worker
//! with `SIGSYS`, reported as [`HoundOutcome::SandboxViolation`]. The worker reports which
//! layers took hold; by default the host refuses a worker missing any. `serve` must run
//! before the process starts a thread: landlock covers only the thread that applies it.
//!
//! # The pool
//!
//! With [`Config::hound`](crate::Config) set, the [`Tracehound`](crate::Tracehound) starts
//! `workers` processes as it is built (each is ready about a millisecond later; until then,
//! offers under `drop` or `escalate` find no free worker) and offers every newly quarantined evidence to them
//! without blocking `intercept`. A job that is not answered within `job_timeout` gets its
//! worker SIGKILLed and replaced; so does a worker that exits, is killed by its sandbox, or
//! writes anything that is not the one well-formed answer to the job in flight. An idle
//! worker is checked every 100 ms (alive, silent) and every second (CPU), so one killed
//! while idle (a `SIGKILL` from outside, the OOM killer) is replaced at once, not when the
//! next job comes; [`Tracehound::hound_workers`](crate::Tracehound::hound_workers) gives the
//! workers' pids and the last ones lost, with their cause. Workers are
//! rotated after `rotate_after` jobs plus random jitter. A queued job holds its evidence
//! weakly: evidence evicted, expired or erased before a worker is free is not analysed. Each finished job becomes an
//! [`Analysis`]: an [`EvidenceAnalysed`](crate::EventKind::EvidenceAnalysed) event, an
//! `analysed` audit leaf carrying the analysis digest, counters in
//! [`Snapshot::hound`](crate::Snapshot), and an entry for
//! [`Tracehound::analysis`](crate::Tracehound::analysis).
mod analyses;
mod analysis;
mod analyzer;
mod config;
#[cfg(unix)]
pub(crate) mod pool;
#[cfg(not(unix))]
#[path = "pool_unsupported.rs"]
pub(crate) mod pool;
mod sandbox;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use crate::evidence::{AuditLeaf, WeakEvidence};
use crate::scent::Severity;

pub(crate) use analyses::Analyses;
pub use analysis::{Indicators, PayloadSummary};
pub use analyzer::{Analyzer, Facts, Input};
pub use config::{Exhaustion, HoundConfig};
pub use tracehound_codec::ipc::{Fact, FactValue, Finding, JobFailure, Report, SandboxStatus};
pub use worker::serve;

use crate::signature::Signature;
use tracehound_codec::Digest;

// What the facade and the pool (or, off Unix, its stand-in) exchange.

/// A job for the pool: a weak handle on evidence held in the quarantine, neither copied nor
/// kept alive. Evidence evicted or erased before its job runs is not sent to a worker.
#[derive(Debug)]
pub(crate) struct Order {
    pub(crate) signature: Signature,
    pub(crate) severity: Severity,
    pub(crate) size: usize,
    pub(crate) bytes: WeakEvidence,
}

/// A finished job, handed to the pool's sink on the slot thread.
#[derive(Debug)]
pub(crate) struct Completed {
    pub(crate) job: u64,
    pub(crate) order: Order,
    pub(crate) outcome: HoundOutcome,
    pub(crate) duration: Duration,
}

/// What became of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    Accepted,
    /// Every worker was busy (and the defer queue full).
    Exhausted,
    /// Larger than `max_job_bytes`.
    TooLarge,
}

pub(crate) type Sink = Arc<dyn Fn(Completed) + Send + Sync>;

/// The analyzers of the stock `tracehound-hound` worker, in report order.
pub fn builtin_analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(PayloadSummary), Box::new(Indicators)]
}

/// What became of one analysis job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HoundOutcome {
    /// The worker analysed the evidence.
    Analysed(Arc<Report>),
    /// The worker refused the job (the evidence did not match its hash, did not decode, or
    /// an analyzer panicked); the worker stays.
    Refused(JobFailure),
    /// No answer within `job_timeout`; the worker was killed and replaced.
    TimedOut,
    /// The worker died during the job (an exit, or a signal such as `SIGABRT` from a failed
    /// allocation past its address-space limit); it was replaced.
    Crashed {
        /// Exit code, if it exited.
        code: Option<i32>,
        /// Signal, if one killed it.
        signal: Option<i32>,
    },
    /// The worker made a system call outside its seccomp allow-list and was killed by the
    /// kernel (`SIGSYS`); it was replaced.
    SandboxViolation,
    /// The worker wrote something other than the one well-formed answer to the job; it was
    /// killed and replaced.
    ProtocolViolation(Violation),
    /// No worker could be started for the job.
    Unavailable,
}

impl HoundOutcome {
    /// The reason code of the outcome's `analysed` audit leaf (`docs/audit-log-format.md`).
    pub fn code(&self) -> u8 {
        match self {
            HoundOutcome::Analysed(_) => 0,
            HoundOutcome::Refused(_) => 1,
            HoundOutcome::TimedOut => 2,
            HoundOutcome::Crashed { .. } => 3,
            HoundOutcome::SandboxViolation => 4,
            HoundOutcome::ProtocolViolation(_) => 5,
            HoundOutcome::Unavailable => 6,
        }
    }
}

/// How a worker broke the IPC protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// A frame length above the cap (such as a 4 GB claim, or text on stdout).
    OversizedFrame,
    /// A frame that is not one well-formed message.
    MalformedFrame,
    /// A report breaking the rules of [`Report::validate`] (free text in a label, too many
    /// facts), or claiming to describe a payload other than the evidence sent.
    InvalidReport,
    /// An answer carrying another job's id.
    WrongJob,
    /// A message nobody asked for (a second answer, a `Ready` mid-job).
    UnexpectedMessage,
}

impl Violation {
    /// A short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Violation::OversizedFrame => "oversized frame",
            Violation::MalformedFrame => "malformed frame",
            Violation::InvalidReport => "invalid report",
            Violation::WrongJob => "answer for another job",
            Violation::UnexpectedMessage => "unexpected message",
        }
    }
}

/// One finished analysis job, bound to the evidence it was run on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Analysis {
    /// The evidence analysed.
    pub signature: Signature,
    /// The pool's job id.
    pub job: u64,
    /// What happened.
    pub outcome: HoundOutcome,
    /// Time from sending the job to the answer (or the failure).
    pub duration: Duration,
    /// SHA-256 of the report's content (decoded size, decoded hash and findings, in
    /// `postcard` form), when there is a report; the `analysed` audit leaf commits to it.
    pub digest: Option<Digest>,
    /// The `analysed` audit leaf.
    pub audit_leaf: Option<AuditLeaf>,
}

/// The digest an `analysed` audit leaf commits to: the report without its job id, so the
/// same evidence analysed twice gives the same digest. `None` if the report cannot be put in
/// `postcard` form, which no report the pool decoded from a worker can fail; the leaf then
/// commits to no digest rather than to the digest of nothing.
pub fn analysis_digest(report: &Report) -> Option<Digest> {
    let content = (report.decoded_size, report.decoded_hash, &report.findings);
    match postcard::to_stdvec(&content) {
        Ok(bytes) => Some(Digest::of(&bytes)),
        Err(error) => {
            tracing::error!(%error, "tracehound could not encode an analysis report to digest it");
            None
        }
    }
}

/// Hound pool counters, in [`Snapshot::hound`](crate::Snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HoundStats {
    /// A pool is configured.
    pub enabled: bool,
    /// Configured workers.
    pub workers: usize,
    /// Workers running now. A worker that died while idle counts until its slot's next
    /// check, within about 100 ms.
    pub live: usize,
    /// Workers running a job now.
    pub busy: usize,
    /// Jobs waiting in the defer queue.
    pub queue_depth: usize,
    /// The defer queue's capacity (0 without [`Exhaustion::Defer`](crate::Exhaustion)).
    pub queue_capacity: usize,
    /// Evidence offered to the pool.
    pub offered: u64,
    /// Jobs taken (run or queued).
    pub accepted: u64,
    /// Offers refused because every worker was busy and the queue, if any, full.
    pub exhausted: u64,
    /// Offers refused because the evidence exceeds `max_job_bytes`.
    pub too_large: u64,
    /// Jobs analysed.
    pub analysed: u64,
    /// Jobs a worker refused ([`HoundOutcome::Refused`]).
    pub refused: u64,
    /// Jobs that timed out.
    pub timeouts: u64,
    /// Jobs whose worker crashed (or none could be started).
    pub crashes: u64,
    /// Jobs whose worker was killed by seccomp.
    pub sandbox_violations: u64,
    /// Jobs whose worker broke the protocol.
    pub protocol_violations: u64,
    /// Workers started.
    pub spawns: u64,
    /// Workers that failed to start (exec failure, handshake, incomplete sandbox).
    pub spawn_failures: u64,
    /// Workers replaced after a failed job.
    pub respawns: u64,
    /// Workers retired after `rotate_after` jobs.
    pub rotations: u64,
    /// Workers found dead, talking, or burning CPU while idle (alive and silent checked every
    /// 100 ms and before each job, CPU every second), replaced before a job was sent to them.
    pub idle_failures: u64,
    /// Of `idle_failures`, workers found dead: exited, or killed by a signal nobody in the
    /// pool sent (a `SIGKILL` from outside, the OOM killer, `SIGSYS` from the sandbox).
    /// Workers that die during a job are counted by the job's outcome (`crashes`,
    /// `sandbox_violations`). [`Tracehound::hound_workers`](crate::Tracehound::hound_workers)
    /// names the last ones lost.
    pub idle_deaths: u64,
    /// Jobs skipped because their evidence left the quarantine (evicted, expired, removed or
    /// erased) before a worker was free.
    pub gone: u64,
    /// Mean job time over the last 1,024 jobs, microseconds.
    pub mean_job_micros: u64,
    /// 99th percentile job time over the last 1,024 jobs, microseconds.
    pub p99_job_micros: u64,
}

/// The pool's workers now, and the last ones it lost, from
/// [`Tracehound::hound_workers`](crate::Tracehound::hound_workers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HoundWorkers {
    /// One entry per slot, in slot order (empty without a pool).
    pub slots: Vec<HoundSlot>,
    /// The most recently lost workers, oldest first: at most the last 32.
    pub lost: Vec<LostWorker>,
}

/// One slot of the pool: a thread and the worker process it owns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HoundSlot {
    /// The process id of the slot's worker; `None` while it has none (starting one, or
    /// backing off after failed starts).
    pub pid: Option<u32>,
    /// How many times the slot has checked its idle worker (alive, silent). Once this has
    /// gone up since some moment, a worker that died before that moment has been noticed,
    /// counted and replaced.
    pub checks: u64,
}

/// A worker the pool lost: it died, or the pool killed it for misbehaving. Workers retired
/// after `rotate_after` jobs, or stopped with the pool, are not lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LostWorker {
    /// Its process id.
    pub pid: u32,
    /// The slot that ran it.
    pub slot: usize,
    /// The job in flight, or `None` if it was idle.
    pub job: Option<u64>,
    /// What happened.
    pub cause: WorkerLoss,
}

/// Why a worker was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerLoss {
    /// It exited, or was killed by a signal the pool did not send (a `SIGKILL` from
    /// outside, the OOM killer, `SIGSYS` from its sandbox); both `None` if its status could
    /// not be read.
    Died {
        /// Exit code, if it exited.
        code: Option<i32>,
        /// Signal, if one killed it.
        signal: Option<i32>,
    },
    /// It wrote to its stdout with no job in flight; the pool killed it.
    WroteWhileIdle,
    /// It used more than 0.25 s of CPU between two idle checks; the pool killed it.
    BurnedCpuWhileIdle,
    /// It did not answer its job within `job_timeout`; the pool killed it.
    TimedOut,
    /// It broke the protocol during a job; the pool killed it.
    ProtocolViolation(Violation),
}

impl WorkerLoss {
    /// A short description for reports and logs, such as `killed by signal 9`.
    pub fn describe(&self) -> String {
        match self {
            WorkerLoss::Died {
                signal: Some(signal),
                ..
            } => format!("killed by signal {signal}"),
            WorkerLoss::Died {
                code: Some(code), ..
            } => format!("exited with code {code}"),
            WorkerLoss::Died { .. } => "died".to_owned(),
            WorkerLoss::WroteWhileIdle => "wrote while idle".to_owned(),
            WorkerLoss::BurnedCpuWhileIdle => "burned CPU while idle".to_owned(),
            WorkerLoss::TimedOut => "timed out".to_owned(),
            WorkerLoss::ProtocolViolation(violation) => {
                format!("protocol violation ({})", violation.as_str())
            }
        }
    }
}

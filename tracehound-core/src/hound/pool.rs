//! The host side: a pool of pre-spawned hound workers fed through a bounded queue.
//!
//! Each worker has a slot thread that owns it: the thread takes a job from the pool's queue,
//! writes it to the worker, and waits for the answer with `poll`, never longer than the job
//! timeout. Every failure of the worker (a timeout, an exit, a signal, a malformed, oversized
//! or unexpected frame, an answer for another job) is charged to the job in flight, the
//! worker is killed and reaped, and a new one is spawned before the slot takes another job.
//! A worker's pipes and frame reader die with it, so nothing a dead worker wrote can ever be
//! read as the answer to a later job.
//!
//! Offering a job is a `try_send` on the queue: it never blocks. With
//! [`Exhaustion::Drop`] and [`Exhaustion::Escalate`] the queue has no capacity, so a job is
//! accepted only when a slot is idle and waiting; with [`Exhaustion::Defer`] it holds up to
//! `defer_queue` jobs.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use parking_lot::Mutex;
use tracehound_codec::ipc::{
    self, Encoding, FrameError, FrameReader, Hello, HostMessage, Job, MAX_WORKER_FRAME,
    PROTOCOL_VERSION, WorkerLimits, WorkerMessage,
};

use crate::evidence::EvidenceBytes;
use crate::hound::{
    Completed, HoundOutcome, HoundSlot, HoundStats, HoundWorkers, LostWorker, Offered, Order, Sink,
    Violation, WorkerLoss,
};
use crate::hound::{Exhaustion, HoundConfig};

/// Longest a slot thread sleeps in `poll` before it looks at the stop flag.
const POLL_SLICE: Duration = Duration::from_millis(50);

/// How often an idle slot checks that its worker is alive and silent: a `waitpid` and a
/// `poll`, cheap enough that a worker killed while idle is replaced (and counted) at once.
const LIVENESS_CHECK: Duration = Duration::from_millis(100);

/// How often an idle slot checks its worker's CPU time.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// CPU time an idle worker may use between two CPU checks before it is replaced.
const IDLE_CPU: Duration = Duration::from_millis(250);

/// Lost workers remembered for [`HoundWorkers::lost`].
const LOST_KEEP: usize = 32;

/// A slot's frame buffer keeps at most this capacity between jobs.
const FRAME_KEEP: usize = 64 * 1024;

/// Most job durations kept for the mean and p99 in the snapshot.
const TIMING_WINDOW: usize = 1024;

#[derive(Debug, Default)]
struct Counters {
    offered: AtomicU64,
    accepted: AtomicU64,
    exhausted: AtomicU64,
    too_large: AtomicU64,
    analysed: AtomicU64,
    refused: AtomicU64,
    timeouts: AtomicU64,
    crashes: AtomicU64,
    sandbox_violations: AtomicU64,
    protocol_violations: AtomicU64,
    spawns: AtomicU64,
    spawn_failures: AtomicU64,
    respawns: AtomicU64,
    rotations: AtomicU64,
    idle_failures: AtomicU64,
    idle_deaths: AtomicU64,
    gone: AtomicU64,
}

/// What a slot shows of itself to [`Pool::workers`].
#[derive(Debug, Default)]
struct SlotView {
    /// The worker's pid, 0 when there is none.
    pid: AtomicU32,
    checks: AtomicU64,
}

struct Shared {
    config: HoundConfig,
    counters: Counters,
    live: AtomicUsize,
    busy: AtomicUsize,
    next_job: AtomicU64,
    timings: Mutex<Timings>,
    rng: Mutex<u64>,
    stop: AtomicBool,
    sink: Sink,
    views: Vec<SlotView>,
    lost: Mutex<VecDeque<LostWorker>>,
}

/// A ring of recent job durations, in microseconds.
#[derive(Debug, Default)]
struct Timings {
    recent: Vec<u64>,
    next: usize,
}

impl Timings {
    fn record(&mut self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        if self.recent.len() < TIMING_WINDOW {
            self.recent.push(micros);
        } else {
            self.recent[self.next] = micros;
        }
        self.next = (self.next + 1) % TIMING_WINDOW;
    }

    fn mean_and_p99(&self) -> (u64, u64) {
        if self.recent.is_empty() {
            return (0, 0);
        }
        let mut sorted = self.recent.clone();
        sorted.sort_unstable();
        let mean = sorted.iter().sum::<u64>() / sorted.len() as u64;
        let rank = (sorted.len() * 99).div_ceil(100).saturating_sub(1);
        (mean, sorted[rank])
    }
}

/// The pool. Dropping it stops the slots, kills the workers and waits for the threads.
pub(crate) struct Pool {
    jobs: Option<Sender<(u64, Order)>>,
    shared: Arc<Shared>,
    slots: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.shared.config.workers)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Spawns the slot threads; each starts its worker at once, so workers are normally ready
    /// before the first job arrives (the build does not wait for them). A worker that fails to
    /// start is retried with backoff by its slot.
    /// `seed` drives the rotation jitter; the facade draws it from its injected randomness.
    pub(crate) fn start(config: HoundConfig, sink: Sink, seed: u64) -> io::Result<Pool> {
        let capacity = match config.on_exhausted {
            Exhaustion::Defer => config.defer_queue.get(),
            Exhaustion::Drop | Exhaustion::Escalate => 0,
        };
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            live: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            next_job: AtomicU64::new(1),
            timings: Mutex::new(Timings::default()),
            // xorshift must not start at zero.
            rng: Mutex::new(seed | 1),
            stop: AtomicBool::new(false),
            sink,
            views: (0..config.workers.get())
                .map(|_| SlotView::default())
                .collect(),
            lost: Mutex::new(VecDeque::with_capacity(LOST_KEEP)),
            config,
        });
        let mut pool = Pool {
            jobs: Some(tx),
            shared: Arc::clone(&shared),
            slots: Vec::new(),
        };
        for index in 0..shared.config.workers.get() {
            let shared = Arc::clone(&shared);
            let rx = rx.clone();
            let handle = thread::Builder::new()
                .name(format!("tracehound-hound-{index}"))
                .spawn(move || Slot::new(shared, index).run(&rx))?;
            pool.slots.push(handle);
        }
        Ok(pool)
    }

    /// Offers a job without blocking; returns at once whatever happens.
    pub(crate) fn offer(&self, order: Order) -> Offered {
        let counters = &self.shared.counters;
        counters.offered.fetch_add(1, Ordering::Relaxed);
        if order.size > self.shared.config.max_job_bytes.get() {
            counters.too_large.fetch_add(1, Ordering::Relaxed);
            return Offered::TooLarge;
        }
        let Some(jobs) = &self.jobs else {
            counters.exhausted.fetch_add(1, Ordering::Relaxed);
            return Offered::Exhausted;
        };
        let id = self.shared.next_job.fetch_add(1, Ordering::Relaxed);
        match jobs.try_send((id, order)) {
            Ok(()) => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                Offered::Accepted
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                counters.exhausted.fetch_add(1, Ordering::Relaxed);
                Offered::Exhausted
            }
        }
    }

    pub(crate) fn stats(&self) -> HoundStats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (mean, p99) = self.shared.timings.lock().mean_and_p99();
        let jobs = self.jobs.as_ref();
        HoundStats {
            enabled: true,
            workers: self.shared.config.workers.get(),
            live: self.shared.live.load(Ordering::Relaxed),
            busy: self.shared.busy.load(Ordering::Relaxed),
            queue_depth: jobs.map_or(0, Sender::len),
            queue_capacity: jobs.and_then(Sender::capacity).unwrap_or(0),
            offered: load(&c.offered),
            accepted: load(&c.accepted),
            exhausted: load(&c.exhausted),
            too_large: load(&c.too_large),
            analysed: load(&c.analysed),
            refused: load(&c.refused),
            timeouts: load(&c.timeouts),
            crashes: load(&c.crashes),
            sandbox_violations: load(&c.sandbox_violations),
            protocol_violations: load(&c.protocol_violations),
            spawns: load(&c.spawns),
            spawn_failures: load(&c.spawn_failures),
            respawns: load(&c.respawns),
            rotations: load(&c.rotations),
            idle_failures: load(&c.idle_failures),
            idle_deaths: load(&c.idle_deaths),
            gone: load(&c.gone),
            mean_job_micros: mean,
            p99_job_micros: p99,
        }
    }

    pub(crate) fn workers(&self) -> HoundWorkers {
        let slots = self
            .shared
            .views
            .iter()
            .map(|view| HoundSlot {
                pid: Some(view.pid.load(Ordering::Relaxed)).filter(|&pid| pid != 0),
                checks: view.checks.load(Ordering::Acquire),
            })
            .collect();
        let lost = self.shared.lost.lock().iter().copied().collect();
        HoundWorkers { slots, lost }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Disconnecting the queue wakes idle slots; busy ones see the stop flag within one
        // poll slice, kill their worker and exit.
        self.jobs = None;
        let me = thread::current().id();
        for handle in self.slots.drain(..) {
            // The last handle on the host may be dropped by a slot's own sink; that slot
            // ends by itself once this returns.
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

/// One slot: a thread and the worker it owns.
struct Slot {
    shared: Arc<Shared>,
    index: usize,
    worker: Option<Worker>,
    frame: Vec<u8>,
    backoff: Duration,
    /// When the idle worker's CPU time is next checked.
    cpu_check: Instant,
}

impl Slot {
    fn new(shared: Arc<Shared>, index: usize) -> Self {
        Slot {
            shared,
            index,
            worker: None,
            frame: Vec::new(),
            backoff: Duration::from_millis(10),
            cpu_check: Instant::now() + IDLE_CHECK,
        }
    }

    fn run(mut self, jobs: &Receiver<(u64, Order)>) {
        while !self.stopped() {
            if self.worker.is_none() && !self.start_worker() {
                continue;
            }
            let (id, order) = match jobs.recv_timeout(LIVENESS_CHECK) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    let cpu = Instant::now() >= self.cpu_check;
                    if cpu {
                        self.cpu_check = Instant::now() + IDLE_CHECK;
                    }
                    self.check_idle_worker(cpu);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let Some(bytes) = order.bytes.upgrade() else {
                self.shared.counters.gone.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            // A worker that died or wrote while idle is replaced before the job is sent, so
            // its failure is never charged to a job it never saw.
            if !self.check_idle_worker(false) && !self.start_worker() {
                self.finish(id, order, HoundOutcome::Unavailable, Duration::ZERO);
                continue;
            }
            self.shared.busy.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = self.run_job(id, &order, bytes);
            let duration = started.elapsed();
            self.shared.busy.fetch_sub(1, Ordering::Relaxed);
            self.cpu_check = Instant::now() + IDLE_CHECK;
            self.finish(id, order, outcome, duration);
        }
        self.retire(false);
    }

    /// Replaces the worker if it died or wrote something while idle (and, when `cpu` is
    /// set, if it burned CPU); false if it had to.
    fn check_idle_worker(&mut self, cpu: bool) -> bool {
        let Some(worker) = self.worker.as_mut() else {
            return true;
        };
        let state = worker.idle_state();
        let loss = match state {
            Idle::Well if cpu && worker.burned_cpu() => Some(WorkerLoss::BurnedCpuWhileIdle),
            Idle::Well => None,
            Idle::Wrote => Some(WorkerLoss::WroteWhileIdle),
            Idle::Exited => None,
        };
        let well = matches!(state, Idle::Well) && loss.is_none();
        if !well {
            // The loss is on record before the counters say there was one: a caller that
            // sees `idle_failures` go up finds the lost worker in `workers().lost`.
            let died_by_itself = loss.is_none();
            match loss {
                Some(loss) => {
                    let pid = self.retire(false);
                    self.lose(pid, None, loss);
                }
                None => {
                    let (pid, status) = self.reap();
                    self.lose(pid, None, died(status));
                }
            }
            let counters = &self.shared.counters;
            counters.idle_failures.fetch_add(1, Ordering::Release);
            if died_by_itself {
                counters.idle_deaths.fetch_add(1, Ordering::Release);
            }
        }
        // Counted last: once a caller sees the count go up, the counters and the lost
        // worker's record already show what this check found.
        self.shared.views[self.index]
            .checks
            .fetch_add(1, Ordering::Release);
        well
    }

    /// Remembers a lost worker (the last [`LOST_KEEP`]), and says so in the log.
    fn lose(&self, pid: Option<u32>, job: Option<u64>, cause: WorkerLoss) {
        let Some(pid) = pid else {
            return;
        };
        tracing::warn!(pid, slot = self.index, ?job, cause = %cause.describe(), "hound worker lost");
        let mut lost = self.shared.lost.lock();
        if lost.len() >= LOST_KEEP {
            lost.pop_front();
        }
        lost.push_back(LostWorker {
            pid,
            slot: self.index,
            job,
            cause,
        });
    }

    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    fn finish(&self, job: u64, order: Order, outcome: HoundOutcome, duration: Duration) {
        let counters = &self.shared.counters;
        let counter = match &outcome {
            HoundOutcome::Analysed(_) => &counters.analysed,
            HoundOutcome::Refused(_) => &counters.refused,
            HoundOutcome::TimedOut => &counters.timeouts,
            HoundOutcome::Crashed { .. } | HoundOutcome::Unavailable => &counters.crashes,
            HoundOutcome::SandboxViolation => &counters.sandbox_violations,
            HoundOutcome::ProtocolViolation(_) => &counters.protocol_violations,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !matches!(outcome, HoundOutcome::Unavailable) {
            self.shared.timings.lock().record(duration);
        }
        let sink = &self.shared.sink;
        // The sink is the host's code; a panic in it must not take the slot down.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sink(Completed {
                job,
                order,
                outcome,
                duration,
            })
        }));
    }

    /// Spawns a worker, with growing backoff after failures; false if none could be started.
    fn start_worker(&mut self) -> bool {
        let counters = &self.shared.counters;
        let rotate_at = self.next_rotation();
        match Worker::spawn(&self.shared.config, rotate_at, &self.shared.stop) {
            Ok(worker) => {
                counters.spawns.fetch_add(1, Ordering::Relaxed);
                self.shared.live.fetch_add(1, Ordering::Relaxed);
                self.shared.views[self.index]
                    .pid
                    .store(worker.child.id(), Ordering::Relaxed);
                self.worker = Some(worker);
                self.backoff = Duration::from_millis(10);
                true
            }
            Err(error) => {
                counters.spawn_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "hound worker failed to start");
                let until = Instant::now() + self.backoff;
                while !self.stopped() && Instant::now() < until {
                    thread::sleep(POLL_SLICE.min(self.backoff));
                }
                self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
                false
            }
        }
    }

    fn next_rotation(&self) -> u64 {
        let config = &self.shared.config;
        let mut state = self.shared.rng.lock();
        // xorshift64: rotation jitter needs spread, not secrecy.
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let jitter = *state % config.rotation_jitter.saturating_add(1);
        config.rotate_after.get().saturating_add(jitter)
    }

    /// Ends the worker: gracefully (stdin closed, a short wait) for rotation, or at once.
    /// Returns its pid, if there was one.
    fn retire(&mut self, graceful: bool) -> Option<u32> {
        let worker = self.worker.take()?;
        let pid = worker.child.id();
        worker.end(graceful);
        self.forget_worker();
        Some(pid)
    }

    /// Collects the status of a worker whose stdout hung up or that has exited. Returns its
    /// pid, if there was one, and its status, if it could be read.
    fn reap(&mut self) -> (Option<u32>, Option<ExitStatus>) {
        let Some(worker) = self.worker.take() else {
            return (None, None);
        };
        let pid = worker.child.id();
        let status = worker.reap();
        self.forget_worker();
        (Some(pid), status)
    }

    fn forget_worker(&self) {
        self.shared.live.fetch_sub(1, Ordering::Relaxed);
        self.shared.views[self.index]
            .pid
            .store(0, Ordering::Relaxed);
    }

    fn run_job(&mut self, id: u64, order: &Order, bytes: EvidenceBytes) -> HoundOutcome {
        let Some(worker) = &mut self.worker else {
            return HoundOutcome::Unavailable;
        };
        let deadline = Instant::now() + self.shared.config.job_timeout;
        let result = worker.run(
            id,
            order,
            bytes,
            deadline,
            &mut self.frame,
            &self.shared.stop,
        );
        if self.frame.capacity() > FRAME_KEEP {
            self.frame = Vec::new();
        }
        let counters = &self.shared.counters;
        match result {
            Ok(outcome) => {
                worker.jobs += 1;
                if worker.jobs >= worker.rotate_at {
                    counters.rotations.fetch_add(1, Ordering::Relaxed);
                    self.retire(true);
                }
                outcome
            }
            Err(fault) => {
                counters.respawns.fetch_add(1, Ordering::Relaxed);
                let (pid, outcome, loss) = match fault {
                    Fault::Timeout => (
                        self.retire(false),
                        HoundOutcome::TimedOut,
                        WorkerLoss::TimedOut,
                    ),
                    Fault::Violation(violation) => (
                        self.retire(false),
                        HoundOutcome::ProtocolViolation(violation),
                        WorkerLoss::ProtocolViolation(violation),
                    ),
                    Fault::Exited => {
                        let (pid, status) = self.reap();
                        (pid, exit_outcome(status), died(status))
                    }
                };
                // A stop cuts the job short: that is the pool ending, not a lost worker.
                if !self.stopped() {
                    self.lose(pid, Some(id), loss);
                }
                // Replaced at the top of the slot's loop, before it takes another job (and
                // outside this job's time).
                outcome
            }
        }
    }
}

fn exit_outcome(status: Option<ExitStatus>) -> HoundOutcome {
    match status {
        Some(status) if status.signal() == Some(nix::libc::SIGSYS) => {
            HoundOutcome::SandboxViolation
        }
        Some(status) => HoundOutcome::Crashed {
            code: status.code(),
            signal: status.signal(),
        },
        None => HoundOutcome::Crashed {
            code: None,
            signal: None,
        },
    }
}

fn died(status: Option<ExitStatus>) -> WorkerLoss {
    WorkerLoss::Died {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
    }
}

/// What the check of an idle worker found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idle {
    /// Running, nothing written.
    Well,
    /// Output with no job in flight.
    Wrote,
    /// Exited, or exiting: its stdout hung up.
    Exited,
}

/// Why a job's worker must be replaced.
enum Fault {
    Timeout,
    Exited,
    Violation(Violation),
}

impl From<FrameError> for Fault {
    fn from(error: FrameError) -> Self {
        Fault::Violation(match error {
            FrameError::TooLarge { .. } => Violation::OversizedFrame,
            FrameError::Truncated | FrameError::Malformed(_) => Violation::MalformedFrame,
            FrameError::Invalid(_) => Violation::InvalidReport,
            FrameError::Io(_) => Violation::MalformedFrame,
            _ => Violation::MalformedFrame,
        })
    }
}

/// A live worker process and the host's ends of its pipes.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    reader: FrameReader,
    jobs: u64,
    rotate_at: u64,
    /// CPU time the worker had used at the first idle check since its last job.
    idle_cpu: Option<Duration>,
}

impl Worker {
    fn spawn(config: &HoundConfig, rotate_at: u64, stop: &AtomicBool) -> io::Result<Worker> {
        let mut child = Command::new(&config.program)
            .args(&config.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("worker pipes missing"));
        };
        let mut worker = Worker {
            child,
            stdin,
            stdout,
            reader: FrameReader::new(MAX_WORKER_FRAME),
            jobs: 0,
            rotate_at,
            idle_cpu: None,
        };
        match worker.handshake(config, stop) {
            Ok(()) => Ok(worker),
            Err(error) => {
                worker.end(false);
                Err(error)
            }
        }
    }

    fn handshake(&mut self, config: &HoundConfig, stop: &AtomicBool) -> io::Result<()> {
        set_nonblocking(&self.stdin)?;
        set_nonblocking(&self.stdout)?;
        let hello = HostMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: WorkerLimits {
                address_space: config.address_space,
                cpu_seconds: config.cpu_seconds.get(),
                max_decoded: config.max_decoded.get(),
                max_frame: frame_cap(config),
            },
        });
        let mut frame = Vec::new();
        ipc::encode_frame(&mut frame, &hello, MAX_WORKER_FRAME).map_err(io::Error::other)?;
        let deadline = Instant::now() + config.ready_timeout;
        let refused = |what: &str| io::Error::other(format!("worker handshake failed: {what}"));
        self.write_all(&frame, deadline, stop)
            .map_err(|_| refused("could not send hello"))?;
        match self.read_message(deadline, stop) {
            Ok(WorkerMessage::Ready(ready)) => {
                if ready.version != PROTOCOL_VERSION {
                    return Err(refused("protocol version mismatch"));
                }
                if config.require_sandbox && !ready.sandbox.is_complete() {
                    return Err(refused(
                        "sandbox incomplete and hound.require_sandbox is set",
                    ));
                }
                Ok(())
            }
            Ok(_) => Err(refused("expected ready")),
            Err(Fault::Timeout) => Err(refused("not ready in time")),
            Err(Fault::Exited) => Err(refused("exited")),
            Err(Fault::Violation(v)) => Err(refused(v.as_str())),
        }
    }

    /// Whether the worker is running and has written nothing since its last answer.
    fn idle_state(&mut self) -> Idle {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return Idle::Exited;
        }
        if self.reader.buffered() > 0 {
            return Idle::Wrote;
        }
        let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => Idle::Well,
            // A process that is being killed closes its pipes before it becomes a zombie:
            // a hang-up is an exit that `try_wait` may not see yet. Whatever it wrote
            // before, it is gone, and its status says why.
            Ok(_)
                if fds[0]
                    .revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)) =>
            {
                Idle::Exited
            }
            Ok(_) => Idle::Wrote,
            Err(_) => Idle::Exited,
        }
    }

    /// Whether the idle worker burns CPU (an exploited worker could spin between jobs). The
    /// first check after a job notes the worker's CPU time; later ones allow [`IDLE_CPU`]
    /// more.
    fn burned_cpu(&mut self) -> bool {
        let Some(used) = cpu_time(self.child.id()) else {
            return false;
        };
        match self.idle_cpu {
            Some(mark) => used.saturating_sub(mark) > IDLE_CPU,
            None => {
                self.idle_cpu = Some(used);
                false
            }
        }
    }

    fn run(
        &mut self,
        id: u64,
        order: &Order,
        bytes: EvidenceBytes,
        deadline: Instant,
        frame: &mut Vec<u8>,
        stop: &AtomicBool,
    ) -> Result<HoundOutcome, Fault> {
        let evidence_hash: [u8; 32] = (*order.signature.digest()).into();
        let job = HostMessage::Job(Job {
            id,
            evidence_hash,
            encoding: Encoding::Plain,
            bytes: bytes.as_slice(),
        });
        frame.clear();
        let sent = ipc::encode_frame(frame, &job, u32::MAX).map_err(|_| Fault::Exited);
        // Not held while the worker works: evidence erased meanwhile is wiped at once.
        drop(bytes);
        let result = sent.and_then(|()| self.write_all(frame, deadline, stop));
        // Evidence does not linger in a buffer the slot keeps.
        zeroize::Zeroize::zeroize(frame.as_mut_slice());
        result?;
        let outcome = match self.read_message(deadline, stop)? {
            WorkerMessage::Report(report) if report.job == id => {
                report.validate().map_err(Fault::from)?;
                // A plain job's payload is the evidence: the host knows what the report must
                // say it analysed, so a worker cannot claim another payload's facts.
                if report.decoded_size != order.size as u64 || report.decoded_hash != evidence_hash
                {
                    return Err(Fault::Violation(Violation::InvalidReport));
                }
                HoundOutcome::Analysed(Arc::new(report))
            }
            WorkerMessage::Failed { job, reason } if job == id => HoundOutcome::Refused(reason),
            WorkerMessage::Report(_) | WorkerMessage::Failed { .. } => {
                return Err(Fault::Violation(Violation::WrongJob));
            }
            WorkerMessage::Ready(_) => return Err(Fault::Violation(Violation::UnexpectedMessage)),
        };
        // One answer per job: anything already behind it is unasked-for output.
        if self.reader.buffered() > 0 {
            return Err(Fault::Violation(Violation::UnexpectedMessage));
        }
        self.idle_cpu = None;
        Ok(outcome)
    }

    fn write_all(
        &mut self,
        mut bytes: &[u8],
        deadline: Instant,
        stop: &AtomicBool,
    ) -> Result<(), Fault> {
        while !bytes.is_empty() {
            match self.stdin.write(bytes) {
                Ok(0) => return Err(Fault::Exited),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_for(self.stdin.as_fd(), PollFlags::POLLOUT, deadline, stop)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Fault::Exited),
            }
        }
        Ok(())
    }

    fn read_message(
        &mut self,
        deadline: Instant,
        stop: &AtomicBool,
    ) -> Result<WorkerMessage, Fault> {
        loop {
            if let Some(frame) = self.reader.next_frame()? {
                return Ok(ipc::decode::<WorkerMessage>(frame)?);
            }
            match self.reader.read_from(&mut self.stdout) {
                Ok(0) => return Err(Fault::Exited),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_for(self.stdout.as_fd(), PollFlags::POLLIN, deadline, stop)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Fault::Exited),
            }
        }
    }

    /// Ends the process. Graceful: close stdin and give it up to 200 ms to exit by itself,
    /// which its stdout hanging up shows.
    fn end(self, graceful: bool) {
        let Worker {
            mut child,
            stdin,
            stdout,
            ..
        } = self;
        drop(stdin);
        if graceful {
            let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(200u16));
        }
        // A no-op on a worker that has already exited, whose status is then collected at once.
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The status of a worker whose stdout closed: it is exiting, so wait a little for the
    /// real status (a signal tells a sandbox kill from a crash), then kill it regardless.
    fn reap(self) -> Option<ExitStatus> {
        let Worker { mut child, .. } = self;
        let until = Instant::now() + Duration::from_millis(100);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < until => thread::sleep(Duration::from_micros(200)),
                _ => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat` (Linux; `None` elsewhere
/// or if it cannot be read).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold anything: state,
    // then (fields 4 to 13), then utime and stime in clock ticks.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every architecture it supports.
    Some(Duration::from_millis((utime + stime).saturating_mul(10)))
}

/// The cap on frames to a worker: the largest job plus its fields.
pub(crate) fn frame_cap(config: &HoundConfig) -> u32 {
    u32::try_from(config.max_job_bytes.get().saturating_add(4096)).unwrap_or(u32::MAX)
}

fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = fcntl(fd.as_fd(), FcntlArg::F_GETFL)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// Waits until `fd` is ready for `events`, the deadline passes, or the pool stops.
fn wait_for(
    fd: std::os::fd::BorrowedFd<'_>,
    events: PollFlags,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<(), Fault> {
    loop {
        let now = Instant::now();
        if now >= deadline || stop.load(Ordering::Relaxed) {
            return Err(Fault::Timeout);
        }
        let slice = (deadline - now).min(POLL_SLICE);
        // Round up: a sub-millisecond remainder must not become a busy loop of zero timeouts.
        let millis = u16::try_from(slice.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd, events)];
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) => {}
            // Readable, writable, hung up or in error: the read or write says which.
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return Err(Fault::Exited),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_report_mean_and_p99_over_a_bounded_window() {
        let mut t = Timings::default();
        assert_eq!(t.mean_and_p99(), (0, 0));
        for micros in 1..=100 {
            t.record(Duration::from_micros(micros));
        }
        assert_eq!(t.mean_and_p99(), (50, 99));
        for _ in 0..5000 {
            t.record(Duration::from_micros(7));
        }
        assert_eq!(t.recent.len(), TIMING_WINDOW);
        assert_eq!(t.mean_and_p99(), (7, 7));
    }
}

//! A hound worker that misbehaves on purpose, for the hostile-worker scenarios.
//!
//! It runs the real [`tracehound::hound::serve`] loop, sandbox included, with one analyzer
//! that acts out the behaviour named by its first argument when a job's payload contains
//! `"hostile"`, and analyses other payloads normally. So a scenario can send one hostile job,
//! watch the host survive and replace the worker, then send a benign job to the replacement.
use std::io::Write;
use std::process::ExitCode;

use tracehound::hound::{self, Analyzer, Facts, Input, Report};
use tracehound_codec::ipc::{self, WorkerMessage};

struct Hostile {
    mode: String,
}

impl Analyzer for Hostile {
    fn name(&self) -> &'static str {
        "hostile"
    }

    fn analyze(&mut self, input: &Input<'_>, facts: &mut Facts) {
        let triggered = input.bytes().windows(7).any(|w| w == b"hostile");
        facts.flag("triggered", triggered);
        if triggered {
            act(&self.mode, facts);
        }
    }
}

fn act(mode: &str, facts: &mut Facts) {
    match mode {
        // Dies mid-job.
        "crash" => std::process::exit(3),
        // Never answers.
        "hang" => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        // Writes pseudo-random bytes to stdout until it is killed.
        "flood" => {
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            let mut chunk = vec![0u8; 64 * 1024];
            let mut out = std::io::stdout();
            loop {
                for byte in chunk.iter_mut() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    *byte = state as u8;
                }
                if out.write_all(&chunk).is_err() {
                    std::process::exit(4);
                }
            }
        }
        // Claims a 4 GB frame, then carries on as if nothing happened.
        "bigframe" => {
            let mut out = std::io::stdout();
            let _ = out.write_all(&[0xFF; 4]);
            let _ = out.flush();
        }
        // Grabs memory in 16 MiB steps (touching it) until the allocator says no, and
        // reports how far it got: the address-space limit is what stops it.
        "alloc" => {
            // Filled by memcpy from one chunk, so the worker touches its memory quickly even
            // in an unoptimized build.
            let chunk = vec![1u8; 1 << 20];
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut block = Vec::new();
                if block.try_reserve_exact(16 << 20).is_err() {
                    break;
                }
                for _ in 0..16 {
                    block.extend_from_slice(&chunk);
                }
                held.push(block);
            }
            facts.count("alloc.mib", held.len() as u64 * 16);
        }
        // Allocates without checking: the failed allocation aborts the worker.
        "oom" => {
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                held.push(vec![1u8; 16 << 20]);
            }
        }
        // Tries to start a process.
        "fork" => {
            let spawned = std::process::Command::new("/bin/true").spawn().is_ok();
            facts.flag("spawned", spawned);
        }
        // Tries to open a TCP connection.
        "socket" => {
            let connected = std::net::TcpStream::connect(("127.0.0.1", 9)).is_ok();
            facts.flag("connected", connected);
        }
        // Tries to create a file; the path comes from the job so the test can look for it.
        "file" => {
            let written = std::fs::write("/tmp/tracehound-hostile-hound-file", b"x").is_ok();
            facts.flag("written", written);
        }
        // Smuggles payload-like text into a label, which the host must refuse.
        "label" => {
            let text: &'static str = Box::leak(String::from("DROP TABLE users").into_boxed_str());
            facts.label("leak", text);
        }
        // Answers first with a well-formed report for a job that does not exist, or ("forge")
        // for this job (the first job of a host is job 1) but about some other payload.
        "wrongjob" | "forge" => {
            let forged = WorkerMessage::Report(Report {
                job: if mode == "forge" { 1 } else { u64::MAX },
                decoded_size: 0,
                decoded_hash: [0; 32],
                findings: Vec::new(),
            });
            let _ = ipc::write_frame(&mut std::io::stdout(), &forged, ipc::MAX_WORKER_FRAME);
        }
        _ => facts.flag("unknown_mode", true),
    }
}

/// A worker that speaks the protocol itself, without `serve` or a sandbox, and lies that it
/// is sandboxed: it answers every job correctly, then burns CPU while idle. Only the host's
/// idle check can catch it.
fn spin_when_idle() -> ExitCode {
    use tracehound::Digest;
    use tracehound_codec::ipc::{HostMessage, PROTOCOL_VERSION, Ready, SandboxStatus};
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut buf = Vec::new();
    let mut answer = |message: &WorkerMessage| {
        ipc::write_frame(&mut output, message, ipc::MAX_WORKER_FRAME).is_ok()
    };
    let lie = SandboxStatus {
        no_new_privs: true,
        rlimits: true,
        seccomp: true,
        landlock: true,
        unprivileged: true,
    };
    let ready = WorkerMessage::Ready(Ready {
        version: PROTOCOL_VERSION,
        sandbox: lie,
        analyzers: Vec::new(),
    });
    if !matches!(ipc::read_frame(&mut input, &mut buf, 1024), Ok(true)) || !answer(&ready) {
        return ExitCode::FAILURE;
    }
    // One job is enough: after answering it, the worker never reads again.
    if let Ok(true) = ipc::read_frame(&mut input, &mut buf, ipc::DEFAULT_MAX_FRAME) {
        let Ok(HostMessage::Job(job)) = ipc::decode::<HostMessage<'_>>(&buf) else {
            return ExitCode::FAILURE;
        };
        let report = WorkerMessage::Report(Report {
            job: job.id,
            decoded_size: job.bytes.len() as u64,
            decoded_hash: Digest::of(job.bytes).into(),
            findings: Vec::new(),
        });
        if !answer(&report) {
            return ExitCode::FAILURE;
        }
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode == "spin-idle" {
        return spin_when_idle();
    }
    let mut analyzers = hound::builtin_analyzers();
    analyzers.push(Box::new(Hostile { mode }));
    hound::serve(analyzers)
}

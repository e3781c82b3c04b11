//! Hound IPC: the round trip of one job through a live, sandboxed worker, and a worker's
//! spawn-to-ready time (process start, sandbox, handshake).
//!
//! Both speak the protocol directly with `tracehound_codec::ipc`, as the pool does, to a
//! real `bench-hound` process (the stock worker's `main`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // benches fail loudly

use std::io::Write;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tracehound_codec::Digest;
use tracehound_codec::ipc::{
    self, DEFAULT_MAX_FRAME, Encoding, Hello, HostMessage, Job, MAX_WORKER_FRAME, PROTOCOL_VERSION,
    WorkerLimits, WorkerMessage,
};

const HOUND: &str = env!("CARGO_BIN_EXE_bench-hound");

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    buf: Vec<u8>,
}

impl Worker {
    fn ready() -> Worker {
        let mut child = Command::new(HOUND)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut worker = Worker {
            stdin: child.stdin.take().unwrap(),
            stdout: child.stdout.take().unwrap(),
            child,
            buf: Vec::new(),
        };
        let hello = HostMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: WorkerLimits {
                address_space: 512 << 20,
                cpu_seconds: 300,
                max_decoded: 16 << 20,
                max_frame: DEFAULT_MAX_FRAME,
            },
        });
        ipc::write_frame(&mut worker.stdin, &hello, DEFAULT_MAX_FRAME).unwrap();
        match worker.answer() {
            WorkerMessage::Ready(ready) => assert!(ready.sandbox.is_complete()),
            other => panic!("expected ready, got {other:?}"),
        }
        worker
    }

    fn answer(&mut self) -> WorkerMessage {
        assert!(ipc::read_frame(&mut self.stdout, &mut self.buf, MAX_WORKER_FRAME).unwrap());
        ipc::decode(&self.buf).unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request-shaped JSON payload of about `size` bytes.
fn payload(size: usize) -> Vec<u8> {
    let mut text =
        String::from(r#"{"method":"POST","path":"/api/search","body":{"q":"' OR 1=1 --","pad":""#);
    while text.len() < size - 3 {
        text.push_str("abcdefghij");
    }
    text.truncate(size - 3);
    text.push_str(r#""}}"#);
    text.into_bytes()
}

fn round_trip(c: &mut Criterion) {
    let mut worker = Worker::ready();
    let evidence = payload(1024);
    let hash: [u8; 32] = Digest::of(&evidence).into();
    let mut frame = Vec::new();
    let mut id = 0u64;
    c.bench_function("hound/ipc_round_trip_1k", |b| {
        b.iter(|| {
            id += 1;
            frame.clear();
            let job = HostMessage::Job(Job {
                id,
                evidence_hash: hash,
                encoding: Encoding::Plain,
                bytes: &evidence,
            });
            ipc::encode_frame(&mut frame, &job, DEFAULT_MAX_FRAME).unwrap();
            worker.stdin.write_all(&frame).unwrap();
            match worker.answer() {
                WorkerMessage::Report(report) => assert_eq!(report.job, id),
                other => panic!("expected a report, got {other:?}"),
            }
        })
    });
}

/// The built-in analysis alone, in process: the part of the round trip that is not IPC.
fn builtin_analysis(c: &mut Criterion) {
    use tracehound::hound::{Facts, Input, builtin_analyzers};
    let evidence = payload(1024);
    let mut analyzers = builtin_analyzers();
    c.bench_function("hound/builtin_analysis_1k", |b| {
        b.iter(|| {
            let input = Input::new(&evidence);
            for analyzer in analyzers.iter_mut() {
                let mut facts = Facts::default();
                analyzer.analyze(&input, &mut facts);
                std::hint::black_box(facts.len());
            }
        })
    });
}

fn spawn_to_ready(c: &mut Criterion) {
    // The worker is killed and reaped when dropped, outside the measured time.
    c.bench_function("hound/spawn_to_ready", |b| {
        b.iter_with_large_drop(Worker::ready)
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = round_trip, builtin_analysis, spawn_to_ready
}
criterion_main!(benches);

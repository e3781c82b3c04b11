//! The worker side: the `serve` loop every hound runs.

use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use tracehound_codec::ipc::{
    self, Encoding, FrameError, HostMessage, Job, JobFailure, MAX_WORKER_FRAME, PROTOCOL_VERSION,
    Ready, Report, WorkerMessage,
};
use tracehound_codec::{CodecError, Digest};

use crate::hound::sandbox;
use crate::hound::{Analyzer, Facts, Input};

/// Largest `Hello` a worker accepts before it knows the host's frame cap.
const HELLO_MAX_FRAME: u32 = 1024;

/// Exit codes of [`serve`], for the host's diagnostics.
mod exit {
    /// The host closed stdin: a normal end.
    pub(super) const DONE: u8 = 0;
    /// The host spoke another protocol version, or did not start with `Hello`.
    pub(super) const HANDSHAKE: u8 = 2;
    /// A frame from the host was malformed, or stdin/stdout failed.
    pub(super) const PROTOCOL: u8 = 3;
}

/// Runs a hound worker on this process's stdin and stdout until the host closes stdin.
///
/// This is the whole `main` of the stock `tracehound-hound` binary, and of any custom hound:
///
/// ```no_run
/// use std::process::ExitCode;
/// use tracehound::hound;
///
/// fn main() -> ExitCode {
///     let mut analyzers = hound::builtin_analyzers();
///     // analyzers.push(Box::new(MyAnalyzer::default()));
///     hound::serve(analyzers)
/// }
/// ```
///
/// It reads the host's `Hello`, enters the sandbox (see the [module docs](crate::hound)) with
/// the host's limits, answers `Ready`, then answers each job with one report. For each job it
/// checks the evidence against its recorded SHA-256, decodes it within the limits (a gzip
/// stream stops at its declared size and the host's cap), and runs every analyzer on it,
/// catching panics. It never writes anything but protocol frames to stdout.
pub fn serve(analyzers: Vec<Box<dyn Analyzer>>) -> ExitCode {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let code = serve_on(&mut stdin.lock(), &mut stdout.lock(), analyzers, true);
    ExitCode::from(code)
}

/// The loop of [`serve`] over any streams; `sandboxed` is false only in unit tests, which
/// must not lock down the test process.
pub(crate) fn serve_on<R: Read, W: Write>(
    input: &mut R,
    output: &mut W,
    mut analyzers: Vec<Box<dyn Analyzer>>,
    sandboxed: bool,
) -> u8 {
    let mut buf = Vec::new();
    let hello = match ipc::read_frame(input, &mut buf, HELLO_MAX_FRAME) {
        Ok(true) => match ipc::decode::<HostMessage<'_>>(&buf) {
            Ok(HostMessage::Hello(hello)) if hello.version == PROTOCOL_VERSION => hello,
            _ => return exit::HANDSHAKE,
        },
        _ => return exit::HANDSHAKE,
    };
    let sandbox = if sandboxed {
        sandbox::enter(&hello.limits)
    } else {
        Default::default()
    };
    let ready = WorkerMessage::Ready(Ready {
        version: PROTOCOL_VERSION,
        sandbox,
        analyzers: analyzers.iter().map(|a| a.name().to_owned()).collect(),
    });
    if ipc::write_frame(output, &ready, MAX_WORKER_FRAME).is_err() {
        return exit::PROTOCOL;
    }
    let limits = hello.limits;
    let mut out = Vec::with_capacity(4096);
    loop {
        match ipc::read_frame(input, &mut buf, limits.max_frame) {
            Ok(false) => return exit::DONE,
            Ok(true) => {}
            Err(_) => return exit::PROTOCOL,
        }
        let answer = match ipc::decode::<HostMessage<'_>>(&buf) {
            Ok(HostMessage::Job(job)) => analyse(&job, limits.max_decoded, &mut analyzers),
            Ok(HostMessage::Hello(_)) | Err(_) => return exit::PROTOCOL,
        };
        out.clear();
        let sent = ipc::encode_frame(&mut out, &answer, MAX_WORKER_FRAME)
            .or_else(|error| match (error, &answer) {
                // A report too large to send (custom analyzers with long names) fails the
                // job rather than the worker.
                (FrameError::TooLarge { .. }, WorkerMessage::Report(report)) => {
                    let failed = WorkerMessage::Failed {
                        job: report.job,
                        reason: JobFailure::ReportTooLarge,
                    };
                    ipc::encode_frame(&mut out, &failed, MAX_WORKER_FRAME)
                }
                (error, _) => Err(error),
            })
            .and_then(|()| output.write_all(&out).map_err(FrameError::Io))
            .and_then(|()| output.flush().map_err(FrameError::Io));
        if sent.is_err() {
            return exit::PROTOCOL;
        }
    }
}

fn analyse(job: &Job<'_>, max_decoded: u64, analyzers: &mut [Box<dyn Analyzer>]) -> WorkerMessage {
    let failed = |reason| WorkerMessage::Failed {
        job: job.id,
        reason,
    };
    if Digest::of(job.bytes) != Digest::from(job.evidence_hash) {
        return failed(JobFailure::IntegrityMismatch);
    }
    let decoded;
    let payload: &[u8] = match job.encoding {
        Encoding::Plain => job.bytes,
        Encoding::Gzip { original_size } => {
            match tracehound_codec::gzip::decode(job.bytes, original_size, max_decoded) {
                Ok(bytes) => {
                    decoded = bytes;
                    &decoded
                }
                Err(CodecError::TooLarge { .. }) => return failed(JobFailure::DecodedTooLarge),
                Err(_) => return failed(JobFailure::DecodeFailed),
            }
        }
    };
    let input = Input::new(payload);
    let mut findings = Vec::with_capacity(analyzers.len());
    for (index, analyzer) in analyzers.iter_mut().enumerate() {
        let mut facts = Facts::default();
        let ran = panic::catch_unwind(AssertUnwindSafe(|| analyzer.analyze(&input, &mut facts)));
        if ran.is_err() {
            let index = u16::try_from(index).unwrap_or(u16::MAX);
            return failed(JobFailure::AnalyzerPanicked(index));
        }
        findings.push(facts.into_finding(analyzer.name()));
    }
    WorkerMessage::Report(Report {
        job: job.id,
        decoded_size: payload.len() as u64,
        decoded_hash: Digest::of(payload).into(),
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracehound_codec::ipc::{DEFAULT_MAX_FRAME, Hello, WorkerLimits};

    fn hello() -> HostMessage<'static> {
        HostMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: WorkerLimits {
                address_space: 1 << 30,
                cpu_seconds: 10,
                max_decoded: 1 << 20,
                max_frame: DEFAULT_MAX_FRAME,
            },
        })
    }

    fn run(messages: &[HostMessage<'_>]) -> (u8, Vec<WorkerMessage>) {
        let mut input = Vec::new();
        for m in messages {
            ipc::encode_frame(&mut input, m, DEFAULT_MAX_FRAME).ok();
        }
        let mut output = Vec::new();
        let code = serve_on(
            &mut &input[..],
            &mut output,
            crate::hound::builtin_analyzers(),
            false,
        );
        let mut answers = Vec::new();
        let mut cursor = &output[..];
        let mut buf = Vec::new();
        while let Ok(true) = ipc::read_frame(&mut cursor, &mut buf, MAX_WORKER_FRAME) {
            if let Ok(m) = ipc::decode::<WorkerMessage>(&buf) {
                answers.push(m);
            }
        }
        (code, answers)
    }

    fn job(id: u64, bytes: &[u8], hash: Digest) -> HostMessage<'_> {
        HostMessage::Job(Job {
            id,
            evidence_hash: hash.into(),
            encoding: Encoding::Plain,
            bytes,
        })
    }

    #[test]
    fn answers_each_job_with_its_id_and_stops_at_end_of_input() {
        let evidence = br#"{"q":"1 OR 1=1"}"#;
        let (code, answers) = run(&[
            hello(),
            job(1, evidence, Digest::of(evidence)),
            job(2, evidence, Digest::of(b"other")),
        ]);
        assert_eq!(code, exit::DONE);
        assert!(matches!(&answers[0], WorkerMessage::Ready(r) if r.analyzers.len() == 2));
        match &answers[1] {
            WorkerMessage::Report(report) => {
                assert_eq!(report.job, 1);
                assert_eq!(report.decoded_size, evidence.len() as u64);
                assert!(report.validate().is_ok());
            }
            other => panic!("expected a report, got {other:?}"),
        }
        assert_eq!(
            answers[2],
            WorkerMessage::Failed {
                job: 2,
                reason: JobFailure::IntegrityMismatch
            }
        );
    }

    #[test]
    fn gzip_jobs_decode_within_their_declared_size_and_the_cap() {
        use tracehound_codec::gzip::{self, Level};
        let payload = br#"{"q":"a gzip payload"}"#;
        let stream = gzip::encode(payload, Level::default()).unwrap_or_default();
        let bomb = gzip::encode(&vec![0u8; 4 << 20], Level::default()).unwrap_or_default();
        fn gzip_job(id: u64, bytes: &[u8], original_size: u64) -> HostMessage<'_> {
            HostMessage::Job(Job {
                id,
                evidence_hash: Digest::of(bytes).into(),
                encoding: Encoding::Gzip { original_size },
                bytes,
            })
        }
        let (code, answers) = run(&[
            hello(),
            gzip_job(1, &stream, payload.len() as u64),
            // Declares less than it holds: stops at the declared size.
            gzip_job(2, &bomb, 1024),
            // Declares more than the worker's 1 MiB cap: refused before decoding.
            gzip_job(3, &bomb, 4 << 20),
            gzip_job(4, b"not gzip", 8),
        ]);
        assert_eq!(code, exit::DONE);
        match &answers[1] {
            WorkerMessage::Report(report) => {
                assert_eq!(report.decoded_size, payload.len() as u64);
                assert_eq!(report.decoded_hash, <[u8; 32]>::from(Digest::of(payload)));
            }
            other => panic!("expected a report, got {other:?}"),
        }
        let failure = |job, reason| WorkerMessage::Failed { job, reason };
        assert_eq!(answers[2], failure(2, JobFailure::DecodedTooLarge));
        assert_eq!(answers[3], failure(3, JobFailure::DecodedTooLarge));
        assert_eq!(answers[4], failure(4, JobFailure::DecodeFailed));
    }

    #[test]
    fn refuses_a_wrong_version_or_a_job_before_hello() {
        let evidence = b"x";
        let (code, answers) = run(&[job(1, evidence, Digest::of(evidence))]);
        assert_eq!((code, answers.len()), (exit::HANDSHAKE, 0));
        let wrong = HostMessage::Hello(Hello {
            version: PROTOCOL_VERSION + 1,
            limits: WorkerLimits {
                address_space: 0,
                cpu_seconds: 0,
                max_decoded: 0,
                max_frame: 0,
            },
        });
        assert_eq!(run(&[wrong]).0, exit::HANDSHAKE);
    }

    #[test]
    fn a_panicking_analyzer_fails_only_its_job() {
        struct Boom;
        impl Analyzer for Boom {
            fn name(&self) -> &'static str {
                "boom"
            }
            fn analyze(&mut self, input: &Input<'_>, _facts: &mut Facts) {
                assert!(input.bytes() != b"boom", "analyzer failed");
            }
        }
        let mut input = Vec::new();
        for m in [
            hello(),
            job(1, b"boom", Digest::of(b"boom")),
            job(2, b"fine", Digest::of(b"fine")),
        ] {
            ipc::encode_frame(&mut input, &m, DEFAULT_MAX_FRAME).ok();
        }
        let mut output = Vec::new();
        let code = serve_on(&mut &input[..], &mut output, vec![Box::new(Boom)], false);
        assert_eq!(code, exit::DONE);
        let mut cursor = &output[..];
        let mut buf = Vec::new();
        let mut answers = Vec::new();
        while let Ok(true) = ipc::read_frame(&mut cursor, &mut buf, MAX_WORKER_FRAME) {
            answers.push(ipc::decode::<WorkerMessage>(&buf).ok());
        }
        assert_eq!(
            answers[1],
            Some(WorkerMessage::Failed {
                job: 1,
                reason: JobFailure::AnalyzerPanicked(0)
            })
        );
        assert!(matches!(answers[2], Some(WorkerMessage::Report(ref r)) if r.job == 2));
    }
}

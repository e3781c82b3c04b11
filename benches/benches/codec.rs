//! Envelope costs next to their parts: a v2 envelope sealed and opened (verified) for 4 KiB and
//! 1 MiB of JSON evidence, beside plain gzip at the same level and gzip plus a SHA-256 of the
//! compressed bytes done separately, so the ratio envelope / (gzip + SHA-256) can be read off.
//! Run with `cargo bench -p tracehound-benches --bench codec`; see BENCHMARKS.md.
//!
//! All gzip here is `tracehound_codec::gzip` (flate2 with the zlib-rs backend, level 6): the
//! envelope uses the same compressor, so the difference is the envelope's own work (header,
//! hashing the header, the size checks, the bounded decoder's bookkeeping).
#![allow(clippy::unwrap_used, clippy::expect_used)] // benches fail loudly

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tracehound_codec::Digest;
use tracehound_codec::envelope::{self, EnvelopeReader};
use tracehound_codec::gzip::{self, Level};

const SIZES: [(usize, &str); 2] = [(4 * 1024, "4KiB"), (1024 * 1024, "1MiB")];
const CAP: u64 = 16 << 20;

/// Captured-request evidence: varied JSON objects (methods, paths, query strings with
/// injection attempts, headers), like what a quarantine evacuates. Deterministic.
fn evidence(len: usize) -> Vec<u8> {
    const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
    const PROBES: [&str; 6] = [
        "' OR 1=1 --",
        "<script>alert(document.cookie)</script>",
        "../../../../etc/passwd",
        "${jndi:ldap://198.51.100.7/a}",
        "admin'/*",
        "1; DROP TABLE users",
    ];
    let mut out = Vec::with_capacity(len + 512);
    out.push(b'[');
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0u64;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ts = 1_764_000_000_000u64 + i * 37 + (x % 1000);
        let method = METHODS[(x % 4) as usize];
        let resource = ["users", "orders", "search", "login"][((x >> 8) % 4) as usize];
        let probe = PROBES[((x >> 16) % 6) as usize];
        write!(
            out,
            r#"{{"seq":{i},"ts":{ts},"method":"{method}","path":"/api/v{}/{resource}/{}","#,
            1 + x % 3,
            x % 100_000
        )
        .unwrap();
        write!(out, r#""query":{{"q":"{probe}","page":{}}},"#, x % 50).unwrap();
        write!(
            out,
            r#""headers":{{"user-agent":"Mozilla/5.0 (X11; Linux x86_64) rv:{}.0","#,
            100 + x % 40
        )
        .unwrap();
        write!(
            out,
            r#""x-forwarded-for":"203.0.113.{}","accept":"application/json"}},"#,
            x % 256
        )
        .unwrap();
        write!(
            out,
            r#""body_sha256":"{:016x}{:016x}"}},"#,
            x,
            x.rotate_left(29)
        )
        .unwrap();
        i += 1;
    }
    out.truncate(len);
    out
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec encode");
    for (size, name) in SIZES {
        let payload = evidence(size);
        group.throughput(Throughput::Bytes(size as u64));
        if size > 64 * 1024 {
            group.sample_size(30);
        } else {
            group.sample_size(100);
        }
        group.bench_with_input(BenchmarkId::new("gzip", name), &payload, |b, p| {
            b.iter(|| gzip::encode(black_box(p), Level::DEFAULT).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("gzip + sha256", name), &payload, |b, p| {
            b.iter(|| {
                let packed = gzip::encode(black_box(p), Level::DEFAULT).unwrap();
                let hash = Digest::of(&packed);
                (packed, hash)
            })
        });
        group.bench_with_input(
            BenchmarkId::new("envelope v2 seal", name),
            &payload,
            |b, p| b.iter(|| envelope::seal(black_box(p)).unwrap()),
        );
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec decode");
    for (size, name) in SIZES {
        let payload = evidence(size);
        let packed = gzip::encode(&payload, Level::DEFAULT).unwrap();
        let hash = Digest::of(&packed);
        let sealed = envelope::seal(&payload).unwrap();
        let len = payload.len() as u64;
        group.throughput(Throughput::Bytes(size as u64));
        if size > 64 * 1024 {
            group.sample_size(30);
        } else {
            group.sample_size(100);
        }
        group.bench_function(BenchmarkId::new("gunzip", name), |b| {
            b.iter(|| gzip::decode(black_box(&packed), len, CAP).unwrap())
        });
        group.bench_function(BenchmarkId::new("sha256 + gunzip", name), |b| {
            b.iter(|| {
                assert!(Digest::of(black_box(&packed)) == hash);
                gzip::decode(&packed, len, CAP).unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("envelope v2 open", name), |b| {
            b.iter(|| envelope::open(black_box(&sealed), CAP).unwrap())
        });
        let mut out = Vec::with_capacity(size);
        group.bench_function(BenchmarkId::new("envelope v2 stream read", name), |b| {
            b.iter(|| {
                out.clear();
                let mut reader = EnvelopeReader::new(black_box(&sealed[..]), CAP).unwrap();
                reader.read_to_end(&mut out).unwrap();
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = encode, decode
}
criterion_main!(benches);

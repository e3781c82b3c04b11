//! The stock hound worker, built inside the benches package so benchmarks can spawn it
//! (`CARGO_BIN_EXE_bench-hound`); the same `main` as `tracehound-hound`.
use std::process::ExitCode;

fn main() -> ExitCode {
    tracehound::hound::serve(tracehound::hound::builtin_analyzers())
}

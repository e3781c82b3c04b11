//! The stock hound worker: the built-in analyzers on the [`tracehound::hound::serve`] loop.
//!
//! A hound pool spawns this binary; it is not meant to be run by hand. It speaks the hound
//! IPC protocol on stdin and stdout and locks itself down before its first job.
use std::process::ExitCode;

fn main() -> ExitCode {
    tracehound::hound::serve(tracehound::hound::builtin_analyzers())
}

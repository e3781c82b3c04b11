//! tracehound as actix-web middleware (in progress).
#![forbid(unsafe_code)]

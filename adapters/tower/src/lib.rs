//! tracehound as a tower layer (in progress).
#![forbid(unsafe_code)]

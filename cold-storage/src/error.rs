//! Why a store could not be opened.

use std::fmt;
use std::path::PathBuf;

/// Why a cold store could not be opened. Every variant says what to change; none holds a
/// secret (option values are never repeated, only their keys).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The configured URL does not parse, or has a shape its scheme does not allow.
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme is none of `file`, `memory`, `s3`, `gs` or `az`.
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// The URL names a backend this build leaves out; rebuild with the Cargo feature.
    FeatureDisabled {
        /// The scheme found.
        scheme: &'static str,
        /// The feature of `tracehound-cold-storage` that brings it.
        feature: &'static str,
    },
    /// The root inside the bucket (the URL's path) is not a valid object path.
    InvalidRoot {
        /// The root as given.
        root: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting that the backend does not know or does not accept.
    InvalidOption {
        /// The option's key (its value is not repeated: it may be a secret).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The backend rejected its configuration (a missing bucket, region or credential).
    Backend {
        /// `s3`, `gcs`, `azure`, `file` or `memory`.
        backend: &'static str,
        /// The backend's message.
        message: String,
    },
    /// The directory of a `file://` store could not be created or opened.
    Directory {
        /// The directory.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The store's own runtime thread could not be started, or a runtime handle cannot be
    /// used (a current-thread runtime would leave every call waiting for the caller).
    Runtime {
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::InvalidUrl { url, reason } => {
                write!(f, "invalid cold-store URL {url:?}: {reason}")
            }
            OpenError::UnsupportedScheme { scheme } => write!(
                f,
                "unsupported cold-store URL scheme {scheme:?}: use file://, memory://, s3://, gs:// or az://"
            ),
            OpenError::FeatureDisabled { scheme, feature } => write!(
                f,
                "{scheme}:// stores are not compiled in: build tracehound-cold-storage with the {feature:?} feature"
            ),
            OpenError::InvalidRoot { root, reason } => {
                write!(f, "invalid root {root:?} inside the bucket: {reason}")
            }
            OpenError::InvalidOption { key, reason } => {
                write!(f, "invalid cold-store option {key:?}: {reason}")
            }
            OpenError::Backend { backend, message } => {
                write!(
                    f,
                    "the {backend} backend rejected its configuration: {message}"
                )
            }
            OpenError::Directory { path, message } => write!(
                f,
                "cannot create the cold-store directory {}: {message}",
                path.display()
            ),
            OpenError::Runtime { message } => write!(f, "cold-store runtime: {message}"),
        }
    }
}

impl std::error::Error for OpenError {}

//! Write-once cold storage for tracehound: the core's synchronous
//! [`ColdStore`](tracehound::cold::ColdStore) seam over a local directory or an object store
//! (S3 and S3-compatible stores, Google Cloud Storage, Azure Blob Storage).
//!
//! The core stays free of async runtimes and cloud SDKs; this crate brings
//! [`object_store`] and a small tokio runtime of its own (one worker thread), or runs on a
//! runtime the application lends it. A local directory needs neither: it is written with
//! plain file-system calls on the calling thread.
//!
//! # Quick start
//!
//! ```
//! use tracehound::cold::{ColdError, ColdStore, ObjectKey, Put};
//! use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("cold-doc-{}", std::process::id()));
//! let url = format!("file://{}", dir.display());
//! let store = ObjectStoreCold::open(&StoreConfig::new(url))?;
//!
//! let key = ObjectKey::new("evidence/demo/2026/12/07/injection/ab12.thcs")?;
//! assert_eq!(store.put(&key, b"envelope")?, Put::Created);
//! assert_eq!(store.put(&key, b"envelope")?, Put::Exists);
//! assert!(matches!(store.put(&key, b"other"), Err(ColdError::Conflict { .. })));
//! assert_eq!(store.get(&key)?.as_deref(), Some(&b"envelope"[..]));
//!
//! let mut listed = Vec::new();
//! store.list("evidence/demo/2026/12/0", &mut |key, size| listed.push((key.clone(), size)))?;
//! assert_eq!(listed, [(key.clone(), 8)]);
//! assert!(store.delete(&key)?);
//! # drop(store);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Evacuating a `Tracehound` to it
//!
//! ```
//! use std::sync::Arc;
//! use tracehound::cold::{ColdConfig, SpoolConfig};
//! use tracehound::Tracehound;
//! use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let base = std::env::temp_dir().join(format!("cold-doc-th-{}", std::process::id()));
//! let store = ObjectStoreCold::open(&StoreConfig::new(format!("file://{}/cold", base.display())))?;
//! let mut cold = ColdConfig::default();
//! cold.spool = Some(SpoolConfig::new(base.join("cold-spool")));
//! let tracehound = Tracehound::builder().cold(cold).cold_store(Arc::new(store)).build()?;
//! assert!(tracehound.snapshot().cold.enabled);
//! # drop(tracehound);
//! # std::fs::remove_dir_all(&base)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! * **Write once.** [`put`](tracehound::cold::ColdStore::put) is a conditional create
//!   (`If-None-Match: *` on S3 and Azure, `x-goog-if-generation-match: 0` on GCS, a no-clobber link on a
//!   local disk). If the key exists, the stored bytes are read back and compared: the same
//!   bytes are `Put::Exists`, different bytes `ColdError::Conflict`. Nothing is ever
//!   overwritten. A store that cannot create conditionally (S3 with
//!   `aws_conditional_put = "disabled"`) refuses every put.
//! * **Errors the caller can act on.** Not found is `Ok(None)` / `Ok(false)`; 401/403
//!   (bad credentials, a retention lock) are `ColdError::Refused`; everything else
//!   (refused connections, timeouts, 5xx) is `ColdError::Unavailable`, to retry later.
//!   Messages name the operation and the key, never object bytes.
//! * **Fails fast.** Cloud clients connect within 2 s, give a request 30 s and retry at
//!   most twice within 10 s (tracehound's uploader retries with backoff and spools to disk
//!   meanwhile). Every call returns within 300 s even if the store hangs. Override the
//!   timeouts with the `connect_timeout` and `timeout` [options](StoreConfig::options).
//! * **Any thread.** Calls block the caller, from any thread, including one inside another
//!   tokio runtime; no call panics on I/O or input.
//! * **A local directory** holds each object in a file at its key's path, laid out as
//!   object_store's `LocalFileSystem` lays them out (either reads the other's). An object
//!   is written into an unnamed file (`O_TMPFILE`) and then linked to its name, which fails
//!   if the name exists: a crash leaves the whole object or no name, never part of one,
//!   and nothing to clean up. Where unnamed files are not available (another OS, a file
//!   system without them, no `/proc`) it is staged under a name no key can have and
//!   hard-linked. Deletes leave emptied directories in place (one per day and category).
//! * A local directory store is durable before anything is reported written: on Linux,
//!   [`sync`](tracehound::cold::ColdStore::sync) flushes its file system (`syncfs`) once per
//!   batch of the uploader's writes, before any of them is audited as evacuated; elsewhere
//!   each object and its directory are synced before `put` returns.
//!
//! Not protected against: someone with write access to the bucket replacing an object
//! (a later `put` reports the conflict and `get` returns the changed bytes: callers verify
//! what they read); deletes by anyone holding delete rights, unless the bucket has
//! object lock or retention configured (then deletes are `Refused`).
//!
//! # Backends and their environment
//!
//! Cloud stores read their credentials from the environment as object_store does (the
//! builders' `from_env`), then the [`StoreConfig`] fields, then its `options`, each
//! overriding the one before. The root inside the bucket is the URL's path.
//!
//! | URL | feature | environment read |
//! |---|---|---|
//! | `file:///abs/dir` | always | none |
//! | `memory://` | always | none |
//! | `s3://bucket/root` | `s3` | every `AWS_*` object_store knows: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT` (or `AWS_ENDPOINT_URL`), `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`; else the instance metadata service |
//! | `gs://bucket/root` | `gcs` | `GOOGLE_SERVICE_ACCOUNT` (or `GOOGLE_SERVICE_ACCOUNT_PATH`, a key file), `GOOGLE_SERVICE_ACCOUNT_KEY` (the key's JSON), `GOOGLE_APPLICATION_CREDENTIALS`; else the gcloud default credentials file or the metadata server |
//! | `az://container/root` | `azure` | `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY` (or `AZURE_STORAGE_ACCESS_KEY`), `AZURE_STORAGE_SAS_KEY`, `AZURE_STORAGE_CLIENT_ID` / `_CLIENT_SECRET` / `_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_STORAGE_USE_EMULATOR` (with `AZURITE_BLOB_STORAGE_URL`, default `http://127.0.0.1:10000`) |
//!
//! * **S3-compatible stores** (Cloudflare R2, Ceph, moto): set `endpoint`
//!   (`https://ACCOUNT.r2.cloudflarestorage.com`) and `region` (`auto` for R2); requests
//!   then use path-style URLs. `allow_http = true` only for an emulator on a trusted host.
//! * **Server-side encryption on S3**: object_store's options
//!   `aws_server_side_encryption` (`AES256`, `aws:kms`, `aws:kms:dsse` or `sse-c`),
//!   `aws_sse_kms_key_id`, `aws_sse_bucket_key_enabled` and `aws_sse_customer_key_base64`
//!   (SSE-C; the key is then sent with every request, reads included). Azure has
//!   `azure_storage_encryption_key` (customer-provided key). GCS encrypts at rest by
//!   default; object_store sets nothing for it.
//! * **Azure emulator** (Azurite): `use_emulator = "true"` in `options` (account
//!   `devstoreaccount1` and its published key, at `AZURITE_BLOB_STORAGE_URL`), or name the
//!   account, key and `endpoint = "http://HOST:PORT/devstoreaccount1"` with
//!   `allow_http = true`. Containers are not created by this crate.
//!
//! # Feature flags
//!
//! None is on by default; the local directory and memory stores need none.
//!
//! | feature | brings |
//! |---|---|
//! | `s3` | `s3://`: S3 and S3-compatible stores |
//! | `gcs` | `gs://`: Google Cloud Storage |
//! | `azure` | `az://`: Azure Blob Storage |
//!
//! The cloud features speak HTTPS through reqwest and rustls with the **ring** crypto
//! provider (object_store's `*-base` features + `reqwest` + `ring`), not object_store's
//! batteries-included `aws`/`gcp`/`azure` features, which bring aws-lc-rs, a C and CMake
//! build. Measured on the project's 2-core machine, `CARGO_BUILD_JOBS=1`, a clean debug
//! build of this crate with `--features s3` and all its dependencies:
//!
//! | TLS and signing | clean build |
//! |---|---|
//! | object_store `aws` (rustls + aws-lc-rs, C and CMake) | 498 s |
//! | `aws-base` + `reqwest` + `ring`, reqwest `rustls-no-provider`, rustls `ring` (chosen) | 411 s |
//!
//! The ring build also needs no CMake. Its costs: opening the first cloud store makes
//! ring the process's default rustls provider, unless the application installed one
//! before (then that one is used); and rustls's ring provider (deprecated in rustls
//! 0.23.48 for this reason) offers no post-quantum hybrid key exchange, which aws-lc-rs
//! would. A client built by hand for [`ObjectStoreCold::new`] needs a provider installed
//! first (`rustls::crypto::ring::default_provider().install_default()`), or reqwest
//! panics while building it.
//!
//! # What is tested, and how
//!
//! * The write-once rules, not-found answers, deletes, prefix listing with sizes and
//!   nested keys: on memory and on a real temporary directory, with unnamed files and
//!   with staged ones; a directory written by object_store read by this crate and the
//!   other way round; strays (staging files, names no key has, links) not listed; two
//!   threads writing and deleting in one directory.
//! * S3 against a real **moto** server on 127.0.0.1 (its answer to `If-None-Match: *` is
//!   412): round trip, write-once, conflict, listing, deletes, an object replaced behind
//!   the store's back, and an unreachable endpoint failing fast as `Unavailable`.
//! * Azure against a real **Azurite** server on 127.0.0.1 (it answers 409): round trip,
//!   write-once, conflict, listing, deletes.
//! * GCS: configuration and key layout only. No emulator available to the project honours
//!   GCS conditional writes, so write-once on GCS rests on object_store's use of
//!   `x-goog-if-generation-match: 0`, untested here.
//!
//! `./scripts/test` installs moto and Azurite under `target/` when they are missing.
#![forbid(unsafe_code)]

mod config;
mod error;
mod local;
mod runtime;
mod store;

pub use config::StoreConfig;
pub use error::OpenError;
pub use store::ObjectStoreCold;

/// The object_store this crate was built with, for [`ObjectStoreCold::new`] callers who
/// build a store themselves.
pub use object_store;

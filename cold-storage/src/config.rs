//! [`StoreConfig`]: which store to open, from a URL and a few settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;
use serde::Deserialize;
use url::Url;

use crate::OpenError;

/// Which cold store to open: a URL naming the backend, the bucket and the root inside it,
/// plus the settings most deployments need. Credentials come from the environment each
/// backend reads (see the [crate docs](crate#backends-and-their-environment)) or from
/// [`options`](Self::options).
///
/// | URL | store |
/// |---|---|
/// | `file:///var/lib/tracehound/cold` | a local directory, created if missing |
/// | `memory://` | memory, for tests |
/// | `s3://bucket/root` | S3 or an S3-compatible store (feature `s3`) |
/// | `gs://bucket/root` | Google Cloud Storage (feature `gcs`) |
/// | `az://container/root` | Azure Blob Storage (feature `azure`) |
///
/// In TOML:
///
/// ```toml
/// url = "s3://evidence/tracehound/prod"
/// endpoint = "https://ACCOUNT.r2.cloudflarestorage.com"  # S3-compatible stores only
/// region = "auto"
///
/// [options]
/// aws_server_side_encryption = "aws:kms"
/// aws_sse_kms_key_id = "arn:aws:kms:eu-west-1:111122223333:key/example"
/// ```
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `file:///abs/dir`, `memory://`, `s3://bucket/root`, `gs://bucket/root` or
    /// `az://container/root`. The path after the bucket is the root every key is placed
    /// under.
    pub url: String,
    /// The service's base URL, for S3-compatible stores (Cloudflare R2, Ceph, moto), a
    /// private GCS endpoint or an Azure account URL. S3 requests then use path-style URLs.
    pub endpoint: Option<String>,
    /// The S3 region (`auto` for R2); S3 only.
    pub region: Option<String>,
    /// Allow plain `http://` endpoints, for emulators on a trusted host. Left `false`, the
    /// backend's environment decides (`AWS_ALLOW_HTTP`, ...), and by default refuses.
    pub allow_http: bool,
    /// Further settings, passed to object_store's builder by their object_store names
    /// (`aws_access_key_id`, `aws_server_side_encryption`, `google_service_account`,
    /// `azure_storage_account_name`, `use_emulator`, `timeout`, ...). They override the
    /// environment and this crate's defaults. Values are never printed: they may be secrets.
    pub options: BTreeMap<String, String>,
}

impl StoreConfig {
    /// A configuration with `url` and nothing else set.
    pub fn new(url: impl Into<String>) -> StoreConfig {
        StoreConfig {
            url: url.into(),
            ..StoreConfig::default()
        }
    }

    /// `self` with option `key` set to `value`.
    pub fn with_option(mut self, key: impl Into<String>, value: impl Into<String>) -> StoreConfig {
        self.options.insert(key.into(), value.into());
        self
    }

    /// Checks the URL, that its backend is compiled in, and that every setting is one the
    /// backend knows, without opening anything. (Whether credentials work is only known
    /// when the store is used.)
    pub fn validate(&self) -> Result<(), OpenError> {
        plan(self).map(|_| ())
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Option values may be access keys: show which are set, not what they are.
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a configuration opens: a local directory, written with plain file-system calls
/// (no runtime), or an object store and the root inside it.
pub(crate) enum Opened {
    Local(PathBuf),
    Store {
        store: Arc<dyn ObjectStore>,
        root: String,
    },
}

/// The local directory `config` names, if it names one; every other store needs a runtime
/// before [`open_store`] builds it.
pub(crate) fn local_dir(config: &StoreConfig) -> Result<Option<PathBuf>, OpenError> {
    Ok(match plan(config)?.backend {
        Backend::File(dir) => Some(dir),
        _ => None,
    })
}

pub(crate) fn open_store(config: &StoreConfig) -> Result<Opened, OpenError> {
    let Plan { backend, root } = plan(config)?;
    let store: Arc<dyn ObjectStore> = match backend {
        Backend::File(dir) => return Ok(Opened::Local(dir)),
        Backend::Memory => Arc::new(object_store::memory::InMemory::new()),
        #[cfg(feature = "s3")]
        Backend::S3(builder) => {
            install_tls_provider();
            Arc::new(builder.build().map_err(|e| backend_error("s3", &e))?)
        }
        #[cfg(feature = "gcs")]
        Backend::Gcs(builder) => {
            install_tls_provider();
            Arc::new(builder.build().map_err(|e| backend_error("gcs", &e))?)
        }
        #[cfg(feature = "azure")]
        Backend::Azure(builder) => {
            install_tls_provider();
            Arc::new(builder.build().map_err(|e| backend_error("azure", &e))?)
        }
    };
    Ok(Opened::Store { store, root })
}

/// Checks a root inside a bucket: `""`, or object path segments joined by `/`.
pub(crate) fn parse_root(root: &str) -> Result<String, OpenError> {
    if root.is_empty() {
        return Ok(String::new());
    }
    let invalid = |reason: String| OpenError::InvalidRoot {
        root: root.to_owned(),
        reason,
    };
    let path = Path::parse(root).map_err(|e| invalid(e.to_string()))?;
    if path.as_ref() != root {
        return Err(invalid(
            "write it as segments joined by '/', without a leading or trailing '/'".to_owned(),
        ));
    }
    Ok(root.to_owned())
}

struct Plan {
    backend: Backend,
    root: String,
}

enum Backend {
    File(PathBuf),
    Memory,
    #[cfg(feature = "s3")]
    S3(object_store::aws::AmazonS3Builder),
    #[cfg(feature = "gcs")]
    Gcs(object_store::gcp::GoogleCloudStorageBuilder),
    #[cfg(feature = "azure")]
    Azure(object_store::azure::MicrosoftAzureBuilder),
}

fn plan(config: &StoreConfig) -> Result<Plan, OpenError> {
    let invalid_url = |reason: &str| OpenError::InvalidUrl {
        url: config.url.clone(),
        reason: reason.to_owned(),
    };
    if config.url.is_empty() {
        return Err(invalid_url(
            "set url, e.g. file:///var/lib/tracehound/cold or s3://bucket/root",
        ));
    }
    let url = Url::parse(&config.url).map_err(|e| invalid_url(&e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid_url(
            "credentials do not belong in the URL; use the environment or options",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid_url("a query or fragment is not allowed"));
    }
    match url.scheme() {
        "file" => {
            local_only(config, "file")?;
            let dir = url
                .to_file_path()
                .map_err(|()| invalid_url("write a local directory as file:///absolute/dir"))?;
            Ok(Plan {
                backend: Backend::File(dir),
                root: String::new(),
            })
        }
        "memory" => {
            local_only(config, "memory")?;
            if url.host_str().is_some_and(|host| !host.is_empty()) {
                return Err(invalid_url("write memory:// or memory:///root"));
            }
            Ok(Plan {
                backend: Backend::Memory,
                root: url_root(&url)?,
            })
        }
        "s3" => cloud(config, &url, Cloud::S3),
        "gs" => cloud(config, &url, Cloud::Gcs),
        "az" => cloud(config, &url, Cloud::Azure),
        other => Err(OpenError::UnsupportedScheme {
            scheme: other.to_owned(),
        }),
    }
}

/// The cloud backends, whether compiled in or not (so a URL can name a missing feature).
#[derive(Clone, Copy)]
enum Cloud {
    S3,
    Gcs,
    Azure,
}

impl Cloud {
    fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
            Cloud::Azure => "az",
        }
    }

    fn feature(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gcs",
            Cloud::Azure => "azure",
        }
    }
}

fn cloud(config: &StoreConfig, url: &Url, cloud: Cloud) -> Result<Plan, OpenError> {
    let bucket = url.host_str().unwrap_or_default();
    if bucket.is_empty() {
        return Err(OpenError::InvalidUrl {
            url: config.url.clone(),
            reason: format!("write {}://bucket/root", cloud.scheme()),
        });
    }
    if url.port().is_some() {
        return Err(OpenError::InvalidUrl {
            url: config.url.clone(),
            reason: "a bucket has no port; put the service's address in endpoint".to_owned(),
        });
    }
    let root = url_root(url)?;
    let backend = cloud_backend(config, cloud, bucket)?;
    Ok(Plan { backend, root })
}

/// The builder for `bucket`, from the environment, then `config`; or which feature to enable.
fn cloud_backend(config: &StoreConfig, cloud: Cloud, bucket: &str) -> Result<Backend, OpenError> {
    match cloud {
        #[cfg(feature = "s3")]
        Cloud::S3 => {
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_url(format!("s3://{bucket}"))
                .with_retry(retry());
            for (key, value) in settings(config, Some("aws_endpoint"), Some("aws_region")) {
                builder = builder.with_config(option_key(&key, "S3", "AmazonS3ConfigKey")?, value);
            }
            Ok(Backend::S3(builder))
        }
        #[cfg(feature = "gcs")]
        Cloud::Gcs => {
            refuse_region(config, "gs")?;
            let mut builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(format!("gs://{bucket}"))
                .with_retry(retry());
            for (key, value) in settings(config, Some("google_base_url"), None) {
                builder = builder.with_config(option_key(&key, "GCS", "GoogleConfigKey")?, value);
            }
            Ok(Backend::Gcs(builder))
        }
        #[cfg(feature = "azure")]
        Cloud::Azure => {
            refuse_region(config, "az")?;
            let mut builder = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(format!("az://{bucket}"))
                .with_retry(retry());
            for (key, value) in settings(config, Some("azure_storage_endpoint"), None) {
                builder = builder.with_config(option_key(&key, "Azure", "AzureConfigKey")?, value);
            }
            Ok(Backend::Azure(builder))
        }
        #[allow(
            unreachable_patterns,
            reason = "reached only when a backend is left out"
        )]
        _ => {
            let _ = (config, bucket);
            Err(OpenError::FeatureDisabled {
                scheme: cloud.scheme(),
                feature: cloud.feature(),
            })
        }
    }
}

/// The root a URL's path names, percent-decoded.
fn url_root(url: &Url) -> Result<String, OpenError> {
    let path = Path::from_url_path(url.path()).map_err(|e| OpenError::InvalidRoot {
        root: url.path().to_owned(),
        reason: e.to_string(),
    })?;
    parse_root(path.as_ref())
}

/// `file://` and `memory://` take none of the network settings.
fn local_only(config: &StoreConfig, scheme: &str) -> Result<(), OpenError> {
    let unused = |key: &str| OpenError::InvalidOption {
        key: key.to_owned(),
        reason: format!("{scheme}:// stores take no network settings"),
    };
    if config.endpoint.is_some() {
        return Err(unused("endpoint"));
    }
    if config.region.is_some() {
        return Err(unused("region"));
    }
    if config.allow_http {
        return Err(unused("allow_http"));
    }
    if let Some(key) = config.options.keys().next() {
        return Err(unused(key));
    }
    Ok(())
}

#[cfg(any(feature = "gcs", feature = "azure"))]
fn refuse_region(config: &StoreConfig, scheme: &str) -> Result<(), OpenError> {
    match config.region {
        Some(_) => Err(OpenError::InvalidOption {
            key: "region".to_owned(),
            reason: format!("region applies to s3:// stores only, not {scheme}://"),
        }),
        None => Ok(()),
    }
}

/// Every setting for a cloud builder, by object_store key, in the order they apply: this
/// crate's fail-fast timeouts, then the named fields, then `options`, so a later one wins.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn settings(
    config: &StoreConfig,
    endpoint_key: Option<&str>,
    region_key: Option<&str>,
) -> Vec<(String, String)> {
    // An unreachable store should fail in seconds: tracehound's uploader retries with
    // backoff and spools to disk meanwhile.
    let mut settings = vec![
        ("connect_timeout".to_owned(), "2s".to_owned()),
        ("timeout".to_owned(), "30s".to_owned()),
    ];
    if let (Some(key), Some(endpoint)) = (endpoint_key, &config.endpoint) {
        settings.push((key.to_owned(), endpoint.clone()));
    }
    if let (Some(key), Some(region)) = (region_key, &config.region) {
        settings.push((key.to_owned(), region.clone()));
    }
    if config.allow_http {
        settings.push(("allow_http".to_owned(), "true".to_owned()));
    }
    settings.extend(config.options.iter().map(|(k, v)| (k.clone(), v.clone())));
    settings
}

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn option_key<K: std::str::FromStr>(key: &str, backend: &str, keys: &str) -> Result<K, OpenError> {
    key.parse().map_err(|_| OpenError::InvalidOption {
        key: key.to_owned(),
        reason: format!("not a {backend} option; see object_store's {keys} for the names"),
    })
}

/// Few, quick retries: the caller retries with backoff of its own.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 2,
        retry_timeout: std::time::Duration::from_secs(10),
        ..object_store::RetryConfig::default()
    }
}

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn backend_error(backend: &'static str, error: &object_store::Error) -> OpenError {
    OpenError::Backend {
        backend,
        message: error.to_string(),
    }
}

/// The cloud clients speak TLS through rustls, and this build gives rustls the ring
/// provider; it must be the process default before a client is built. If the application
/// installed a provider already, that one stays.
#[cfg(feature = "https")]
fn install_tls_provider() {
    #[allow(
        deprecated,
        reason = "rustls 0.23.48 deprecates ring's provider for lacking post-quantum key \
                  exchange; chosen for a build without a C toolchain (see the crate docs)"
    )]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
}

//! The demo's cold storage: evidence is evacuated to a directory beside the audit log (or to
//! the store `--cold` names), and one object is read back and verified from the store.

use std::path::Path;
use std::sync::Arc;

use tracehound::Tracehound;
use tracehound::cold::ColdStats;
use tracehound::cold::{ColdConfig, ColdStore, IndexEntry, Selection, SpoolConfig};
use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};

/// Where the demo evacuates to.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColdTarget {
    /// A store URL (`file:///dir`, `s3://bucket/root`, …); default: `<dir>/cold`.
    pub(crate) url: Option<String>,
    /// An S3-compatible endpoint.
    pub(crate) endpoint: Option<String>,
}

/// The store, its description, and the cold configuration (spool beside the audit log).
pub(super) fn open(
    target: &ColdTarget,
    dir: &Path,
) -> Result<(Arc<dyn ColdStore>, String, ColdConfig), String> {
    let url = target
        .url
        .clone()
        .unwrap_or_else(|| format!("file://{}", dir.join("cold").display()));
    let mut config = StoreConfig::new(url.as_str());
    config.endpoint.clone_from(&target.endpoint);
    config.allow_http = target
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    let store = ObjectStoreCold::open(&config).map_err(|e| format!("--cold {url}: {e}"))?;
    let mut cold = ColdConfig::default();
    cold.spool = Some(SpoolConfig::new(dir.join("cold-spool")));
    // The demo ends by evacuating everything it holds; a local disk synced per batch
    // needs some seconds for ten thousand (BENCHMARKS.md).
    cold.shutdown_deadline = std::time::Duration::from_secs(60);
    Ok((Arc::new(store), url, cold))
}

/// What the report shows of cold storage.
#[derive(Debug)]
pub(crate) struct ColdDemo {
    pub(super) url: String,
    pub(super) stats: ColdStats,
    /// One evacuated object, and whether reading it back verified.
    pub(super) sample: Option<(IndexEntry, Result<usize, String>)>,
    pub(super) listed: usize,
}

/// Shuts evacuation down (everything still held goes to the store), then lists the store
/// and reads one object back through the verifying reader.
pub(super) fn demonstrate_cold(tracehound: &Tracehound, url: String) -> Result<ColdDemo, String> {
    tracehound
        .shutdown()
        .map_err(|e| format!("cannot shut evacuation down: {e}"))?;
    let stats = tracehound.snapshot().cold;
    let reader = tracehound
        .cold_reader()
        .ok_or("cold storage is not configured")?;
    let listed = reader
        .list(&Selection::default())
        .map_err(|e| format!("cannot list {url}: {e}"))?;
    let sample = listed
        .iter()
        .max_by_key(|e| (e.severity, e.size))
        .map(|entry| {
            let read = reader
                .read(entry)
                .map(|read| read.payload.len())
                .map_err(|e| e.to_string());
            (entry.clone(), read)
        });
    Ok(ColdDemo {
        url,
        stats,
        sample,
        listed: listed.len(),
    })
}

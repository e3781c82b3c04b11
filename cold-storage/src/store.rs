//! [`ObjectStoreCold`]: the core's synchronous [`ColdStore`] over an async object store.

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc;

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use tokio::runtime::Handle;
use tracehound::cold::{ColdError, ColdStore, ObjectKey, Put};

use crate::OpenError;
use crate::config::{self, Opened, StoreConfig};
use crate::local::LocalDir;
use crate::runtime::Bridge;

/// A write-once [`ColdStore`] over a local directory or any [`object_store::ObjectStore`]
/// (memory, S3, GCS, Azure), with every key placed under a root path inside the bucket.
///
/// A local directory ([`local`](Self::local), a `file://` URL) is written with plain
/// file-system calls on the calling thread: each object goes into an unnamed file in its
/// directory and is then linked to its name, which fails if the name exists (Linux; other
/// systems stage a file and hard-link it). No runtime is started for it. The files are laid
/// out as object_store's `LocalFileSystem` lays them out, so either reads the other's.
///
/// Calls to other stores block the calling thread, which may be any thread, including one
/// inside another tokio runtime: the work runs on the store's own one-worker runtime, or
/// on a runtime handle the caller passes, and its result comes back over a channel.
pub struct ObjectStoreCold {
    inner: Inner,
}

enum Inner {
    Local(LocalDir),
    Remote(Remote),
}

struct Remote {
    store: Arc<dyn ObjectStore>,
    /// The root inside the bucket, as an object path: empty, or segments without a leading
    /// or trailing `/`.
    root: String,
    bridge: Bridge,
}

impl ObjectStoreCold {
    /// Opens the store `config` describes, on a runtime of its own unless it is a local
    /// directory; see [`StoreConfig`] for the URL schemes and the environment each backend
    /// reads.
    pub fn open(config: &StoreConfig) -> Result<ObjectStoreCold, OpenError> {
        ObjectStoreCold::open_with(config, Bridge::owned)
    }

    /// Like [`open`](Self::open), running the store's work on the multi-thread runtime
    /// behind `handle` instead of starting one (a local directory needs none, and ignores
    /// it). Do not then call the store from that runtime's async tasks: each call blocks
    /// its thread until the work is done (use `spawn_blocking`).
    pub fn open_on(config: &StoreConfig, handle: Handle) -> Result<ObjectStoreCold, OpenError> {
        ObjectStoreCold::open_with(config, || Bridge::borrowed(handle))
    }

    /// A store over the directory `dir`, created if missing.
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<ObjectStoreCold, OpenError> {
        Ok(ObjectStoreCold {
            inner: Inner::Local(LocalDir::open(dir.as_ref())?),
        })
    }

    /// A store in memory, gone with the value: for tests and examples.
    pub fn memory() -> Result<ObjectStoreCold, OpenError> {
        ObjectStoreCold::new(Arc::new(object_store::memory::InMemory::new()), "")
    }

    /// A store over `store`, keys placed under `root` (`""` for the top, or a path such as
    /// `tracehound/prod`), on a runtime of its own. The store's own client settings
    /// (timeouts, retries) are used as they are.
    pub fn new(store: Arc<dyn ObjectStore>, root: &str) -> Result<ObjectStoreCold, OpenError> {
        ObjectStoreCold::remote(store, root, Bridge::owned()?)
    }

    /// Like [`new`](Self::new), on the multi-thread runtime behind `handle`; see
    /// [`open_on`](Self::open_on).
    pub fn new_on(
        store: Arc<dyn ObjectStore>,
        root: &str,
        handle: Handle,
    ) -> Result<ObjectStoreCold, OpenError> {
        ObjectStoreCold::remote(store, root, Bridge::borrowed(handle)?)
    }

    /// The root inside the bucket every key is placed under (`""` for none, and for a
    /// local directory).
    pub fn root(&self) -> &str {
        match &self.inner {
            Inner::Local(_) => "",
            Inner::Remote(remote) => &remote.root,
        }
    }

    /// Where `key` is stored: the root and the key joined by `/` (for a local directory,
    /// the path below it).
    pub fn object_path(&self, key: &ObjectKey) -> String {
        join(self.root(), key.as_str())
    }

    fn open_with(
        config: &StoreConfig,
        bridge: impl FnOnce() -> Result<Bridge, OpenError>,
    ) -> Result<ObjectStoreCold, OpenError> {
        if let Some(dir) = config::local_dir(config)? {
            return ObjectStoreCold::local(dir);
        }
        let bridge = bridge()?;
        // Builders may start clients that look for a runtime; give them ours.
        let opened = {
            let _entered = bridge.handle().enter();
            config::open_store(config)?
        };
        match opened {
            Opened::Local(dir) => ObjectStoreCold::local(dir),
            Opened::Store { store, root } => ObjectStoreCold::remote(store, &root, bridge),
        }
    }

    fn remote(
        store: Arc<dyn ObjectStore>,
        root: &str,
        bridge: Bridge,
    ) -> Result<ObjectStoreCold, OpenError> {
        let root = config::parse_root(root)?;
        Ok(ObjectStoreCold {
            inner: Inner::Remote(Remote {
                store,
                root,
                bridge,
            }),
        })
    }
}

impl ColdStore for ObjectStoreCold {
    fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError> {
        match &self.inner {
            Inner::Local(local) => local.put(key, object),
            Inner::Remote(remote) => remote.put(key, object),
        }
    }

    fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> {
        match &self.inner {
            Inner::Local(local) => local.get(key),
            Inner::Remote(remote) => remote.get(key),
        }
    }

    fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError> {
        match &self.inner {
            Inner::Local(local) => local.delete(key),
            Inner::Remote(remote) => remote.delete(key),
        }
    }

    /// For a local directory on Linux, flushes its file system (`syncfs`): every object
    /// written so far, and its directory entry, is on disk when this returns. Other stores
    /// have made each write durable before answering it.
    fn sync(&self) -> Result<(), ColdError> {
        match &self.inner {
            Inner::Local(local) => local.sync(),
            Inner::Remote(_) => Ok(()),
        }
    }

    fn list(&self, prefix: &str, each: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError> {
        match &self.inner {
            Inner::Local(local) => local.list(prefix, each),
            Inner::Remote(remote) => remote.list(prefix, each),
        }
    }
}

impl Remote {
    /// The object path of `key`; keys and roots are both checked, so this only fails if
    /// object_store's rules are stricter than ours.
    fn path(&self, operation: &str, key: &ObjectKey) -> Result<Path, ColdError> {
        Path::parse(join(&self.root, key.as_str()))
            .map_err(|e| ColdError::unavailable(format!("{operation} {key}: {e}")))
    }

    fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError> {
        let path = self.path("put", key)?;
        let store = Arc::clone(&self.store);
        let owned_key = key.clone();
        let payload = PutPayload::from(object.to_vec());
        let expected = object.to_vec();
        let what = || format!("put {key}");
        self.bridge.run(what, async move {
            let key = owned_key;
            match store.put_opts(&path, payload, PutMode::Create.into()).await {
                Ok(_) => Ok(Put::Created),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    // Never overwrite: read what is there and say whether it is ours.
                    match read(store.as_ref(), &path, "put", &key).await? {
                        Some(held) if held == expected => Ok(Put::Exists),
                        Some(_) => Err(ColdError::Conflict { key }),
                        None => Err(ColdError::unavailable(format!(
                            "put {key}: the object existed, then was gone before it could be \
                             compared; try again"
                        ))),
                    }
                }
                Err(e) => Err(map_error("put", &key, e)),
            }
        })
    }

    fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> {
        let path = self.path("get", key)?;
        let store = Arc::clone(&self.store);
        let owned_key = key.clone();
        self.bridge.run(|| format!("get {key}"), async move {
            read(store.as_ref(), &path, "get", &owned_key).await
        })
    }

    fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError> {
        let path = self.path("delete", key)?;
        let store = Arc::clone(&self.store);
        let key_owned = key.clone();
        self.bridge.run(|| format!("delete {key}"), async move {
            let key = key_owned;
            // S3 and Azure answer a delete of nothing with success; ask first.
            match store.head(&path).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(map_error("delete", &key, e)),
            }
            match store.delete(&path).await {
                Ok(()) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(map_error("delete", &key, e)),
            }
        })
    }

    fn list(&self, prefix: &str, each: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError> {
        // object_store lists whole path segments; list the directory the prefix ends in and
        // filter by the prefix as a string.
        let directory = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        if !directory.is_empty() && ObjectKey::new(directory).is_err() {
            // Every key's leading segments form a valid key, so none can start with this.
            return Ok(());
        }
        let listed = join(&self.root, directory);
        let listed = if listed.is_empty() {
            None
        } else {
            Some(
                Path::parse(&listed)
                    .map_err(|e| ColdError::unavailable(format!("list {prefix:?}: {e}")))?,
            )
        };
        let store = Arc::clone(&self.store);
        let root = self.root.clone();
        let prefix_owned = prefix.to_owned();
        self.bridge.stream(
            || format!("list {prefix:?}"),
            move |items: mpsc::Sender<(ObjectKey, u64)>| async move {
                let prefix = prefix_owned;
                let mut objects = store.list(listed.as_ref());
                while let Some(meta) = objects
                    .try_next()
                    .await
                    .map_err(|e| ColdError::unavailable(format!("list {prefix:?}: {e}")))?
                {
                    let Some(relative) = relative_key(&root, meta.location.as_ref()) else {
                        continue;
                    };
                    if !relative.starts_with(prefix.as_str()) {
                        continue;
                    }
                    // Objects someone else put here are not ours to report.
                    let Ok(key) = ObjectKey::new(relative) else {
                        continue;
                    };
                    if items.send((key, meta.size)).is_err() {
                        // The caller gave up waiting.
                        return Ok(());
                    }
                }
                Ok(())
            },
            |(key, size)| each(&key, size),
        )
    }
}

impl fmt::Debug for ObjectStoreCold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Local(local) => f
                .debug_struct("ObjectStoreCold")
                .field("directory", &local.root())
                .finish(),
            Inner::Remote(remote) => f
                .debug_struct("ObjectStoreCold")
                .field("store", &format_args!("{}", remote.store))
                .field("root", &remote.root)
                .field("owns_runtime", &remote.bridge.owns_runtime())
                .finish(),
        }
    }
}

/// The object at `path`, `None` if there is none.
async fn read(
    store: &dyn ObjectStore,
    path: &Path,
    operation: &str,
    key: &ObjectKey,
) -> Result<Option<Vec<u8>>, ColdError> {
    let found = match store.get(path).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(map_error(operation, key, e)),
    };
    match found.bytes().await {
        Ok(bytes) => Ok(Some(bytes.to_vec())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(map_error(operation, key, e)),
    }
}

/// The store's answers the caller cannot fix by waiting are refusals; the rest (refused
/// connections, timeouts, 5xx) are worth retrying later. Messages name the operation and
/// the key, never object bytes.
fn map_error(operation: &str, key: &ObjectKey, error: object_store::Error) -> ColdError {
    match error {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => ColdError::Refused {
            key: key.clone(),
            message: format!("{operation}: {error}"),
        },
        object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. } => {
            ColdError::Refused {
                key: key.clone(),
                message: format!("{operation}: the store cannot do this write-once: {error}"),
            }
        }
        _ => ColdError::unavailable(format!("{operation} {key}: {error}")),
    }
}

fn join(root: &str, rest: &str) -> String {
    match (root.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (false, true) => root.to_owned(),
        (false, false) => format!("{root}/{rest}"),
    }
}

/// `location` with the root and its `/` taken off; `None` if it is not under the root.
fn relative_key<'a>(root: &str, location: &'a str) -> Option<&'a str> {
    if root.is_empty() {
        return Some(location);
    }
    location.strip_prefix(root)?.strip_prefix('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracehound_test_support::TempDir;

    fn key(text: &str) -> ObjectKey {
        ObjectKey::new(text).unwrap()
    }

    fn listed(store: &dyn ColdStore, prefix: &str) -> Vec<(String, u64)> {
        let mut found = Vec::new();
        store
            .list(prefix, &mut |key, size| found.push((key.to_string(), size)))
            .unwrap();
        found.sort();
        found
    }

    /// The write-once contract, as every backend must keep it.
    fn keeps_the_contract(store: &ObjectStoreCold) {
        let first = key("evidence/prod/2026/12/07/injection/ab12.thcs");
        assert_eq!(store.get(&first).unwrap(), None);
        assert_eq!(store.put(&first, b"envelope").unwrap(), Put::Created);
        assert_eq!(store.put(&first, b"envelope").unwrap(), Put::Exists);
        assert_eq!(
            store.put(&first, b"another envelope"),
            Err(ColdError::Conflict { key: first.clone() })
        );
        // The same size is no excuse.
        assert_eq!(
            store.put(&first, b"envelopf"),
            Err(ColdError::Conflict { key: first.clone() })
        );
        assert_eq!(
            store.get(&first).unwrap().as_deref(),
            Some(&b"envelope"[..])
        );

        let second = key("evidence/prod/2026/12/08/xss/cd34.thcs");
        let third = key("evidence/staging/2026/12/07/injection/ef56.thcs");
        let top = key("top");
        assert_eq!(store.put(&second, b"12345").unwrap(), Put::Created);
        assert_eq!(store.put(&third, b"").unwrap(), Put::Created);
        assert_eq!(store.put(&top, b"t").unwrap(), Put::Created);

        assert_eq!(
            listed(store, "evidence/prod/2026/12/0"),
            [(first.to_string(), 8), (second.to_string(), 5)]
        );
        assert_eq!(
            listed(store, "evidence/prod/2026/12/07/"),
            [(first.to_string(), 8)]
        );
        assert_eq!(listed(store, "evidence/st"), [(third.to_string(), 0)]);
        assert_eq!(listed(store, "").len(), 4);
        assert_eq!(listed(store, "t"), [("top".to_owned(), 1)]);
        assert!(listed(store, "evidence/nothing/").is_empty());
        assert!(listed(store, "evidence/../").is_empty());
        assert!(listed(store, "nothing").is_empty());

        assert!(store.delete(&first).unwrap());
        assert!(!store.delete(&first).unwrap());
        assert_eq!(store.get(&first).unwrap(), None);
        // Once deleted, the key can be written again.
        assert_eq!(store.put(&first, b"again").unwrap(), Put::Created);
    }

    #[test]
    fn memory_keeps_the_contract() {
        keeps_the_contract(&ObjectStoreCold::memory().unwrap());
    }

    #[test]
    fn a_directory_keeps_the_contract() {
        let dir = TempDir::new("cold-local").unwrap();
        let store = ObjectStoreCold::local(dir.0.join("nested/cold")).unwrap();
        keeps_the_contract(&store);
        let file = dir
            .0
            .join("nested/cold/evidence/prod/2026/12/08/xss/cd34.thcs");
        assert_eq!(std::fs::read(file).unwrap(), b"12345");
    }

    #[test]
    fn a_directory_staging_its_files_keeps_the_contract() {
        let dir = TempDir::new("cold-staged").unwrap();
        let store = ObjectStoreCold {
            inner: Inner::Local(LocalDir::staged(&dir.0).unwrap()),
        };
        keeps_the_contract(&store);
        // No staging file is left behind.
        let left = tracehound_test_support::files_below(&dir.0).unwrap();
        assert!(
            left.iter()
                .all(|path| !path.to_string_lossy().contains('#')),
            "{left:?}"
        );
    }

    #[test]
    fn object_store_and_the_local_store_read_each_other() {
        let dir = TempDir::new("cold-interop").unwrap();
        let theirs = object_store::local::LocalFileSystem::new_with_prefix(&dir.0).unwrap();
        let theirs = ObjectStoreCold::new(Arc::new(theirs), "").unwrap();
        let ours = ObjectStoreCold::local(&dir.0).unwrap();
        let (a, b) = (key("evidence/x/2026/a.thcs"), key("evidence/x/2026/b.thcs"));
        assert_eq!(theirs.put(&a, b"by object_store").unwrap(), Put::Created);
        assert_eq!(ours.put(&b, b"by the local store").unwrap(), Put::Created);
        for store in [&theirs, &ours] {
            assert_eq!(
                store.get(&a).unwrap().as_deref(),
                Some(&b"by object_store"[..])
            );
            assert_eq!(
                store.get(&b).unwrap().as_deref(),
                Some(&b"by the local store"[..])
            );
            assert_eq!(
                store.put(&a, b"other"),
                Err(ColdError::Conflict { key: a.clone() })
            );
            assert_eq!(
                listed(store, "evidence/"),
                [(a.to_string(), 15), (b.to_string(), 18)]
            );
        }
        assert!(ours.delete(&a).unwrap());
        assert_eq!(theirs.get(&a).unwrap(), None);
    }

    #[test]
    fn the_local_store_lists_only_keys() {
        let dir = TempDir::new("cold-strays").unwrap();
        let store = ObjectStoreCold::local(&dir.0).unwrap();
        let k = key("evidence/a/one.thcs");
        store.put(&k, b"1").unwrap();
        let evidence = dir.0.join("evidence/a");
        // A staging file, a name no key can have, a symbolic link, a name not UTF-8.
        std::fs::write(evidence.join("two.thcs#77-1"), b"staged").unwrap();
        std::fs::write(evidence.join("Three.THCS"), b"stray").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", evidence.join("four")).unwrap();
        let odd = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"f\xffe");
        std::fs::write(evidence.join(odd), b"odd").unwrap();
        assert_eq!(listed(&store, ""), [(k.to_string(), 1)]);
        assert_eq!(listed(&store, "evidence/a/o"), [(k.to_string(), 1)]);
        assert!(listed(&store, "evidence/a/t").is_empty());
    }

    #[test]
    fn a_key_below_an_object_is_refused_not_retried() {
        let dir = TempDir::new("cold-below").unwrap();
        let store = ObjectStoreCold::local(&dir.0).unwrap();
        store.put(&key("a/b"), b"x").unwrap();
        assert!(matches!(
            store.put(&key("a/b/c"), b"y"),
            Err(ColdError::Refused { key, .. }) if key.as_str() == "a/b/c"
        ));
        // A directory where an object would be is no object, and cannot become one.
        assert_eq!(store.get(&key("a")).unwrap(), None);
        assert!(matches!(
            store.put(&key("a"), b"z"),
            Err(ColdError::Refused { key, .. }) if key.as_str() == "a"
        ));
        assert!(!store.delete(&key("a")).unwrap());
    }

    #[test]
    fn puts_racing_deletes_in_one_directory_all_land() {
        let dir = TempDir::new("cold-race").unwrap();
        let store = Arc::new(ObjectStoreCold::local(&dir.0).unwrap());
        // Two threads write and delete in one directory, often emptying it.
        let racers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for n in 0..2_000 {
                        let k = key(&format!("evidence/d/2026/12/{name}{n}"));
                        assert_eq!(store.put(&k, name.as_bytes()).unwrap(), Put::Created);
                        assert_eq!(store.get(&k).unwrap().as_deref(), Some(name.as_bytes()));
                        assert!(store.delete(&k).unwrap(), "{k}");
                    }
                })
            })
            .collect();
        for racer in racers {
            racer.join().unwrap();
        }
        assert!(listed(store.as_ref(), "").is_empty());
        assert!(
            dir.0.join("evidence/d/2026/12").is_dir(),
            "directories are not pruned"
        );
    }

    #[test]
    fn a_root_holds_every_key_and_hides_the_rest() {
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let store = ObjectStoreCold::new(Arc::clone(&memory), "tracehound/prod").unwrap();
        assert_eq!(store.root(), "tracehound/prod");
        keeps_the_contract(&store);

        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let outside = rt.block_on(async {
            let stray = Path::parse("tracehound/prod/Not-Ours.txt").unwrap();
            memory
                .put(&stray, PutPayload::from_static(b"x"))
                .await
                .unwrap();
            let beside = Path::parse("tracehound/production/a").unwrap();
            memory
                .put(&beside, PutPayload::from_static(b"x"))
                .await
                .unwrap();
            memory
                .head(&Path::parse("tracehound/prod/top").unwrap())
                .await
        });
        assert_eq!(outside.unwrap().size, 1);
        // Neither a key ObjectKey rejects nor a sibling of the root is listed.
        assert_eq!(listed(&store, "").len(), 4);
        assert_eq!(
            store.object_path(&key("a/b")),
            "tracehound/prod/a/b".to_owned()
        );
    }

    #[test]
    fn roots_are_checked() {
        for bad in ["/lead", "trail/", "a//b", "a/../b"] {
            assert!(
                matches!(
                    ObjectStoreCold::new(Arc::new(object_store::memory::InMemory::new()), bad),
                    Err(OpenError::InvalidRoot { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn calls_work_from_inside_another_runtime_and_the_store_drops_there() {
        let dir = TempDir::new("cold-nested-runtime").unwrap();
        let store = ObjectStoreCold::local(&dir.0).unwrap();
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        current.block_on(async move {
            let k = key("a/b");
            assert_eq!(store.put(&k, b"x").unwrap(), Put::Created);
            assert_eq!(store.get(&k).unwrap().as_deref(), Some(&b"x"[..]));
            drop(store);
        });
    }

    #[test]
    fn a_lent_runtime_runs_the_work() {
        let lent = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let store = ObjectStoreCold::new_on(
            Arc::new(object_store::memory::InMemory::new()),
            "",
            lent.handle().clone(),
        )
        .unwrap();
        keeps_the_contract(&store);
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let refused = ObjectStoreCold::new_on(
            Arc::new(object_store::memory::InMemory::new()),
            "",
            current.handle().clone(),
        );
        assert!(matches!(refused, Err(OpenError::Runtime { .. })));
    }

    #[test]
    fn a_shut_down_runtime_is_unavailable_not_a_panic() {
        let lent = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let store = ObjectStoreCold::new_on(
            Arc::new(object_store::memory::InMemory::new()),
            "",
            lent.handle().clone(),
        )
        .unwrap();
        lent.shutdown_background();
        assert!(matches!(
            store.put(&key("a"), b"x"),
            Err(ColdError::Unavailable { .. })
        ));
        assert!(matches!(
            store.list("", &mut |_, _| {}),
            Err(ColdError::Unavailable { .. })
        ));
    }

    #[test]
    fn a_refusing_store_is_refused_and_a_broken_one_unavailable() {
        let k = key("a/b");
        let denied = object_store::Error::PermissionDenied {
            path: "a/b".to_owned(),
            source: "object lock".into(),
        };
        assert!(matches!(
            map_error("delete", &k, denied),
            ColdError::Refused { key, .. } if key == k
        ));
        let broken = object_store::Error::Generic {
            store: "S3",
            source: "connection refused".into(),
        };
        match map_error("put", &k, broken) {
            ColdError::Unavailable { message } => {
                assert!(message.starts_with("put a/b: "), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}

//! A write-once directory store written with plain file-system calls: no runtime, no
//! staging file left behind, one directory operation per object where the kernel allows.
//!
//! An object is written into an unnamed file (`O_TMPFILE`) in its directory, then linked to
//! its name: the link fails if the name exists, so nothing is ever overwritten, and a crash
//! leaves either the whole object or no name at all. Where unnamed files are not available
//! (another OS, a file system without them, no `/proc`), the object is staged under a name
//! no key can have (it holds `#`) and hard-linked, as object_store's local store does.
//!
//! Keys map to paths one to one (`a/b/c` is `<root>/a/b/c`): a directory written by
//! object_store's `LocalFileSystem` reads the same, and the other way round.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracehound::cold::{ColdError, ObjectKey, Put};

use crate::OpenError;

/// How many times a put makes its directory again if someone keeps removing it.
const PUT_ATTEMPTS: usize = 4;

/// A directory holding objects at their keys.
pub(crate) struct LocalDir {
    root: PathBuf,
    /// Whether unnamed files can be created and linked here; cleared at the first sign
    /// that they cannot.
    unnamed: AtomicBool,
    /// Numbers staging files, with the process id, when unnamed files cannot be used.
    staged: AtomicU64,
}

/// Why one attempt at creating an object did not.
enum Create {
    /// The key holds an object already.
    Exists,
    /// The object's directory is missing (not yet made, or removed meanwhile).
    NoDirectory,
    Failed(io::Error),
}

impl From<io::Error> for Create {
    fn from(error: io::Error) -> Create {
        match error.kind() {
            io::ErrorKind::AlreadyExists => Create::Exists,
            io::ErrorKind::NotFound => Create::NoDirectory,
            _ => Create::Failed(error),
        }
    }
}

impl LocalDir {
    /// The store over `dir`, created if missing.
    pub(crate) fn open(dir: &Path) -> Result<LocalDir, OpenError> {
        let directory_error = |error: io::Error| OpenError::Directory {
            path: dir.to_path_buf(),
            message: error.to_string(),
        };
        fs::create_dir_all(dir).map_err(directory_error)?;
        if !fs::metadata(dir).map_err(directory_error)?.is_dir() {
            return Err(directory_error(io::Error::other("not a directory")));
        }
        Ok(LocalDir {
            root: dir.to_path_buf(),
            unnamed: AtomicBool::new(cfg!(target_os = "linux")),
            staged: AtomicU64::new(0),
        })
    }

    /// The store over `dir`, staging files as it does where unnamed files are unavailable.
    #[cfg(test)]
    pub(crate) fn staged(dir: &Path) -> Result<LocalDir, OpenError> {
        let local = LocalDir::open(dir)?;
        local.unnamed.store(false, Ordering::Relaxed);
        Ok(local)
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Where `key` lives. Keys have no empty, `.` or `..` segment and no leading `/`, so
    /// the path is always inside the root.
    fn file(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    pub(crate) fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError> {
        let path = self.file(key);
        let Some(directory) = path.parent() else {
            return Err(ColdError::unavailable(format!("put {key}: no directory")));
        };
        // The directory is made when missing; if someone removes it again while this writes
        // (deletes here never do), it is made again, a few times, then reported.
        for _ in 0..PUT_ATTEMPTS {
            match self.create(&path, directory, object) {
                Ok(()) => return Ok(Put::Created),
                Err(Create::Exists) => return self.compare(key, &path, object),
                Err(Create::NoDirectory) => match fs::create_dir_all(directory) {
                    // A parent removed between two of the directories made: again.
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(io_error("put", key, &e));
                    }
                    _ => {}
                },
                Err(Create::Failed(e)) => return Err(io_error("put", key, &e)),
            }
        }
        Err(ColdError::unavailable(format!(
            "put {key}: its directory keeps disappearing; try again"
        )))
    }

    fn create(&self, path: &Path, directory: &Path, object: &[u8]) -> Result<(), Create> {
        #[cfg(target_os = "linux")]
        if self.unnamed.load(Ordering::Relaxed) {
            match unnamed::create(path, directory, object) {
                Err(unnamed::Unnamed::Unsupported) => self.unnamed.store(false, Ordering::Relaxed),
                Err(unnamed::Unnamed::Create(create)) => return Err(create),
                Ok(()) => return Ok(()),
            }
        }
        self.create_staged(path, directory, object)
    }

    fn create_staged(&self, path: &Path, directory: &Path, object: &[u8]) -> Result<(), Create> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let staging = directory.join(format!(
            "{name}#{}-{}",
            std::process::id(),
            self.staged.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&staging)?;
            file.write_all(object)?;
            if !cfg!(target_os = "linux") {
                file.sync_all()?;
            }
            fs::hard_link(&staging, path)
        })();
        let _ = fs::remove_file(&staging);
        written?;
        if !cfg!(target_os = "linux") {
            sync_directory(directory)?;
        }
        Ok(())
    }

    /// The key exists: the same bytes are success, others a conflict; never overwritten.
    fn compare(&self, key: &ObjectKey, path: &Path, object: &[u8]) -> Result<Put, ColdError> {
        if path.is_dir() {
            // Waiting will not make a directory an object.
            return Err(ColdError::Refused {
                key: key.clone(),
                message: "put: a directory is in the way".into(),
            });
        }
        // Another size is another object: nothing to read (whatever its size).
        match fs::metadata(path) {
            Ok(meta) if meta.len() != object.len() as u64 => {
                return Err(ColdError::Conflict { key: key.clone() });
            }
            _ => {}
        }
        match self.read(key, path, "put")? {
            Some(held) if held == object => Ok(Put::Exists),
            Some(_) => Err(ColdError::Conflict { key: key.clone() }),
            None => Err(ColdError::unavailable(format!(
                "put {key}: the object existed, then was gone before it could be compared; \
                 try again"
            ))),
        }
    }

    fn read(
        &self,
        key: &ObjectKey,
        path: &Path,
        operation: &str,
    ) -> Result<Option<Vec<u8>>, ColdError> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            // A directory where an object would be is no object.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::IsADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(io_error(operation, key, &e)),
        }
    }

    pub(crate) fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> {
        self.read(key, &self.file(key), "get")
    }

    pub(crate) fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError> {
        let path = self.file(key);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::IsADirectory
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(io_error("delete", key, &e)),
        }
        // Directories stay, emptied or not: pruning them would race with puts into them
        // (an unnamed file being written does not keep its directory from being removed).
        // There is one per day and category, not one per object.
        if !cfg!(target_os = "linux")
            && let Some(dir) = path.parent()
        {
            let _ = sync_directory(dir);
        }
        Ok(true)
    }

    /// Every object whose key starts with `prefix`, with its size, directory by directory
    /// in name order.
    pub(crate) fn list(
        &self,
        prefix: &str,
        each: &mut dyn FnMut(&ObjectKey, u64),
    ) -> Result<(), ColdError> {
        let directory = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        if !directory.is_empty() && ObjectKey::new(directory).is_err() {
            // Every key's leading segments form a valid key, so none can start with this.
            return Ok(());
        }
        let mut relative = directory.to_owned();
        self.walk(&mut relative, prefix, each)
            .map_err(|e| ColdError::unavailable(format!("list {prefix:?}: {e}")))
    }

    /// Lists the directory `relative` (a key prefix without its `/`) depth first.
    fn walk(
        &self,
        relative: &mut String,
        prefix: &str,
        each: &mut dyn FnMut(&ObjectKey, u64),
    ) -> io::Result<()> {
        let entries = match fs::read_dir(self.root.join(relative.as_str())) {
            Ok(entries) => entries,
            // Nothing there, or removed meanwhile: nothing to list.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            // Names that are not UTF-8 are not keys; symbolic links are never followed.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() || kind.is_file() {
                names.push((name, kind.is_dir()));
            }
        }
        names.sort_unstable();
        let base = relative.len();
        for (name, is_dir) in names {
            if base > 0 {
                relative.push('/');
            }
            relative.push_str(&name);
            // Descend only where keys starting with the prefix can be.
            let wanted = relative.starts_with(prefix)
                || is_dir
                    && prefix
                        .strip_prefix(relative.as_str())
                        .is_some_and(|rest| rest.starts_with('/'));
            if wanted {
                if is_dir {
                    self.walk(relative, prefix, each)?;
                } else if let Ok(key) = ObjectKey::new(relative.as_str()) {
                    // Staging files (with `#`) and whatever else is not a key are not ours.
                    match fs::metadata(self.root.join(relative.as_str())) {
                        Ok(meta) => each(&key, meta.len()),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            relative.truncate(base);
        }
        Ok(())
    }

    /// Flushes the directory's file system (`syncfs`, Linux): every object written so far,
    /// and its name, is on disk when this returns. Elsewhere each object was synced when
    /// it was written.
    pub(crate) fn sync(&self) -> Result<(), ColdError> {
        #[cfg(target_os = "linux")]
        {
            let synced = File::open(&self.root)
                .and_then(|dir| nix::unistd::syncfs(&dir).map_err(io::Error::from));
            synced.map_err(|e| {
                ColdError::unavailable(format!("sync {}: {e}", self.root.display()))
            })?;
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod unnamed {
    //! Objects written into unnamed files and linked to their names.

    use std::fs::File;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use nix::errno::Errno;
    use nix::fcntl::AtFlags;
    use nix::fcntl::{AT_FDCWD, OFlag};
    use nix::sys::stat::Mode;
    use nix::unistd::linkat;

    use super::Create;

    pub(super) enum Unnamed {
        /// This file system, kernel or process cannot do it: stage files instead.
        Unsupported,
        Create(Create),
    }

    pub(super) fn create(path: &Path, directory: &Path, object: &[u8]) -> Result<(), Unnamed> {
        let flags = OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        let file = match nix::fcntl::open(directory, flags, Mode::from_bits_truncate(0o644)) {
            Ok(fd) => File::from(fd),
            Err(Errno::ENOENT) => return Err(Unnamed::Create(Create::NoDirectory)),
            // Kernels and file systems without O_TMPFILE answer one of these.
            Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL) => {
                return Err(Unnamed::Unsupported);
            }
            Err(e) => return Err(Unnamed::Create(Create::Failed(e.into()))),
        };
        let mut writer = &file;
        writer
            .write_all(object)
            .map_err(|e| Unnamed::Create(Create::Failed(e)))?;
        // Linking an open file by descriptor needs a privilege (AT_EMPTY_PATH); linking its
        // /proc name does not.
        let by_name = format!("/proc/self/fd/{}", file.as_raw_fd());
        match linkat(
            AT_FDCWD,
            by_name.as_str(),
            AT_FDCWD,
            path,
            AtFlags::AT_SYMLINK_FOLLOW,
        ) {
            Ok(()) => Ok(()),
            Err(Errno::EEXIST) => Err(Unnamed::Create(Create::Exists)),
            Err(Errno::ENOENT) if !Path::new("/proc/self/fd").is_dir() => Err(Unnamed::Unsupported),
            Err(Errno::ENOENT) => Err(Unnamed::Create(Create::NoDirectory)),
            Err(e) => Err(Unnamed::Create(Create::Failed(e.into()))),
        }
    }
}

#[cfg(unix)]
fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_: &Path) -> io::Result<()> {
    Ok(())
}

/// What the operating system said, as the caller can act on it: permissions and a
/// read-only file system will not pass by waiting; anything else might.
fn io_error(operation: &str, key: &ObjectKey, error: &io::Error) -> ColdError {
    match error.kind() {
        io::ErrorKind::PermissionDenied
        | io::ErrorKind::ReadOnlyFilesystem
        | io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory => ColdError::Refused {
            key: key.clone(),
            message: format!("{operation}: {error}"),
        },
        _ => ColdError::unavailable(format!("{operation} {key}: {error}")),
    }
}

//! The thread's scratch buffer that canonical bytes are encoded into: copied into the
//! quarantine only for new evidence, and wiped after every use.

use std::cell::{RefCell, RefMut};

use zeroize::Zeroize;

use crate::canonical::{self, CanonicalForm, EncodeError, Limits};
use crate::error::Error;

/// Scratch buffers beyond this capacity are released after use rather than kept, so a
/// thread holds at most this much between threats.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Wipes and empties the scratch buffer when the encoding that borrowed it ends.
struct WipeOnDrop<'a>(RefMut<'a, Vec<u8>>);

impl Drop for WipeOnDrop<'_> {
    fn drop(&mut self) {
        let buf = &mut *self.0;
        buf.as_mut_slice().zeroize();
        buf.clear();
        if buf.capacity() > SCRATCH_KEEP {
            *buf = Vec::new();
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Why an encoding into the scratch buffer did not happen.
#[derive(Debug)]
pub(super) enum Unencoded {
    /// The payload has no canonical form within the limits: the request's fault.
    Refused(EncodeError),
    /// Tracehound's own failure.
    Failed(Error),
}

/// Encodes `payload` into this thread's scratch buffer and hands the canonical bytes to
/// `then`. The buffer is wiped afterwards, even if `then` panics.
pub(super) fn with_canonical<T>(
    payload: &serde_json::Value,
    form: CanonicalForm,
    limits: Limits,
    then: impl FnOnce(&[u8]) -> T,
) -> Result<T, Unencoded> {
    SCRATCH.with(|cell| {
        let Ok(buf) = cell.try_borrow_mut() else {
            return Err(Unencoded::Failed(Error::Internal {
                context: "canonical encoding (re-entered)",
            }));
        };
        let mut scratch = WipeOnDrop(buf);
        canonical::encode(payload, form, limits, &mut scratch.0).map_err(Unencoded::Refused)?;
        Ok(then(&scratch.0))
    })
}

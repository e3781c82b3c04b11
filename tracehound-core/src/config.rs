//! What every room's configuration shares: the error that names a field, and the TOML
//! spellings of durations and of optional rooms. Each room's configuration lives beside the
//! room; the aggregate [`Config`](crate::Config) lives with the facade.

use std::fmt;
use std::path::PathBuf;

/// A configuration that cannot be used. Each variant names what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field holds a value outside its allowed range.
    Invalid {
        /// The field, as a dotted path in the TOML form (`quarantine.max_count`).
        field: &'static str,
        /// The rule the value breaks.
        reason: String,
    },
    /// The TOML text is malformed, has an unknown key, or a value of the wrong type.
    Parse {
        /// The parser's message, which names the key and position.
        message: String,
    },
    /// A configuration file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What kind of I/O error it was.
        kind: std::io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { field, reason } => write!(f, "`{field}`: {reason}"),
            ConfigError::Parse { message } => write!(f, "configuration is not valid: {message}"),
            ConfigError::Read { path, message, .. } => {
                write!(f, "cannot read configuration {}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// A non-zero count from a literal, checked when the crate compiles: `nonzero!(0)` does not
/// build, so defaults need no runtime check.
macro_rules! nonzero {
    ($n:expr) => {
        const {
            match std::num::NonZero::new($n) {
                Some(n) => n,
                None => panic!("a count that must not be zero"),
            }
        }
    };
}
pub(crate) use nonzero;

/// Durations as text: a whole number and a unit.
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    const UNITS: [(&str, u128); 7] = [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];

    pub(crate) fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{text}` has no unit (ns, us, ms, s, m, h, d)"))?;
        let (number, unit) = text.split_at(split);
        let count: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` does not start with a whole number"))?;
        let (_, nanos_per) = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(|| format!("`{unit}` is not a unit (ns, us, ms, s, m, h, d)"))?;
        let nanos = u128::from(count) * nanos_per;
        let secs = u64::try_from(nanos / 1_000_000_000)
            .map_err(|_| format!("`{text}` is too long a duration"))?;
        Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
    }

    pub(crate) fn format(duration: Duration) -> String {
        let nanos = duration.as_nanos();
        let (unit, per) = UNITS
            .iter()
            .find(|(_, per)| nanos.is_multiple_of(*per))
            .copied()
            .unwrap_or(("ns", 1));
        format!("{}{unit}", nanos / per)
    }

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }
}

/// Optional durations as text; `false` is none, for settings whose default is some.
pub(crate) mod option_duration_text {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;

    use super::duration_text;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => duration_text::serialize(d, s),
            None => s.serialize_bool(false),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        d.deserialize_any(Text)
    }

    struct Text;

    impl Visitor<'_> for Text {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"10s\", or false")
        }

        fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
            if on {
                Err(E::custom(
                    "`true` is not a duration; write one, or `false` for none",
                ))
            } else {
                Ok(None)
            }
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            duration_text::parse(text).map(Some).map_err(E::custom)
        }
    }
}

/// Optional rooms: a table turns one on with its settings, `true` with its defaults, `false`
/// turns it off. One spelling of "off" for every room.
pub(crate) mod room {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};

    pub(crate) fn serialize<T: Serialize, S: Serializer>(
        room: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match room {
            Some(config) => config.serialize(s),
            None => s.serialize_bool(false),
        }
    }

    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: Deserialize<'de> + Default,
        D: Deserializer<'de>,
    {
        d.deserialize_any(Room(PhantomData))
    }

    struct Room<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for Room<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of settings, true (the defaults) or false (off)")
        }

        fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
            Ok(on.then(T::default))
        }

        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }
}

//! actix-web's header map, as the policy reads headers.

use actix_web::http::header::HeaderMap;
use tracehound::http::Headers;

/// An actix-web [`HeaderMap`] seen through the policy's [`Headers`] trait.
///
/// The middleware uses it for every request; it is public for code that calls
/// [`HttpPolicy::inspect`](tracehound::http::HttpPolicy::inspect) itself.
///
/// ```
/// use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
/// use tracehound::http::Headers;
/// use tracehound_actix::ActixHeaders;
///
/// let mut map = HeaderMap::new();
/// let name = HeaderName::from_static("x-forwarded-for");
/// map.append(name.clone(), HeaderValue::from_static("203.0.113.9"));
/// map.append(name, HeaderValue::from_static("198.51.100.7"));
///
/// let mut seen = Vec::new();
/// ActixHeaders(&map).each_value("x-forwarded-for", &mut |v| seen.push(v.to_vec()));
/// assert_eq!(seen, [b"203.0.113.9".to_vec(), b"198.51.100.7".to_vec()]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ActixHeaders<'a>(pub &'a HeaderMap);

impl Headers for ActixHeaders<'_> {
    fn each_value(&self, name: &str, each: &mut dyn FnMut(&[u8])) {
        // The core reads a lookup function's values; `get_all` yields them in the order
        // they arrived.
        let map = self.0;
        (|name: &str| map.get_all(name)).each_value(name, each);
    }
}

//! The Convex public HTTP API over `fetch` (with a timeout on every request).

use super::io;
use crate::core::error::Error;
use crate::core::json::Json;
use crate::core::protocol;

/// Calls a Convex function: `POST <url>/api/<kind>` with `{path, args, format:"json"}`.
/// `args` is serialised JSON; `bearer` is attached as `Authorization: Bearer` when given.
pub(crate) async fn call(
    base_url: &str,
    kind: &str,
    path: &str,
    args: &str,
    bearer: Option<&str>,
) -> Result<Json, Error> {
    let mut url = String::with_capacity(base_url.len() + 16);
    url.push_str(base_url);
    url.push_str("/api/");
    url.push_str(kind);
    let (status, text) = io::post_json(&url, &protocol::body(path, args), bearer).await?;
    protocol::parse_response(status, &text)
}

//! The Convex public HTTP API over `fetch` (with a timeout on every request), and the user's own
//! requests for `auth.fetch`.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, Response};

use super::io;
use crate::core::error::{Error, ErrorCode};
use crate::core::json::Json;
use crate::core::protocol;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> Promise;
}

/// Sends a user's request as it is (no timeout: it may be a long download); a rejected fetch is
/// a `Network` error.
pub(crate) async fn fetch_request(request: &Request) -> Result<Response, Error> {
    match JsFuture::from(global_fetch(request)).await {
        Ok(r) => Ok(r.unchecked_into()),
        Err(_) => Err(Error::new(
            ErrorCode::Network,
            "The server could not be reached",
        )),
    }
}

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

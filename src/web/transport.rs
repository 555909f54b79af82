//! The Convex public HTTP API over `fetch` (with a timeout on every request).

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::io;
use crate::core::error::{Error, ErrorCode};
use crate::core::json::Json;
use crate::core::protocol;

/// How long one request may take before it counts as a `Timeout`.
pub(crate) const REQUEST_TIMEOUT_MS: f64 = 15_000.0;

/// Calls the Convex action `path` with `args` (a JS object, see `io::args`), with `bearer`
/// attached as `Authorization: Bearer` when given: its value, or the error its answer stands for
/// (a `Network` or `Timeout` error when the request or the read of the answer failed).
pub(crate) async fn call(
    base_url: &str,
    path: &str,
    args: &JsValue,
    bearer: Option<&str>,
) -> Result<Json, Error> {
    match JsFuture::from(io::post(base_url, path, args, bearer, REQUEST_TIMEOUT_MS)).await {
        Ok(answer) => {
            let answer: Array = answer.unchecked_into();
            let status = answer.get(0).as_f64().unwrap_or(0.0) as u16;
            protocol::interpret_response(status, Json::from_js(answer.get(1)))
        }
        Err(stage) => Err(match stage.as_f64().unwrap_or(0.0) as u8 {
            2 => Error::new(ErrorCode::Timeout, "The request timed out"),
            1 => Error::new(
                ErrorCode::Network,
                "The connection broke while reading the answer",
            ),
            _ => Error::new(ErrorCode::Network, "The server could not be reached"),
        }),
    }
}

//! The Convex public HTTP API over `fetch`, with a timeout on every request.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Request, RequestInit, Response};

use super::platform::Timeout;
use crate::core::error::{Error, ErrorCode};
use crate::core::json::Json;
use crate::core::protocol;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> Promise;
}

/// How long one request may take before it counts as a `Timeout`.
pub(crate) const REQUEST_TIMEOUT_MS: f64 = 15_000.0;

/// Sends `request` and reads the whole answer, both within [`REQUEST_TIMEOUT_MS`]; maps a
/// rejected fetch to `Network` and an abort by the timer to `Timeout`.
pub(crate) async fn fetch_text(
    request: &Request,
    controller: &AbortController,
) -> Result<(u16, String), Error> {
    let timed_out = Rc::new(Cell::new(false));
    let _timer = {
        let (timed_out, controller) = (timed_out.clone(), controller.clone());
        Timeout::new(REQUEST_TIMEOUT_MS, move || {
            timed_out.set(true);
            controller.abort();
        })
    };
    let failed = |what: &'static str| {
        if timed_out.get() {
            Error::new(ErrorCode::Timeout, "The request timed out")
        } else {
            Error::new(ErrorCode::Network, what)
        }
    };
    let response: Response = JsFuture::from(global_fetch(request))
        .await
        .map_err(|_| failed("The server could not be reached"))?
        .unchecked_into();
    let text = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .map_err(|_| failed("The connection broke while reading the answer"))?,
        Err(_) => {
            return Err(Error::new(
                ErrorCode::InvalidResponse,
                "The answer has no body",
            ))
        }
    };
    Ok((response.status(), text.as_string().unwrap_or_default()))
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

/// A new request with an abort signal attached.
pub(crate) fn request(url: &str, init: &RequestInit) -> Result<(Request, AbortController), Error> {
    let controller = AbortController::new()
        .map_err(|_| Error::new(ErrorCode::Network, "AbortController is unavailable"))?;
    init.set_signal(Some(&controller.signal()));
    let req = Request::new_with_str_and_init(url, init)
        .map_err(|_| Error::new(ErrorCode::Network, "Invalid request URL"))?;
    Ok((req, controller))
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
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&protocol::body(path, args)));
    let headers = web_sys::Headers::new()
        .map_err(|_| Error::new(ErrorCode::Network, "Headers are unavailable"))?;
    // Setting headers on a fresh Headers object cannot fail for these names and values.
    let _ = headers.set("Content-Type", "application/json");
    if let Some(token) = bearer {
        let mut auth = String::with_capacity(token.len() + 7);
        auth.push_str("Bearer ");
        auth.push_str(token);
        let _ = headers.set("Authorization", &auth);
    }
    init.set_headers(&headers);
    let (req, controller) = request(&url, &init)?;
    let (status, text) = fetch_text(&req, &controller).await?;
    protocol::parse_response(status, &text)
}

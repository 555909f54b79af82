//! Small bindings to the browser: clock, randomness, Promises of Rust futures.
//! Everything here works in windows and workers.

use std::future::Future;
use std::pin::Pin;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

/// A boxed future resolving to a JS result.
pub(crate) type JsResultFuture = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// A Promise for a future. Every caller boxes its future, so wasm-bindgen-futures' machinery is
/// instantiated once for the crate instead of once per call site (a few KB of wasm each).
pub(crate) fn promise(f: JsResultFuture) -> Promise {
    wasm_bindgen_futures::future_to_promise(f)
}

/// Device clock, epoch milliseconds.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A uniform random number in `[0, 1)`.
pub(crate) fn random() -> f64 {
    js_sys::Math::random()
}

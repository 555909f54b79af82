//! Small bindings to the browser: clock, timers, randomness, console, and awaiting values that
//! may or may not be Promises. Everything here works in windows and workers.

use std::future::Future;
use std::pin::Pin;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

/// A boxed future resolving to a JS result.
pub(crate) type JsResultFuture = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// A Promise for a future. Every caller boxes its future, so wasm-bindgen-futures' machinery is
/// instantiated once for the crate instead of once per call site (a few KB of wasm each).
pub(crate) fn promise(f: JsResultFuture) -> Promise {
    wasm_bindgen_futures::future_to_promise(f)
}

/// Runs a future to completion in the background (boxed, for the same reason as [`promise`]).
pub(crate) fn spawn(f: Pin<Box<dyn Future<Output = ()>>>) {
    wasm_bindgen_futures::spawn_local(f);
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
    #[wasm_bindgen(js_namespace = console, js_name = debug)]
    fn console_debug(prefix: &str, msg: &str);
}

/// Device clock, epoch milliseconds.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A uniform random number in `[0, 1)`.
pub(crate) fn random() -> f64 {
    js_sys::Math::random()
}

/// `console.debug` with the SDK's prefix.
pub(crate) fn debug(msg: &str) {
    console_debug("[convex-auth-wasm]", msg);
}

/// Longest delay `setTimeout` honours (2^31 − 1 ms); longer ones fire at once.
const MAX_TIMEOUT_MS: f64 = 2_147_483_647.0;

/// A pending `setTimeout`, cancelled when dropped.
pub(crate) struct Timeout {
    id: JsValue,
    _closure: Closure<dyn FnMut()>,
}

impl Timeout {
    /// Runs `f` once after `ms` milliseconds (clamped to what browsers honour).
    pub(crate) fn new(ms: f64, f: impl FnOnce() + 'static) -> Timeout {
        let mut f = Some(f);
        let closure = Closure::<dyn FnMut()>::new(move || {
            if let Some(f) = f.take() {
                f();
            }
        });
        let id = set_timeout(
            closure.as_ref().unchecked_ref(),
            ms.clamp(0.0, MAX_TIMEOUT_MS),
        );
        Timeout {
            id,
            _closure: closure,
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

/// A pending Promise with its `resolve` function; resolved after `ms` when given.
fn pending(ms: Option<f64>) -> (Promise, Function) {
    let pair = super::io::deferred(ms);
    (pair.get(0).unchecked_into(), pair.get(1).unchecked_into())
}

/// A pending Promise with its `resolve` function.
pub(crate) fn deferred() -> (Promise, Function) {
    pending(None)
}

/// A Promise that resolves after `ms`, with its `resolve` function so that it can be woken early.
pub(crate) fn sleep(ms: f64) -> (Promise, Function) {
    pending(Some(ms.clamp(0.0, MAX_TIMEOUT_MS)))
}

/// The message of a thrown JS value (an `Error`'s `message`, or the value as a string).
pub(crate) fn js_message(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    js_sys::Reflect::get(e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}

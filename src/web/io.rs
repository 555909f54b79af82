//! The bindings of `io.js` (shipped beside the wasm by wasm-bindgen): IndexedDB records, the
//! storages as adapters, Web Locks, the Convex HTTP API with a timeout, the constructor's option
//! checks, `auth.fetch`, and the JS values handed to callers. What the session does with the
//! results is decided here and in the client.

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::core::error::{Error, ErrorCode};

#[wasm_bindgen(module = "/src/web/io.js")]
extern "C" {
    #[wasm_bindgen(js_name = idbGet)]
    fn idb_get(key: &str) -> Promise;
    #[wasm_bindgen(js_name = idbSet)]
    fn idb_set(key: &str, value: Option<&str>) -> Promise;
    #[wasm_bindgen(catch)]
    pub(crate) fn builtin(name: &str) -> Result<JsValue, JsValue>;
    pub(crate) fn memory(key: &str, value: Option<&str>) -> JsValue;
    #[wasm_bindgen(js_name = isAdapter)]
    pub(crate) fn is_adapter(object: &JsValue) -> bool;
    pub(crate) fn store(
        object: &JsValue,
        op: &str,
        key: &str,
        value: Option<&str>,
        ms: f64,
    ) -> Promise;
    pub(crate) fn adapter(get: &JsValue, set: &JsValue, remove: &JsValue) -> JsValue;
    fn lock(name: &str, ms: f64) -> Promise;
    pub(crate) fn deferred(ms: Option<f64>) -> Array;
    pub(crate) fn post(
        base: &str,
        path: &str,
        args: &JsValue,
        bearer: Option<&str>,
        ms: f64,
    ) -> Promise;

    // Values handed to JS callers (built in JS: one call instead of a property write each). None
    // of these throws, except where the binding catches: a JS exception must not unwind through
    // wasm frames.
    pub(crate) fn state(
        is_loading: bool,
        is_authenticated: bool,
        token: Option<&str>,
        user_id: Option<&str>,
        session_id: Option<&str>,
        expires_at: Option<f64>,
    ) -> JsValue;
    pub(crate) fn event(kind: &str, state: &JsValue, error: Option<JsValue>) -> JsValue;
    #[wasm_bindgen(js_name = authError)]
    pub(crate) fn auth_error(
        message: &str,
        code: &str,
        retryable: bool,
        data: Option<JsValue>,
    ) -> JsValue;
    #[wasm_bindgen(js_name = signInResult)]
    pub(crate) fn sign_in_result(signing_in: bool, redirect: Option<String>) -> JsValue;
    #[wasm_bindgen(catch, js_name = signInParams)]
    pub(crate) fn sign_in_params(params: &JsValue) -> Result<JsValue, JsValue>;
    pub(crate) fn args(
        provider: Option<&str>,
        params: &JsValue,
        verifier: Option<&str>,
        refresh_token: Option<&str>,
    ) -> JsValue;
    #[wasm_bindgen(catch)]
    pub(crate) fn options(options: &JsValue) -> Result<Array, JsValue>;
    pub(crate) fn unbound(dispatch: &JsValue) -> JsValue;
    pub(crate) fn own(base: &str, url: &str) -> bool;
    #[wasm_bindgen(catch, js_name = deploymentUrl)]
    pub(crate) fn deployment_url(url: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(js_name = takeCode)]
    pub(crate) fn take_code(handle: &JsValue, replace: Option<&Function>) -> Promise;
    #[wasm_bindgen(js_name = authFetch)]
    pub(crate) fn auth_fetch(token: &JsValue, base: &str) -> Function;
}

/// A held Web Lock; dropping it releases the lock.
pub(crate) struct LockGuard(Function);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::UNDEFINED);
    }
}

/// Takes the exclusive Web Lock `name`, waiting at most `timeout_ms`. `None` when Web Locks are
/// missing or the wait timed out: the caller goes on without the lock (the in-tab single flight
/// and the server's reuse window still prevent a lost session).
pub(crate) async fn acquire(name: &str, timeout_ms: f64) -> Option<LockGuard> {
    let release = JsFuture::from(lock(name, timeout_ms)).await.ok()?;
    release.dyn_into::<Function>().ok().map(LockGuard)
}

/// The refresh hand-over record for localStorage sessions: a copy of the stored JWT in
/// IndexedDB, written with it. localStorage reaches other tabs' renderers asynchronously, so a
/// tab that has just been granted the refresh lock can still read the token that the previous
/// holder replaced; IndexedDB reads are ordered after every committed write, so this copy is
/// current under the lock. Best effort: without IndexedDB the client falls back to what
/// localStorage shows.
pub(crate) struct Handover {
    /// The record `handover:<jwt key>`.
    record: String,
}

impl Handover {
    /// The hand-over record of the JWT stored under `jwt_key`.
    pub(crate) fn new(jwt_key: &str) -> Handover {
        let mut record = String::with_capacity(jwt_key.len() + 9);
        record.push_str("handover:");
        record.push_str(jwt_key);
        Handover { record }
    }

    /// The JWT last written, if known.
    pub(crate) async fn read(&self) -> Option<String> {
        JsFuture::from(idb_get(&self.record))
            .await
            .ok()?
            .as_string()
    }

    /// Records the JWT written (`None`: removed); committed when this returns.
    pub(crate) async fn write(&self, token: Option<&str>) {
        let _ = JsFuture::from(idb_set(&self.record, token)).await;
    }
}

/// The `forceRefreshToken` of fetchAccessToken's argument (`false` when absent or unreadable).
pub(crate) fn force_refresh(args: &JsValue) -> bool {
    args.is_object()
        && js_sys::Reflect::get(args, &JsValue::from_str("forceRefreshToken"))
            .is_ok_and(|v| v.is_truthy())
}

/// An [`Error`] from a `ConvexAuthError` that `io.js` rejected with (anything else is a
/// `Network` error with its message).
pub(crate) fn error_from_js(e: &JsValue) -> Error {
    let field = |name: &str| js_sys::Reflect::get(e, &JsValue::from_str(name)).ok();
    let code = field("code")
        .and_then(|c| c.as_string())
        .and_then(|c| ErrorCode::parse(&c))
        .unwrap_or(ErrorCode::Network);
    Error::new(code, super::platform::js_message(e))
}

//! The bindings of `io.js` (shipped beside the wasm by wasm-bindgen): the storages as adapters,
//! the driver that runs the client's asynchronous steps, the constructor's option checks,
//! `auth.fetch`, and the JS values handed to callers. What the session does is decided in the
//! client's core and in [`crate::core`].

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;

use crate::core::error::{Error, ErrorCode};
use crate::core::session::AuthState;

#[wasm_bindgen(module = "/src/web/io.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    pub(crate) fn builtin(name: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = isAdapter)]
    pub(crate) fn is_adapter(object: &JsValue) -> bool;
    pub(crate) fn adapter(get: &JsValue, set: &JsValue, remove: &JsValue) -> JsValue;

    /// `io.js`'s driver of one client (see `client` there).
    pub(crate) type Driver;
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn client(
        core: &JsValue,
        url: &str,
        keys: &Array,
        store: &JsValue,
        area: &JsValue,
        shared: bool,
        pending: Option<JsValue>,
        should_handle_code: &JsValue,
        replace_url: Option<&Function>,
        navigate: bool,
        verbose: bool,
    ) -> Driver;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn ready(this: &Driver) -> Promise;
    #[wasm_bindgen(method, js_name = signIn)]
    pub(crate) fn sign_in(this: &Driver, provider: Option<&str>, params: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = signOut)]
    pub(crate) fn sign_out(this: &Driver) -> Promise;
    #[wasm_bindgen(method)]
    pub(crate) fn token(this: &Driver, force: bool) -> Promise;
    #[wasm_bindgen(method, getter, js_name = fetchAccessToken)]
    pub(crate) fn fetch_access_token(this: &Driver) -> JsValue;
    #[wasm_bindgen(method)]
    pub(crate) fn due(this: &Driver);
    /// The facade's `token` getter.
    #[wasm_bindgen(js_name = tokenOf)]
    pub(crate) fn token_of(driver: &Driver, get_snapshot: &JsValue) -> JsValue;
    #[wasm_bindgen(method)]
    pub(crate) fn dispose(this: &Driver);
    /// The facade's `signIn`: the driver's answer as a SignInResult.
    #[wasm_bindgen(js_name = signIn)]
    pub(crate) fn sign_in_js(driver: &Driver, provider: &JsValue, params: &JsValue) -> Promise;

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
    #[wasm_bindgen(js_name = authError)]
    pub(crate) fn auth_error(
        message: &str,
        code: &str,
        retryable: bool,
        data: Option<JsValue>,
    ) -> JsValue;
    #[wasm_bindgen(catch)]
    pub(crate) fn options(options: &JsValue) -> Result<Array, JsValue>;
    pub(crate) fn unbound(core: &JsValue, fetch_access_token: &JsValue) -> Array;
    pub(crate) fn own(base: &str, url: &str) -> bool;
    pub(crate) fn message(thrown: &JsValue) -> String;
    #[wasm_bindgen(catch, js_name = deploymentUrl)]
    pub(crate) fn deployment_url(url: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(js_name = authFetch)]
    pub(crate) fn auth_fetch(token: &JsValue, base: &str) -> Function;
}

/// The state object that `getSnapshot()` returns (cached by `io.js` until the state changes).
pub(crate) fn state_object(s: &AuthState) -> JsValue {
    state(
        s.is_loading,
        s.is_authenticated,
        s.token.as_deref(),
        s.user_id.as_deref(),
        s.session_id.as_deref(),
        s.expires_at,
    )
}

impl Error {
    /// The error as a JS `Error` named `ConvexAuthError` with `code`, `retryable` and `data`.
    pub(crate) fn into_js(self) -> JsValue {
        let code = self.code().as_str();
        let d = self.into_details();
        auth_error(
            &d.message,
            code,
            d.retryable,
            d.data.map(|d| d.as_js().clone()),
        )
    }
}

/// An [`Error`] from a `ConvexAuthError` that `io.js` threw or rejected with: its code,
/// message, `retryable` and `data` (anything else is a `Network` error with its message).
pub(crate) fn error_from_js(e: &JsValue) -> Error {
    let field = |name: &str| js_sys::Reflect::get(e, &JsValue::from_str(name)).ok();
    let Some(code) = field("code")
        .and_then(|c| c.as_string())
        .and_then(|c| ErrorCode::parse(&c))
    else {
        return Error::new(ErrorCode::Network, message(e));
    };
    let mut error = Error::new(code, message(e));
    let details = error.details_mut();
    if let Some(retryable) = field("retryable").and_then(|r| r.as_bool()) {
        details.retryable = retryable;
    }
    details.data = field("data").and_then(crate::core::json::Json::from_js);
    error
}

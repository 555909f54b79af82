//! The bindings of the crate's JS modules, which wasm-bindgen ships beside the wasm as snippets:
//! `io.js` (the storages as adapters, fetch with a timeout, Web Locks, the constructor's option
//! checks, `auth.fetch`, the JS values handed to callers), `executor.js` (the executor that
//! carries out the session machine's commands, and the client's unbound functions) and `idb.js`
//! (IndexedDB and the encrypted storage). What the session does is decided by the machine
//! ([`crate::core::machine`]).

use js_sys::{Function, Promise};

use super::client::SessionPort;
use wasm_bindgen::prelude::*;

use crate::core::error::{Error, ErrorCode};
use crate::core::session::Session;

#[wasm_bindgen(module = "/src/web/io.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    pub(crate) fn builtin(name: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = isAdapter)]
    pub(crate) fn is_adapter(object: &JsValue) -> bool;
    pub(crate) fn adapter(get: &JsValue, set: &JsValue, remove: &JsValue) -> JsValue;

    /// A pending Promise with its settling functions (`deferred` in io.js).
    pub(crate) type Deferred;
    pub(crate) fn deferred() -> Deferred;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn promise(this: &Deferred) -> Promise;
    #[wasm_bindgen(method)]
    pub(crate) fn resolve(this: &Deferred, value: &JsValue);
    #[wasm_bindgen(method)]
    pub(crate) fn reject(this: &Deferred, error: &JsValue);

    /// The constructor's options as `io.js`'s `options` checked them.
    pub(crate) type CheckedOptions;
    #[wasm_bindgen(catch)]
    pub(crate) fn options(options: &JsValue) -> Result<CheckedOptions, JsValue>;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn url(this: &CheckedOptions) -> String;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn version(this: &CheckedOptions) -> String;
    /// `[official name, path]` pairs.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn functions(this: &CheckedOptions) -> js_sys::Array;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn storage(this: &CheckedOptions) -> JsValue;
    #[wasm_bindgen(method, getter, js_name = storageNamespace)]
    pub(crate) fn storage_namespace(this: &CheckedOptions) -> Option<String>;
    #[wasm_bindgen(method, getter, js_name = shouldHandleCode)]
    pub(crate) fn should_handle_code(this: &CheckedOptions) -> JsValue;
    #[wasm_bindgen(method, getter, js_name = replaceURL)]
    pub(crate) fn replace_url(this: &CheckedOptions) -> Option<Function>;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn navigate(this: &CheckedOptions) -> bool;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn verbose(this: &CheckedOptions) -> bool;
    #[wasm_bindgen(method, getter, js_name = storeUser)]
    pub(crate) fn store_user(this: &CheckedOptions) -> Option<String>;
    #[wasm_bindgen(method, getter, js_name = currentUser)]
    pub(crate) fn current_user(this: &CheckedOptions) -> Option<String>;
    /// The token source object (its functions checked), if given.
    #[wasm_bindgen(method, getter, js_name = tokenSource)]
    pub(crate) fn token_source(this: &CheckedOptions) -> Option<js_sys::Object>;

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
        stored_user_id: &JsValue,
        user: &JsValue,
    ) -> JsValue;
    #[wasm_bindgen(js_name = authError)]
    pub(crate) fn auth_error(
        message: &str,
        code: &str,
        retryable: bool,
        data: Option<JsValue>,
    ) -> JsValue;
    #[wasm_bindgen(js_name = signInResult)]
    pub(crate) fn sign_in_result(signing_in: bool, redirect: Option<&str>) -> JsValue;
    pub(crate) fn message(thrown: &JsValue) -> String;
    #[wasm_bindgen(catch, js_name = deploymentUrl)]
    pub(crate) fn deployment_url(url: &str) -> Result<String, JsValue>;
    /// The page's URL (`location.href`; undefined where there is none).
    #[wasm_bindgen(js_name = pageUrl)]
    pub(crate) fn page_url() -> Option<String>;
    #[wasm_bindgen(js_name = originOf)]
    pub(crate) fn origin_of(url: &str) -> Option<String>;
    /// `post` of io.js: a Convex function called over the HTTP API; a Promise of
    /// `{status, body}`, rejected with `{timedOut, message}`.
    #[cfg(feature = "serde")]
    #[wasm_bindgen(js_name = post)]
    pub(crate) fn post_call(
        base: &str,
        kind: &str,
        path: &str,
        args: &JsValue,
        bearer: Option<&str>,
        ms: f64,
    ) -> Promise;
}

#[wasm_bindgen]
extern "C" {
    /// `Reflect.set(object, key, value)`, for a plain object of the client's own (where it
    /// cannot throw).
    #[wasm_bindgen(js_namespace = Reflect, js_name = set)]
    pub(crate) fn set_string(object: &js_sys::Object, key: &str, value: &str);
    /// [`set_string`] with any value.
    #[wasm_bindgen(js_namespace = Reflect, js_name = set)]
    pub(crate) fn set_value(object: &js_sys::Object, key: &str, value: &JsValue);
}

#[wasm_bindgen(module = "/src/web/executor.js")]
extern "C" {
    /// The executor of one client (`executor.js`): the machine's commands carried out.
    pub(crate) type Executor;
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn executor(
        port: SessionPort,
        url: &str,
        store: &JsValue,
        keys: &JsValue,
        area: &JsValue,
        announce: bool,
        should_handle_code: &JsValue,
        replace_url: Option<&Function>,
        source: Option<&js_sys::Object>,
    ) -> Executor;
    /// Reads the slots named in `slots` (and the hand-over copy when `copy`).
    #[wasm_bindgen(method)]
    pub(crate) fn read(this: &Executor, op: u32, slots: &js_sys::Array, copy: bool, ms: f64);
    /// Writes `values` (an object by slot name, in order; `null` removes).
    #[wasm_bindgen(method)]
    pub(crate) fn write(this: &Executor, op: u32, values: &JsValue, copy: bool, ms: f64);
    #[wasm_bindgen(method, js_name = useMemory)]
    pub(crate) fn use_memory(this: &Executor, values: &JsValue);
    #[wasm_bindgen(method)]
    pub(crate) fn announce(this: &Executor);
    #[wasm_bindgen(method)]
    pub(crate) fn post(
        this: &Executor,
        op: u32,
        kind: &str,
        path: &str,
        args: &JsValue,
        bearer: Option<&str>,
        ms: f64,
    );
    /// Calls the token source: its `signOut()`, or `fetchToken({forceRefreshToken: force})`.
    #[wasm_bindgen(method)]
    pub(crate) fn source(this: &Executor, op: u32, sign_out: bool, force: bool, ms: f64);
    /// Gives the attached reactive client `attachment` the token fetcher again.
    #[wasm_bindgen(method)]
    pub(crate) fn reauthenticate(this: &Executor, attachment: u32);
    /// Subscribes to the query `path` through the attached reactive client `attachment`.
    #[wasm_bindgen(method)]
    pub(crate) fn watch(this: &Executor, attachment: u32, path: &str);
    #[wasm_bindgen(method, js_name = takeCode)]
    pub(crate) fn take_code(this: &Executor, op: u32, code: &str, error: Option<&str>);
    /// Waits for the ceremony `running` ([`ceremony`]).
    #[wasm_bindgen(method)]
    pub(crate) fn ceremony(this: &Executor, op: u32, running: &Promise);
    #[wasm_bindgen(method)]
    pub(crate) fn lock(this: &Executor, op: u32, name: &str, ms: f64);
    #[wasm_bindgen(method)]
    pub(crate) fn release(this: &Executor, op: u32);
    #[wasm_bindgen(method, js_name = setTimer)]
    pub(crate) fn set_timer(this: &Executor, name: &str, ms: f64);
    #[wasm_bindgen(method, js_name = clearTimer)]
    pub(crate) fn clear_timer(this: &Executor, name: &str);
    #[wasm_bindgen(method)]
    pub(crate) fn navigate(this: &Executor, url: &str);
    #[wasm_bindgen(method)]
    pub(crate) fn trace(this: &Executor, line: &str);
    #[wasm_bindgen(method)]
    pub(crate) fn dispose(this: &Executor);

    /// The client's functions that work unbound (`unbound` in executor.js), over its executor;
    /// `due` names the timer that the `token` getter fires when it is overdue.
    pub(crate) type Unbound;
    pub(crate) fn unbound(
        port: SessionPort,
        executor: &Executor,
        due: &str,
        source: Option<&js_sys::Object>,
    ) -> Unbound;
    #[wasm_bindgen(method, getter, js_name = getSnapshot)]
    pub(crate) fn get_snapshot(this: &Unbound) -> JsValue;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn subscribe(this: &Unbound) -> JsValue;
    #[wasm_bindgen(method, getter, js_name = onChange)]
    pub(crate) fn on_change(this: &Unbound) -> JsValue;
    #[wasm_bindgen(method, getter, js_name = fetchAccessToken)]
    pub(crate) fn fetch_access_token(this: &Unbound) -> JsValue;
    /// `attach(convexClient)`: gives a reactive Convex client the token fetcher; returns the
    /// function that detaches it.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn attach(this: &Unbound) -> JsValue;
    /// `auth.fetch` (io.js's `authFetch` over the client's port).
    #[wasm_bindgen(method, getter)]
    pub(crate) fn fetch(this: &Unbound) -> Function;
    /// The facade's `token` getter: the JWT of getSnapshot's cache (no copy out of wasm memory),
    /// after firing an overdue refresh timer.
    #[wasm_bindgen(method)]
    pub(crate) fn token(this: &Unbound) -> JsValue;
    /// The facade's `signIn`: provider and params checked, then the port's `signIn` (with a token
    /// source: the source's `signIn`, then the port's `changed`).
    #[wasm_bindgen(method, js_name = signIn)]
    pub(crate) fn sign_in(this: &Unbound, provider: &JsValue, params: &JsValue) -> Promise;
    /// Tells the JS state listeners that the state changed.
    #[wasm_bindgen(method, js_name = stateChanged)]
    pub(crate) fn state_changed(this: &Unbound);
    /// Tells the JS event listeners of the event `kind` (with its `error`, or undefined).
    #[wasm_bindgen(method)]
    pub(crate) fn happened(this: &Unbound, kind: &str, error: &JsValue);
}

#[wasm_bindgen(module = "/src/web/webauthn.js")]
extern "C" {
    /// Starts the WebAuthn ceremony of a passkey sign-in; the executor waits for it.
    pub(crate) fn ceremony(register: bool, conditional: bool, options: &JsValue) -> Promise;
}

#[wasm_bindgen(module = "/src/web/idb.js")]
extern "C" {
    /// The encrypted storage (IndexedDB, AES-GCM) as an adapter object.
    pub(crate) fn encrypted() -> JsValue;
}

/// Whether `object.<name>` is a function (a getter that throws: no).
pub(crate) fn has_function(object: &js_sys::Object, name: &str) -> bool {
    js_sys::Reflect::get(object, &JsValue::from_str(name)).is_ok_and(|f| f.is_function())
}

/// The state object that `getSnapshot()` returns (cached by `executor.js` until the state changes),
/// read from the session without copying it.
pub(crate) fn state_object<B: crate::core::machine::Backend>(
    machine: Option<&crate::core::machine::Machine<B>>,
) -> JsValue {
    let session = machine.and_then(|m| m.session());
    // Undefined when the option is not set, null while there is no value.
    let user_value = |mutation: bool| match machine {
        Some(m) if m.runs_user(mutation) => m
            .user_value(mutation)
            .map_or(JsValue::NULL, |v| v.as_js().clone()),
        _ => JsValue::UNDEFINED,
    };
    state(
        machine.is_some_and(|m| m.is_loading()),
        machine.is_some_and(|m| m.is_authenticated()),
        session.map(|s| s.token.as_str()),
        session.and_then(|s| s.user_id.as_deref()),
        session.and_then(Session::session_id),
        session.map(|s| s.claims.expires_at_ms() as f64),
        &user_value(true),
        &user_value(false),
    )
}

impl Error {
    /// The error as a JS `Error` named `ConvexAuthError` with `code`, `retryable` and `data`.
    pub(crate) fn to_js(&self) -> JsValue {
        let d = self.details();
        auth_error(
            &d.message,
            &self.code_name(),
            d.retryable,
            d.data.as_ref().map(|d| d.as_js().clone()),
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

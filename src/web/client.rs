//! The client: one [`Machine`] per `ConvexAuthClient` (every state and decision, in
//! [`crate::core::machine`]) and `executor.js`'s executor, which carries out the machine's commands
//! with the browser's APIs and feeds each completion back through a [`SessionPort`]. The JS
//! facade and this Rust API (for Leptos, Yew and Dioxus apps) drive the same machine.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::io;
use super::platform::{now_ms, promise, random};
use super::storage::Storage;
use crate::core::error::{Error, ErrorCode};
use crate::core::json::Json;
use crate::core::keys::Keys;
pub use crate::core::machine::SignInOutcome;
use crate::core::machine::{
    Backend, Call, CallerId, Command, Config, ConvexAuthV1, Input, Machine, Outcome, Slot,
    SourceCall, Stored, Timer, LOCK_TIMEOUT_MS, REQUEST_TIMEOUT_MS, STORAGE_TIMEOUT_MS,
};
use crate::core::protocol;
use crate::core::session::{AuthEvent, AuthEventKind, AuthState};
use crate::core::source::TokenSource;
use crate::core::v2::ConvexAuthV2;

/// A future returned by a user callback.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A token source's `fetchToken` in Rust ([`Options::token_source_fn`]): the platform's JWT
/// (`None`: signed out there), or why it could not be had (transient).
pub type FetchToken = Rc<dyn Fn(bool) -> LocalFuture<Result<Option<String>, String>>>;

/// Whether to exchange a `?code=` found in the page URL.
#[derive(Clone, Debug, Default)]
pub enum ShouldHandleCode {
    /// Always (the default).
    #[default]
    Always,
    /// Never: the app handles `code` itself.
    Never,
    /// Ask a JS function `(url: URL) => boolean` for each page URL (a Rust one through
    /// [`ShouldHandleCode::with`]); a function that throws means no.
    Function(Function),
}

impl ShouldHandleCode {
    /// Asks `f` for each page URL.
    pub fn with(f: impl Fn(&web_sys::Url) -> bool + 'static) -> ShouldHandleCode {
        let f = Closure::<dyn Fn(web_sys::Url) -> bool>::new(move |url: web_sys::Url| f(&url));
        ShouldHandleCode::Function(f.into_js_value().unchecked_into())
    }
}

/// The generation of Convex Auth the deployment runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    /// `@convex-dev/auth` 0.0.x (the default).
    #[default]
    V1,
    /// `@convex-dev/auth` 2.x.
    V2,
}

/// Options of [`ConvexAuthClient::new`].
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// The deployment URL, e.g. `https://happy-animal-123.convex.cloud`.
    pub url: String,
    /// The generation of Convex Auth the deployment runs. Default: v1.
    pub version: Version,
    /// v2 only: `(official name, "module:function")` for each auth function the app exports
    /// under another name than `auth:<official name>`.
    pub functions: Vec<(String, String)>,
    /// Where tokens are kept. Default: localStorage.
    pub storage: Storage,
    /// Key namespace. Default: `url`.
    pub storage_namespace: Option<String>,
    /// Whether to exchange `?code=` from the page URL. Default: always.
    pub should_handle_code: ShouldHandleCode,
    /// Replaces the page URL after removing `code`: a JS function `(relativeUrl) => void |
    /// Promise<void>` (a Rust one through [`Options::replace_url`]). Default:
    /// `history.replaceState`.
    pub replace_url: Option<Function>,
    /// Whether an OAuth sign-in navigates the window to the provider. Default: true.
    pub navigate: bool,
    /// Trace to `console.debug` (tokens are never printed). Default: false.
    pub verbose: bool,
    /// An identity platform's token source (API.md, `tokenSource`): a JS object
    /// `{fetchToken({forceRefreshToken}), subscribe?(changed), signIn?(...), signOut?()}` (a Rust
    /// one through [`Options::token_source_fn`]). The platform then holds the session: `version`,
    /// `functions` and `storage` are not used.
    pub token_source: Option<Object>,
    /// `"module:function"` of a mutation run once per signed-in identity before the client
    /// counts as signed in (the Convex guide's `users:store`); its result is the state's
    /// `stored_user_id`.
    pub store_user: Option<String>,
    /// `"module:function"` of a query whose value the client waits for (asked again with
    /// backoff while it is null) before it counts as signed in (the guide's `users:current`);
    /// the state's `user`.
    pub current_user: Option<String>,
}

impl Options {
    /// Options with defaults for `url`.
    pub fn new(url: impl Into<String>) -> Options {
        Options {
            url: url.into(),
            version: Version::V1,
            functions: Vec::new(),
            storage: Storage::LocalStorage,
            storage_namespace: None,
            should_handle_code: ShouldHandleCode::Always,
            replace_url: None,
            navigate: true,
            verbose: false,
            token_source: None,
            store_user: None,
            current_user: None,
        }
    }
    /// Runs the mutation `path` once per signed-in identity before counting as signed in.
    pub fn store_user(mut self, path: impl Into<String>) -> Self {
        self.store_user = Some(path.into());
        self
    }
    /// Waits for the query `path` to give a user (not null) before counting as signed in.
    pub fn current_user(mut self, path: impl Into<String>) -> Self {
        self.current_user = Some(path.into());
        self
    }
    /// Takes tokens from an identity platform: `fetch_token(force_refresh)` resolves the
    /// platform's JWT for Convex (`None`: signed out there; `Err`: a transient failure, with its
    /// message). Tell the client when the platform's sign-in state changes with
    /// [`ConvexAuthClient::token_source_changed`].
    pub fn token_source_fn(mut self, fetch_token: FetchToken) -> Self {
        let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |args: JsValue| {
            let force = Reflect::get(&args, &JsValue::from_str("forceRefreshToken"))
                .is_ok_and(|f| f.is_truthy());
            let token = fetch_token(force);
            promise(Box::pin(async move {
                match token.await {
                    Ok(token) => Ok(token.map_or(JsValue::NULL, JsValue::from)),
                    Err(message) => Err(JsValue::from(js_sys::Error::new(&message))),
                }
            }))
        });
        let source = Object::new();
        io::set_value(&source, "fetchToken", &f.into_js_value());
        self.token_source = Some(source);
        self
    }
    /// Sets the generation of Convex Auth.
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }
    /// v2: calls the function `official` (e.g. `signInWithEmailPassword`) as `path` (e.g.
    /// `myAuth:signInWithEmailPassword`).
    pub fn function(mut self, official: impl Into<String>, path: impl Into<String>) -> Self {
        self.functions.push((official.into(), path.into()));
        self
    }
    /// Sets the storage.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }
    /// Sets the key namespace.
    pub fn storage_namespace(mut self, ns: impl Into<String>) -> Self {
        self.storage_namespace = Some(ns.into());
        self
    }
    /// Sets URL code handling.
    pub fn should_handle_code(mut self, v: ShouldHandleCode) -> Self {
        self.should_handle_code = v;
        self
    }
    /// Sets the URL replacement callback.
    pub fn replace_url(mut self, f: Rc<dyn Fn(String) -> LocalFuture<()>>) -> Self {
        let f = Closure::<dyn Fn(String) -> Promise>::new(move |url: String| {
            let done = f(url);
            promise(Box::pin(async move {
                done.await;
                Ok(JsValue::UNDEFINED)
            }))
        });
        self.replace_url = Some(f.into_js_value().unchecked_into());
        self
    }
    /// Sets whether OAuth navigates the window.
    pub fn navigate(mut self, v: bool) -> Self {
        self.navigate = v;
        self
    }
    /// Sets tracing.
    pub fn verbose(mut self, v: bool) -> Self {
        self.verbose = v;
        self
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("url", &self.url)
            .field("version", &self.version)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// A state or event listener.
#[derive(Clone)]
enum Listener {
    State(Rc<dyn Fn(&AuthState)>),
    Event(Rc<dyn Fn(&AuthEvent)>),
}

/// Where a Rust caller's outcome lands.
#[derive(Default)]
struct Landing {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

/// The future of a Rust caller: ready once the machine settles it (at the latest at `free()`).
struct Wait(Rc<RefCell<Landing>>);

impl Future for Wait {
    type Output = Outcome;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut landing = self.0.borrow_mut();
        match landing.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                landing.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Who waits for a caller's outcome.
enum Waiter {
    /// A JS caller: its Promise.
    Js(io::Deferred),
    /// A Rust caller: its [`Wait`].
    Rust(Rc<RefCell<Landing>>),
}

pub(crate) struct Inner {
    url: String,
    /// The deployment's origin, as the browser serialises it.
    origin: Option<String>,
    keys: Keys,
    machine: RefCell<Machine<Box<dyn Backend>>>,
    executor: io::Executor,
    /// The functions the JS API hands out unbound, which also tell the JS listeners.
    pub(crate) unbound: io::Unbound,
    listeners: RefCell<Vec<(u32, Listener)>>,
    next_id: Cell<u32>,
    waiters: RefCell<Vec<(CallerId, Waiter)>>,
    next_caller: Cell<CallerId>,
    /// The token source, for a client of an identity platform.
    source: Option<Object>,
}

/// The Convex Auth client. Dropping it stops its timers and listeners, and settles every call
/// still waiting.
pub struct ConvexAuthClient {
    pub(crate) inner: Rc<Inner>,
}

impl std::fmt::Debug for ConvexAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvexAuthClient")
            .field("url", &self.inner.url)
            .field("state", &self.inner.state())
            .finish()
    }
}

/// A listener registration; dropping it unsubscribes, [`Subscription::keep`] keeps it for the
/// client's lifetime.
#[must_use = "dropping a Subscription unsubscribes at once"]
#[derive(Debug)]
pub struct Subscription {
    inner: Weak<Inner>,
    id: u32,
}

impl Subscription {
    /// Keeps the listener for as long as the client lives (no handle to hold).
    pub fn keep(mut self) {
        self.inner = Weak::new();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.remove_listener(self.id);
        }
    }
}

/// Checks a deployment URL: absolute http(s) without query or fragment, returned without a
/// trailing slash.
pub fn normalize_url(url: &str) -> Result<String, Error> {
    io::deployment_url(url).map_err(|e| Error::options(io::message(&e)))
}

/// The JS handle of a client's machine: `executor.js` feeds every completion through it,
/// and the JS facade's calls go through it. Internal to the package.
#[doc(hidden)]
#[wasm_bindgen(skip_typescript)]
pub struct SessionPort {
    inner: Weak<Inner>,
}

impl std::fmt::Debug for SessionPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionPort")
    }
}

impl ConvexAuthClient {
    /// Creates the client and starts loading the stored session (and exchanging a `?code=` in
    /// the page URL). Await [`ready`](Self::ready) for the first known state.
    pub fn new(options: Options) -> Result<ConvexAuthClient, Error> {
        let url = normalize_url(&options.url)?;
        let namespace = options.storage_namespace.as_deref().unwrap_or(&options.url);
        let source = options.token_source.clone();
        let (keys, backend): (Keys, Box<dyn Backend>) = match options.version {
            _ if source.is_some()
                && (options.version == Version::V2 || !options.functions.is_empty()) =>
            {
                return Err(Error::options(
                    "`version` and `functions` are not used with a token source",
                ))
            }
            // The platform holds the session: nothing is stored (the keys are unused).
            _ if source.is_some() => {
                let signs_out = source
                    .as_ref()
                    .is_some_and(|s| io::has_function(s, "signOut"));
                (Keys::new(namespace), Box::new(TokenSource { signs_out }))
            }
            Version::V1 if !options.functions.is_empty() => {
                return Err(Error::options(
                    "`functions` names Convex Auth v2 functions: it needs `version: \"v2\"`",
                ))
            }
            Version::V1 => (Keys::new(namespace), Box::new(ConvexAuthV1)),
            Version::V2 => (
                Keys::v2(namespace),
                Box::new(ConvexAuthV2 {
                    functions: options.functions,
                }),
            ),
        };
        let storage = match source {
            Some(_) => Storage::Memory,
            None => options.storage,
        };
        // Whether other tabs use the same storage (localStorage, encrypted, adapters): refreshes
        // then take the Web Lock.
        let shared = !matches!(storage, Storage::SessionStorage | Storage::Memory);
        // A storage that does not open is replaced by memory; the machine reports it.
        let (store, storage_error) = match storage.open() {
            Ok(store) => (store, None),
            Err(thrown) => (
                io::builtin("memory").unwrap_or(JsValue::UNDEFINED),
                Some(Error::storage(io::message(&thrown))),
            ),
        };
        // Other tabs' localStorage writes arrive as `storage` events for this object.
        let local = matches!(storage, Storage::LocalStorage) && storage_error.is_none();
        let area = if local {
            store.clone()
        } else {
            JsValue::UNDEFINED
        };
        let config = Config {
            shared,
            handover: local,
            announce: shared && !local && storage_error.is_none(),
            storage_error,
            navigate: options.navigate,
            verbose: options.verbose,
            seed: (random() * 9_007_199_254_740_992.0) as u64,
            store_user: options.store_user,
            current_user: options.current_user,
        };
        let should_handle_code = match options.should_handle_code {
            ShouldHandleCode::Always => JsValue::TRUE,
            ShouldHandleCode::Never => JsValue::FALSE,
            ShouldHandleCode::Function(f) => f.into(),
        };
        // The storage key of each slot, by the slot's name.
        let key_names = Object::new();
        for slot in Slot::ALL {
            io::set_string(&key_names, slot.as_str(), keys.of(slot));
        }
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| {
            // The executor starts the machine after a microtask, when this Rc is complete.
            let executor = io::executor(
                SessionPort {
                    inner: weak.clone(),
                },
                &url,
                &store,
                &key_names,
                &area,
                config.announce,
                &should_handle_code,
                options.replace_url.as_ref(),
                source.as_ref(),
            );
            let unbound = io::unbound(
                SessionPort {
                    inner: weak.clone(),
                },
                &executor,
                Timer::Due.as_str(),
                source.as_ref(),
            );
            Inner {
                origin: io::origin_of(&url),
                url,
                keys,
                machine: RefCell::new(Machine::with_backend(backend, config)),
                executor,
                unbound,
                listeners: RefCell::new(Vec::new()),
                next_id: Cell::new(0),
                waiters: RefCell::new(Vec::new()),
                next_caller: Cell::new(0),
                source,
            }
        });
        Ok(ConvexAuthClient { inner })
    }

    /// Resolves once the first state is known: the stored session loaded, the URL code exchanged,
    /// and the session's gates passed or failed (`store_user`, `current_user`), so that
    /// `is_loading` is false.
    pub async fn ready(&self) {
        self.inner.call(Call::Ready).await;
    }

    /// The current state.
    pub fn state(&self) -> AuthState {
        self.inner.state()
    }

    /// The current JWT, if signed in. A token that is due (the tab slept past its timer) starts
    /// a refresh in the background; the current one is returned meanwhile.
    pub fn token(&self) -> Option<String> {
        self.inner.feed(Input::TokenRead);
        self.inner.machine.borrow().token().map(str::to_owned)
    }

    /// Calls `f` with the state now and after every change.
    pub fn subscribe(&self, f: impl Fn(&AuthState) + 'static) -> Subscription {
        let f: Rc<dyn Fn(&AuthState)> = Rc::new(f);
        let sub = self.inner.add_listener(Listener::State(f.clone()));
        f(&self.inner.state());
        sub
    }

    /// Calls `f` with every auth event.
    pub fn on_change(&self, f: impl Fn(&AuthEvent) + 'static) -> Subscription {
        self.inner.add_listener(Listener::Event(Rc::new(f)))
    }

    /// Signs in with `provider` (or exchanges `params.code` when `provider` is `None`).
    pub async fn sign_in(
        &self,
        provider: Option<&str>,
        params: Vec<(String, String)>,
    ) -> Result<SignInOutcome, Error> {
        if self.inner.source.is_some() {
            let object = Object::new();
            for (key, value) in &params {
                io::set_string(&object, key, value);
            }
            let provider = provider.map_or(JsValue::UNDEFINED, JsValue::from);
            return self.inner.source_sign_in(&provider, &object).await;
        }
        let call = Call::SignIn {
            provider: provider.map(str::to_owned),
            params,
            page_url: page_url(),
        };
        match self.inner.call(call).await {
            Outcome::SignIn(outcome) => outcome,
            _ => Ok(SignInOutcome {
                signing_in: false,
                redirect: None,
            }),
        }
    }

    /// Signs out here and in every tab sharing the storage, and deletes the server session.
    pub async fn sign_out(&self) {
        self.inner.call(Call::SignOut).await;
    }

    /// A token for the Convex client (see `fetchAccessToken` in API.md).
    pub async fn fetch_access_token(&self, force_refresh: bool) -> Option<String> {
        match self
            .inner
            .call(Call::Token {
                force: force_refresh,
            })
            .await
        {
            Outcome::Token(token) => token,
            _ => None,
        }
    }

    /// `fetch` with `Authorization: Bearer <jwt>` for the app's HTTP actions. The token is
    /// attached only for the deployment's own origins (the configured url's origin, and for a
    /// `*.convex.cloud` url its `*.convex.site` twin); on a 401 the session is refreshed once
    /// and the request sent once more.
    pub async fn fetch(&self, request: web_sys::Request) -> Result<web_sys::Response, Error> {
        // The same `auth.fetch` as JS callers get (io.js), over the client's token fetcher.
        let fetch = self.inner.unbound.fetch();
        match fetch.call1(&JsValue::UNDEFINED, &request) {
            Ok(p) => JsFuture::from(Promise::from(p)).await,
            Err(e) => Err(e),
        }
        .map(JsCast::unchecked_into)
        .map_err(|e| io::error_from_js(&e))
    }

    /// Tells a client with a token source that the platform's sign-in state changed (what the
    /// JS `tokenSource.subscribe` callback does): the source is asked again.
    pub fn token_source_changed(&self) {
        self.inner.feed(Input::SourceChanged);
    }

    /// Whether `url` belongs to the deployment (so a token may be sent there).
    pub fn is_deployment_url(&self, url: &str) -> bool {
        self.inner.owns(io::origin_of(url).as_deref())
    }

    /// The deployment URL (without trailing slash).
    pub fn url(&self) -> &str {
        &self.inner.url
    }
}

impl Drop for ConvexAuthClient {
    fn drop(&mut self) {
        // The machine settles every caller still waiting, then nothing runs any more.
        self.inner.feed(Input::Free);
        self.inner.listeners.borrow_mut().clear();
        self.inner.executor.dispose();
    }
}

/// The port's inputs, as `executor.js` and the facade call them.
#[wasm_bindgen(js_class = SessionPort)]
impl SessionPort {
    // One copy for every input (not inlined into each export).
    #[inline(never)]
    fn feed(&self, input: Input) {
        if let Some(inner) = self.inner.upgrade() {
            inner.feed(input);
        }
    }

    /// The client may start (its listeners were added).
    pub fn start(&self) {
        self.feed(Input::Start);
    }

    /// A read completed: `values` holds the value of each slot read, by slot name (absent
    /// ones left out), `copy` the hand-over copy of the JWT when asked for.
    pub fn stored(&self, op: u32, values: JsValue, copy: Option<String>) {
        let values = Slot::ALL
            .into_iter()
            .filter_map(|slot| {
                let value = Reflect::get(&values, &JsValue::from_str(slot.as_str())).ok()?;
                Some((slot, value.as_string()?))
            })
            .collect();
        self.feed(Input::Stored {
            op,
            values: Stored { values, copy },
        });
    }

    /// A write completed.
    pub fn written(&self, op: u32) {
        self.feed(Input::Written { op });
    }

    /// A read or write failed with `message`.
    #[wasm_bindgen(js_name = storageFailed)]
    pub fn storage_failed(&self, op: u32, message: String) {
        self.feed(Input::StorageFailed { op, message });
    }

    /// The page URL's code and error were taken (or there were none to take).
    #[wasm_bindgen(js_name = codeTaken)]
    pub fn code_taken(&self, op: u32, code: Option<String>, error: Option<String>) {
        self.feed(Input::CodeTaken { op, code, error });
    }

    /// A WebAuthn ceremony produced `credential` (its JSON form).
    #[wasm_bindgen(js_name = ceremonyDone)]
    pub fn ceremony_done(&self, op: u32, credential: JsValue) {
        let result = Json::from_js(credential).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidResponse,
                "The passkey ceremony produced no credential",
            )
        });
        self.feed(Input::CeremonyDone { op, result });
    }

    /// A WebAuthn ceremony failed: the browser threw the DOMException `name` with `message`.
    #[wasm_bindgen(js_name = ceremonyFailed)]
    pub fn ceremony_failed(&self, op: u32, name: &str, message: &str) {
        let result = Err(protocol::ceremony_error(name, message));
        self.feed(Input::CeremonyDone { op, result });
    }

    /// A request was answered with `status` and the parsed JSON `body` (undefined: not JSON).
    pub fn answered(&self, op: u32, status: u16, body: JsValue) {
        let body = Json::from_js(body);
        self.feed(Input::Answered { op, status, body });
    }

    /// A request got no answer: it timed out (`timed_out`), or the network failed; `message`
    /// says what happened.
    pub fn unreachable(&self, op: u32, timed_out: bool, message: String) {
        let code = if timed_out {
            ErrorCode::Timeout
        } else {
            ErrorCode::Network
        };
        let error = Error::new(code, message);
        self.feed(Input::Unreachable { op, error });
    }

    /// The token source's call resolved with `value`: a token (a string), or none (null or
    /// undefined); anything else is an `InvalidResponse`.
    #[wasm_bindgen(js_name = sourceAnswered)]
    pub fn source_answered(&self, op: u32, value: JsValue) {
        let result = match value.as_string() {
            Some(token) => Ok(Some(token)),
            None if value.is_null() || value.is_undefined() => Ok(None),
            None => Err(Error::new(
                ErrorCode::InvalidResponse,
                "tokenSource.fetchToken must resolve to a JWT string or null",
            )),
        };
        self.feed(Input::SourceAnswered { op, result });
    }

    /// The token source's call threw or rejected with `message`, or did not settle in time
    /// (`timed_out`).
    #[wasm_bindgen(js_name = sourceFailed)]
    pub fn source_failed(&self, op: u32, timed_out: bool, message: String) {
        let code = if timed_out {
            ErrorCode::Timeout
        } else {
            ErrorCode::Network
        };
        let result = Err(Error::new(code, message));
        self.feed(Input::SourceAnswered { op, result });
    }

    /// The reactive client `attachment` was given the token fetcher (`attach`).
    pub fn attached(&self, attachment: u32) {
        self.feed(Input::Attached(attachment));
    }

    /// The reactive client `attachment` reported whether the backend accepted its token.
    pub fn verdict(&self, attachment: u32, accepted: bool) {
        self.feed(Input::Verdict {
            attachment,
            accepted,
        });
    }

    /// The reactive client `attachment`'s subscription has a new `value` (undefined: none).
    pub fn watched(&self, attachment: u32, value: JsValue) {
        if let Some(value) = Json::from_js(value) {
            self.feed(Input::Watched { attachment, value });
        }
    }

    /// The reactive client `attachment` was detached.
    pub fn detached(&self, attachment: u32) {
        self.feed(Input::Detached(attachment));
    }

    /// The token source reported a change of its sign-in state.
    #[wasm_bindgen(js_name = sourceChanged)]
    pub fn source_changed(&self) {
        self.feed(Input::SourceChanged);
    }

    /// The lock was granted, or not (no Web Locks, or the wait timed out).
    pub fn locked(&self, op: u32, granted: bool) {
        self.feed(Input::Locked { op, granted });
    }

    /// The timer `name` fired.
    pub fn fired(&self, name: &str) {
        if let Some(timer) = Timer::parse(name) {
            self.feed(Input::TimerFired(timer));
        }
    }

    /// The browser is back online.
    pub fn online(&self) {
        self.feed(Input::Online);
    }

    /// The page gained focus or became visible.
    pub fn focused(&self) {
        self.feed(Input::Focused);
    }

    /// Another tab wrote the shared localStorage's JWT (undefined: removed).
    #[wasm_bindgen(js_name = tabWrote)]
    pub fn tab_wrote(&self, token: Option<String>) {
        self.feed(Input::TabWrote(token));
    }

    /// Another tab announced a write of the shared storage.
    #[wasm_bindgen(js_name = tabAnnounced)]
    pub fn tab_announced(&self) {
        self.feed(Input::TabAnnounced);
    }

    /// The state object (`getSnapshot`); signed out once the client is freed.
    pub fn snapshot(&self) -> JsValue {
        match self.inner.upgrade() {
            Some(inner) => {
                let machine = inner.machine.borrow();
                io::state_object(Some(&*machine))
            }
            None => io::state_object::<Box<dyn Backend>>(None),
        }
    }

    /// Whether the token may be sent to `origin` (`auth.fetch`; undefined: not a URL).
    pub fn owns(&self, origin: Option<String>) -> bool {
        self.inner
            .upgrade()
            .is_some_and(|inner| inner.owns(origin.as_deref()))
    }

    /// `fetchAccessToken`.
    pub fn token(&self, force: bool) -> Promise {
        self.call(Call::Token { force })
    }

    /// The token source's state changed (after its `signIn`): the token it gives now.
    pub fn changed(&self) -> Promise {
        self.call(Call::Changed)
    }

    /// `signIn`, with params already checked as a plain object of strings.
    #[wasm_bindgen(js_name = signIn)]
    pub fn sign_in(&self, provider: Option<String>, params: JsValue) -> Promise {
        let params = Object::entries(params.unchecked_ref())
            .iter()
            .filter_map(|pair| {
                let pair: Array = pair.unchecked_into();
                // `get_unchecked` is the plain indexing getter (undefined past the end), the one
                // binding that `Array::iter` also uses.
                let (key, value) = (pair.get_unchecked(0), pair.get_unchecked(1));
                Some((key.as_string()?, value.as_string()?))
            })
            .collect();
        self.call(Call::SignIn {
            provider,
            params,
            page_url: page_url(),
        })
    }
}

impl SessionPort {
    fn call(&self, call: Call) -> Promise {
        match self.inner.upgrade() {
            Some(inner) => inner.call_js(call),
            // A freed client answers as a signed-out one.
            None => {
                let deferred = io::deferred();
                let promise = deferred.promise();
                settle_js(&deferred, call.abandoned());
                promise
            }
        }
    }
}

/// Hands `outcome` to `waiter`: resolves (or rejects) a JS caller's Promise, or wakes a Rust
/// caller's future.
fn deliver(waiter: Waiter, outcome: Outcome) {
    match waiter {
        Waiter::Js(deferred) => settle_js(&deferred, outcome),
        Waiter::Rust(landing) => {
            let waker = {
                let mut landing = landing.borrow_mut();
                landing.outcome = Some(outcome);
                landing.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// Settles a JS caller's Promise with `outcome`.
fn settle_js(deferred: &io::Deferred, outcome: Outcome) {
    match outcome {
        Outcome::Ready | Outcome::SignedOut => deferred.resolve(&JsValue::UNDEFINED),
        Outcome::Token(token) => deferred.resolve(&token.map_or(JsValue::NULL, JsValue::from)),
        Outcome::SignIn(Ok(o)) => {
            deferred.resolve(&io::sign_in_result(o.signing_in, o.redirect.as_deref()))
        }
        Outcome::SignIn(Err(e)) => deferred.reject(&e.to_js()),
    }
}

impl Inner {
    pub(crate) fn state(&self) -> AuthState {
        self.machine.borrow().state()
    }

    /// Whether the token may be sent to `origin`.
    fn owns(&self, origin: Option<&str>) -> bool {
        match (&self.origin, origin) {
            (Some(deployment), Some(origin)) => {
                crate::core::origin::is_deployment_origin(deployment, origin)
            }
            _ => false,
        }
    }

    /// The machine, to read.
    pub(crate) fn machine(&self) -> std::cell::Ref<'_, Machine<Box<dyn Backend>>> {
        self.machine.borrow()
    }

    /// Hands `input` to the machine, then carries out its commands. No borrow is held while
    /// they run: listeners may call back into the client. (The machine calls nothing outside
    /// itself while it handles an input, so it is never borrowed here; were it, the input would
    /// be dropped rather than panic.)
    pub(crate) fn feed(&self, input: Input) {
        let commands = match self.machine.try_borrow_mut() {
            Ok(mut machine) => {
                machine.handle(now_ms(), input);
                machine.take_commands()
            }
            Err(_) => return,
        };
        for command in commands {
            self.run(command);
        }
    }

    /// `signIn` of a client with a token source: the source's own `signIn(provider, params)`
    /// (the platform's sign-in), then the source is asked again; `signingIn` tells whether it
    /// now gives a token.
    pub(crate) async fn source_sign_in(
        &self,
        provider: &JsValue,
        params: &JsValue,
    ) -> Result<SignInOutcome, Error> {
        let Some(source) = &self.source else {
            return Err(Error::options("This client has no token source"));
        };
        let sign_in = Reflect::get(source, &JsValue::from_str("signIn"))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| Error::options("The tokenSource has no `signIn`"))?;
        let started = sign_in
            .call2(source, provider, params)
            .map(|value| Promise::resolve(&value));
        match started {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        }
        .map_err(|e| Error::new(ErrorCode::Network, io::message(&e)))?;
        let signing_in = matches!(self.call(Call::Changed).await, Outcome::Token(Some(_)));
        Ok(SignInOutcome {
            signing_in,
            redirect: None,
        })
    }

    fn next_caller(&self) -> CallerId {
        let id = self.next_caller.get().wrapping_add(1);
        self.next_caller.set(id);
        id
    }

    /// A call of a Rust caller.
    fn call(&self, call: Call) -> Wait {
        let landing = Rc::new(RefCell::new(Landing::default()));
        self.register(Waiter::Rust(landing.clone()), call);
        Wait(landing)
    }

    /// A call of a JS caller: the Promise of its outcome.
    pub(crate) fn call_js(&self, call: Call) -> Promise {
        let deferred = io::deferred();
        let promise = deferred.promise();
        self.register(Waiter::Js(deferred), call);
        promise
    }

    /// Hands `call` to the machine with `waiter` waiting for its outcome; a freed client answers
    /// at once, as a signed-out one.
    fn register(&self, waiter: Waiter, call: Call) {
        if self.machine.borrow().is_freed() {
            return deliver(waiter, call.abandoned());
        }
        let caller = self.next_caller();
        self.waiters.borrow_mut().push((caller, waiter));
        self.feed(Input::Call { caller, call });
    }

    fn settle(&self, caller: CallerId, outcome: Outcome) {
        let waiter = {
            let mut waiters = self.waiters.borrow_mut();
            match waiters.iter().position(|(id, _)| *id == caller) {
                Some(i) => waiters.swap_remove(i).1,
                None => return,
            }
        };
        deliver(waiter, outcome);
    }

    /// Carries out one command of the machine.
    fn run(&self, command: Command) {
        let exec = &self.executor;
        match command {
            Command::Read { op, slots, copy } => {
                let names = Array::new();
                for slot in slots {
                    names.push(&JsValue::from_str(slot.as_str()));
                }
                exec.read(op, &names, copy, STORAGE_TIMEOUT_MS);
            }
            Command::Write { op, values, copy } => {
                exec.write(op, &slot_values(&values), copy, STORAGE_TIMEOUT_MS)
            }
            Command::UseMemory { values } => exec.use_memory(&slot_values(&values)),
            Command::Announce => exec.announce(),
            Command::Request { op, request } => exec.post(
                op,
                request.kind.as_str(),
                &request.path,
                request.args.as_js(),
                request.bearer.as_deref(),
                REQUEST_TIMEOUT_MS,
            ),
            Command::Source { op, call } => {
                let (sign_out, force) = match call {
                    SourceCall::Token { force } => (false, force),
                    SourceCall::SignOut => (true, false),
                };
                exec.source(op, sign_out, force, REQUEST_TIMEOUT_MS)
            }
            Command::Reauthenticate(attachment) => exec.reauthenticate(attachment),
            Command::Watch { attachment, path } => exec.watch(attachment, &path),
            Command::TakeCode { op, code, error } => exec.take_code(op, code, error),
            Command::Ceremony { op, ceremony } => {
                let running = io::ceremony(
                    ceremony.register,
                    ceremony.conditional,
                    ceremony.options.as_js(),
                );
                exec.ceremony(op, &running);
            }
            Command::Lock { op } => exec.lock(op, &self.keys.refresh_token, LOCK_TIMEOUT_MS),
            Command::Release { op } => exec.release(op),
            Command::SetTimer { timer, ms } => exec.set_timer(timer.as_str(), ms),
            Command::ClearTimer(timer) => exec.clear_timer(timer.as_str()),
            Command::Navigate(url) => exec.navigate(&url),
            Command::Notify {
                state,
                event,
                error,
            } => self.notify(state, event.map(|kind| (kind, error))),
            Command::Settle { caller, outcome } => self.settle(caller, outcome),
            Command::Trace(line) => exec.trace(line),
        }
    }

    /// Adds a listener, removed when the returned [`Subscription`] is dropped.
    fn add_listener(self: &Rc<Self>, l: Listener) -> Subscription {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        self.listeners.borrow_mut().push((id, l));
        Subscription {
            inner: Rc::downgrade(self),
            id,
        }
    }

    /// Removes a listener; unknown ids (already removed) are ignored.
    fn remove_listener(&self, id: u32) {
        self.listeners.borrow_mut().retain(|(i, _)| *i != id);
    }

    /// Tells listeners: state listeners when `state_changed`, event listeners of `event`; the
    /// Rust ones, then the JS ones (`executor.js`'s `unbound`). Listeners are called with no borrow
    /// held, so they may call back into the client.
    fn notify(&self, state_changed: bool, event: Option<(AuthEventKind, Option<Error>)>) {
        let listeners: Vec<Listener> = self
            .listeners
            .borrow()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        // The state for the Rust listeners (the JS ones read their snapshot themselves).
        let state = if listeners.is_empty() {
            AuthState::default()
        } else {
            self.state()
        };
        if state_changed {
            for l in &listeners {
                if let Listener::State(f) = l {
                    f(&state);
                }
            }
            self.unbound.state_changed();
        }
        if let Some((kind, error)) = event {
            let e = error.as_ref().map_or(JsValue::UNDEFINED, Error::to_js);
            self.unbound.happened(kind.as_str(), &e);
            let event = AuthEvent { kind, state, error };
            for l in &listeners {
                if let Listener::Event(f) = l {
                    f(&event);
                }
            }
        }
    }
}

/// Slot values as an object by slot name, in order (`null` for a value to remove).
fn slot_values(values: &[(Slot, Option<String>)]) -> JsValue {
    let object = Object::new();
    for (slot, value) in values {
        let value = value.as_deref().map_or(JsValue::NULL, JsValue::from_str);
        io::set_value(&object, slot.as_str(), &value);
    }
    object.into()
}

/// The page's URL, where an OAuth sign-in returns unless the app says otherwise.
fn page_url() -> Option<String> {
    io::page_url()
}

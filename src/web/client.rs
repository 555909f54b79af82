//! The client: one [`Inner`] per `ConvexAuthClient`, driving storage, transport, timers and
//! browser events from the decisions of [`crate::core`]. This is also the Rust API for Leptos,
//! Yew and Dioxus apps.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::io::{self, Handover};
use super::platform::{debug, deferred, now_ms, promise, random, sleep, spawn, Timeout};
use super::storage::{storage_err, Storage};
use super::transport;
use crate::core::error::{Error, ErrorCode};
use crate::core::keys::Keys;
use crate::core::protocol::{self, SignInResult, Tokens};
use crate::core::session::{backoff_ms, transition, AuthEvent, AuthEventKind, AuthState, Session};

/// A future returned by a user callback.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

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

/// Options of [`ConvexAuthClient::new`].
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// The deployment URL, e.g. `https://happy-animal-123.convex.cloud`.
    pub url: String,
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
}

impl Options {
    /// Options with defaults for `url`.
    pub fn new(url: impl Into<String>) -> Options {
        Options {
            url: url.into(),
            storage: Storage::LocalStorage,
            storage_namespace: None,
            should_handle_code: ShouldHandleCode::Always,
            replace_url: None,
            navigate: true,
            verbose: false,
        }
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
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// What `sign_in` achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInOutcome {
    /// `true` when a session was started.
    pub signing_in: bool,
    /// The provider URL the window was (or should be) sent to, for OAuth.
    pub redirect: Option<String>,
}

/// A state or event listener.
#[derive(Clone)]
pub(crate) enum Listener {
    State(Rc<dyn Fn(&AuthState)>),
    Event(Rc<dyn Fn(&AuthEvent)>),
}

/// A DOM event listener removed when dropped.
struct DomListener {
    target: web_sys::EventTarget,
    name: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for DomListener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.name, self.closure.as_ref().unchecked_ref());
    }
}

pub(crate) struct Inner {
    url: String,
    keys: Keys,
    verbose: bool,
    navigate: bool,
    /// `shouldHandleCode` as `io.js`'s `takeCode` takes it: true, false or a function.
    should_handle_code: JsValue,
    replace_url: Option<Function>,
    /// The storage as the JS adapter object that `io.js`'s `store` calls.
    store: RefCell<JsValue>,
    /// The `Storage` whose `storage` events other tabs fire (localStorage only).
    shared_area: RefCell<Option<JsValue>>,
    /// Whether other tabs use the same storage (localStorage, encrypted, adapters): refreshes
    /// then take the Web Lock.
    shared: bool,
    /// Tells the other tabs that the stored JWT changed, for shared storages without `storage`
    /// events (encrypted, adapters).
    channel: Option<web_sys::BroadcastChannel>,
    /// The IndexedDB copy of the JWT that tabs read under the refresh lock (localStorage only).
    handover: Option<Handover>,
    /// Set while this tab holds the refresh lock: error events wait until it is released.
    holding_lock: Cell<bool>,
    held_errors: RefCell<Vec<Error>>,
    storage_failed: Cell<bool>,
    pending_error: RefCell<Option<Error>>,
    session: RefCell<Option<Session>>,
    /// Bumped whenever the session starts or ends, so answers to requests made for an older
    /// session are dropped.
    epoch: Cell<u64>,
    loading: Cell<bool>,
    skew_ms: Cell<f64>,
    /// The last token `fetch_access_token` handed out.
    handed_out: RefCell<Option<String>>,
    listeners: RefCell<Vec<(u32, Listener)>>,
    next_id: Cell<u32>,
    pub(crate) ready: Promise,
    ready_resolve: RefCell<Option<Function>>,
    flight: RefCell<Option<Promise>>,
    timer: RefCell<Option<Timeout>>,
    wakers: RefCell<Vec<Function>>,
    dom: RefCell<Vec<DomListener>>,
    disposed: Cell<bool>,
}

/// The Convex Auth client. Dropping it stops its timers and listeners.
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

/// A listener registration; dropping it unsubscribes.
#[must_use = "dropping a Subscription unsubscribes at once"]
#[derive(Debug)]
pub struct Subscription {
    inner: Weak<Inner>,
    id: u32,
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
    io::deployment_url(url).map_err(|e| Error::options(super::platform::js_message(&e)))
}

impl ConvexAuthClient {
    /// Creates the client and starts loading the stored session (and exchanging a `?code=` in
    /// the page URL). Await [`ready`](Self::ready) for the first known state.
    pub fn new(options: Options) -> Result<ConvexAuthClient, Error> {
        let url = normalize_url(&options.url)?;
        let keys = Keys::new(options.storage_namespace.as_deref().unwrap_or(&options.url));
        let mut pending_error = None;
        let shared = !matches!(options.storage, Storage::SessionStorage | Storage::Memory);
        let handover =
            matches!(options.storage, Storage::LocalStorage).then(|| Handover::new(&keys.jwt));
        let opened = options.storage.open();
        // Other tabs' localStorage writes arrive as `storage` events for this object.
        let shared_area = opened
            .as_ref()
            .ok()
            .filter(|_| matches!(options.storage, Storage::LocalStorage))
            .cloned();
        let store = opened.unwrap_or_else(|e| {
            pending_error = Some(e);
            io::memory("", None)
        });
        let channel = if shared && shared_area.is_none() {
            let mut name = String::from("convex-auth-wasm:");
            name.push_str(&keys.jwt);
            web_sys::BroadcastChannel::new(&name).ok()
        } else {
            None
        };
        let (ready, resolve_fn) = deferred();
        let inner = Rc::new(Inner {
            url,
            keys,
            verbose: options.verbose,
            navigate: options.navigate,
            should_handle_code: match options.should_handle_code {
                ShouldHandleCode::Always => JsValue::TRUE,
                ShouldHandleCode::Never => JsValue::FALSE,
                ShouldHandleCode::Function(f) => f.into(),
            },
            replace_url: options.replace_url,
            storage_failed: Cell::new(pending_error.is_some()),
            shared,
            channel,
            handover,
            holding_lock: Cell::new(false),
            held_errors: RefCell::new(Vec::new()),
            store: RefCell::new(store),
            shared_area: RefCell::new(shared_area),
            pending_error: RefCell::new(pending_error),
            session: RefCell::new(None),
            epoch: Cell::new(0),
            loading: Cell::new(true),
            skew_ms: Cell::new(0.0),
            handed_out: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            next_id: Cell::new(0),
            ready,
            ready_resolve: RefCell::new(Some(resolve_fn)),
            flight: RefCell::new(None),
            timer: RefCell::new(None),
            wakers: RefCell::new(Vec::new()),
            dom: RefCell::new(Vec::new()),
            disposed: Cell::new(false),
        });
        inner.listen_to_browser();
        spawn(Box::pin(inner.clone().init()));
        Ok(ConvexAuthClient { inner })
    }

    /// Resolves once the first state is known (stored session loaded, URL code exchanged).
    pub async fn ready(&self) {
        self.inner.wait_ready().await;
    }

    /// The current state.
    pub fn state(&self) -> AuthState {
        self.inner.state()
    }

    /// The current JWT, if signed in. A token that is due (the tab slept past its timer) starts
    /// a refresh in the background; the current one is returned meanwhile.
    pub fn token(&self) -> Option<String> {
        self.inner.refresh_if_due();
        self.inner
            .session
            .borrow()
            .as_ref()
            .map(|s| s.token.clone())
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
        let params = params_object(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.inner
            .clone()
            .sign_in(provider.map(str::to_owned), params)
            .await
    }

    /// Signs out here and in every tab sharing the storage, and deletes the server session.
    pub async fn sign_out(&self) {
        self.inner.clone().sign_out().await;
    }

    /// A token for the Convex client (see `fetchAccessToken` in API.md).
    pub async fn fetch_access_token(&self, force_refresh: bool) -> Option<String> {
        self.inner.clone().fetch_access_token(force_refresh).await
    }

    /// `fetch` with `Authorization: Bearer <jwt>` for the app's HTTP actions. The token is
    /// attached only for the deployment's own origins (the configured url's origin, and for a
    /// `*.convex.cloud` url its `*.convex.site` twin); on a 401 the session is refreshed once
    /// and the request sent once more.
    pub async fn fetch(&self, request: web_sys::Request) -> Result<web_sys::Response, Error> {
        // The same `auth.fetch` as JS callers get (io.js), over this client's token fetcher.
        let inner = self.inner.clone();
        let token = Closure::<dyn Fn(JsValue) -> Promise>::new(move |args: JsValue| {
            inner.fetch_access_token_js(&args)
        });
        let fetch = io::auth_fetch(token.as_ref(), &self.inner.url);
        match fetch.call1(&JsValue::UNDEFINED, &request) {
            Ok(p) => JsFuture::from(Promise::from(p)).await,
            Err(e) => Err(e),
        }
        .map(JsCast::unchecked_into)
        .map_err(|e| io::error_from_js(&e))
    }

    /// Whether `url` belongs to the deployment (so a token may be sent there).
    pub fn is_deployment_url(&self, url: &str) -> bool {
        io::own(&self.inner.url, url)
    }

    /// The deployment URL (without trailing slash).
    pub fn url(&self) -> &str {
        &self.inner.url
    }
}

impl Drop for ConvexAuthClient {
    fn drop(&mut self) {
        self.inner.dispose();
    }
}

/// How long a refresh waits for another tab's refresh lock before going on without it: longer
/// than a refresh can take (the request timeout), so only a stuck holder is passed over.
const LOCK_TIMEOUT_MS: f64 = transport::REQUEST_TIMEOUT_MS + 5_000.0;

/// How long a storage adapter may take to settle one call before the client gives up on it.
const ADAPTER_TIMEOUT_MS: f64 = 5_000.0;

/// What a refresh produced.
enum Rotation {
    /// Nothing to change (the answer came for a session that has ended since).
    Current,
    /// A new token, already stored: minted by the server or stored by another tab.
    Replaced(Session),
    /// The session is over; storage already cleared.
    Ended,
}

/// Signs out (locally) only for answers that are definitive about the refresh token.
fn is_definitive(e: &Error) -> bool {
    matches!(
        e.code,
        ErrorCode::FunctionError
            | ErrorCode::ConvexError
            | ErrorCode::InvalidCode
            | ErrorCode::InvalidSecret
            | ErrorCode::InvalidAccountId
            | ErrorCode::TooManyFailedAttempts
    )
}

impl Inner {
    fn trace(&self, msg: &str) {
        if self.verbose {
            debug(msg);
        }
    }

    pub(crate) fn state(&self) -> AuthState {
        AuthState::of(self.loading.get(), self.session.borrow().as_ref())
    }

    pub(crate) async fn wait_ready(&self) {
        let _ = JsFuture::from(self.ready.clone()).await;
    }

    /// Adds a listener; returns its id for [`remove_listener`](Self::remove_listener).
    pub(crate) fn add_listener_id(&self, l: Listener) -> u32 {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        self.listeners.borrow_mut().push((id, l));
        id
    }

    /// Removes a listener; unknown ids (already removed) are ignored.
    pub(crate) fn remove_listener(&self, id: u32) {
        self.listeners.borrow_mut().retain(|(i, _)| *i != id);
    }

    fn add_listener(self: &Rc<Self>, l: Listener) -> Subscription {
        Subscription {
            inner: Rc::downgrade(self),
            id: self.add_listener_id(l),
        }
    }

    /// Tells listeners: state listeners when `state_changed`, event listeners of `event`.
    /// Listeners are called with no borrow held, so they may call back into the client.
    fn notify(&self, state_changed: bool, event: Option<(AuthEventKind, Option<Error>)>) {
        let state = self.state();
        let listeners: Vec<Listener> = self
            .listeners
            .borrow()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        if state_changed {
            for l in &listeners {
                if let Listener::State(f) = l {
                    f(&state);
                }
            }
        }
        if let Some((kind, error)) = event {
            let event = AuthEvent { kind, state, error };
            for l in &listeners {
                if let Listener::Event(f) = l {
                    f(&event);
                }
            }
        }
    }

    fn emit_error(&self, e: Error) {
        self.trace(e.code.as_str());
        if self.holding_lock.get() {
            self.held_errors.borrow_mut().push(e);
            return;
        }
        self.notify(false, Some((AuthEventKind::Error, Some(e))));
    }

    // ---- storage, with the fallback to memory ----

    /// Calls the storage method `op` (within the adapter time limit): the string read, if any.
    async fn store_op(
        &self,
        op: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let store = self.store.borrow().clone();
        JsFuture::from(io::store(&store, op, key, value, ADAPTER_TIMEOUT_MS))
            .await
            .map(|v| v.as_string())
            .map_err(storage_err)
    }

    /// Switches to memory after a storage failure, carrying the session over, and says so once.
    fn storage_failed(&self, e: Error) {
        if self.storage_failed.replace(true) {
            return;
        }
        let token = self.session.borrow().as_ref().map(|s| s.token.clone());
        *self.store.borrow_mut() = io::memory(&self.keys.jwt, token.as_deref());
        *self.shared_area.borrow_mut() = None;
        self.emit_error(e);
    }

    /// Reads `key`; after a failure, once more from the memory store that replaced the storage.
    async fn read(&self, key: &str) -> Option<String> {
        loop {
            match self.store_op("getItem", key, None).await {
                Ok(v) => return v,
                Err(e) if !self.storage_failed.get() => self.storage_failed(e),
                Err(_) => return None,
            }
        }
    }

    /// Writes (or removes, for `None`) `key`; after a failure, once more into the memory store
    /// that replaced the storage.
    async fn write(&self, key: &str, value: Option<&str>) {
        loop {
            let op = if value.is_some() {
                "setItem"
            } else {
                "removeItem"
            };
            match self.store_op(op, key, value).await {
                Err(e) if !self.storage_failed.get() => self.storage_failed(e),
                _ => break,
            }
        }
        if key == self.keys.jwt && !self.storage_failed.get() {
            if let Some(handover) = &self.handover {
                handover.write(value).await;
            }
            if let Some(channel) = &self.channel {
                let _ = channel.post_message(&JsValue::from_str("jwt"));
            }
        }
    }

    // ---- session changes ----

    /// Makes `session` current (or ends the session for `None`) and tells listeners.
    fn set_session(self: &Rc<Self>, session: Option<Session>) {
        let kind = transition(self.session.borrow().as_ref(), session.as_ref());
        if let Some(s) = &session {
            self.skew_ms.set(s.skew_ms);
        }
        let started_or_ended = matches!(
            kind,
            Some(AuthEventKind::SignedIn | AuthEventKind::SignedOut)
        );
        if started_or_ended {
            self.epoch.set(self.epoch.get().wrapping_add(1));
        }
        *self.session.borrow_mut() = session;
        self.schedule();
        if self.loading.get() {
            return; // `init` announces the first state
        }
        if let Some(kind) = kind {
            self.notify(true, Some((kind, None)));
        }
    }

    /// Stores fresh tokens (JWT first, then the refresh token, as the official client does),
    /// returning the session to make current: persisted before announced.
    async fn persist(&self, tokens: Tokens) -> Result<Session, Error> {
        let session =
            Session::new(tokens.token, now_ms(), true, self.skew_ms.get()).ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidResponse,
                    "The server sent a token that is not a Convex Auth JWT",
                )
            })?;
        self.write(&self.keys.jwt, Some(&session.token)).await;
        self.write(&self.keys.refresh_token, Some(&tokens.refresh_token))
            .await;
        Ok(session)
    }

    /// Removes the session's tokens from storage (which signs out other tabs).
    async fn clear_tokens(&self) {
        self.write(&self.keys.jwt, None).await;
        self.write(&self.keys.refresh_token, None).await;
    }

    /// Ends the session locally: storage cleared, listeners told.
    async fn end_session(self: &Rc<Self>) {
        self.epoch.set(self.epoch.get().wrapping_add(1));
        self.clear_tokens().await;
        self.set_session(None);
    }

    // ---- start-up ----

    async fn init(self: Rc<Self>) {
        if let Some(e) = self.pending_error.borrow_mut().take() {
            self.emit_error(e);
        }
        let token = self.read(&self.keys.jwt).await;
        let stored = token.and_then(|t| Session::new(t, now_ms(), false, 0.0));
        self.trace(if stored.is_some() {
            "init: stored session"
        } else {
            "init: no stored session"
        });
        *self.session.borrow_mut() = stored;
        let mut signed_in_by_code = false;
        if let Some(code) = self.take_url_code().await {
            self.trace("init: exchanging the URL code");
            match self
                .clone()
                .sign_in_call(None, params_object([("code", code.as_str())]))
                .await
            {
                Ok(out) if out.signing_in => signed_in_by_code = true,
                Ok(_) => self.emit_error(Error::new(
                    ErrorCode::InvalidCode,
                    "The sign-in code from the URL was not accepted",
                )),
                Err(e) => self.emit_error(e),
            }
        }
        // A stored token that is due (or unreadable, with a refresh token beside it) is replaced
        // before the first state is announced; one attempt, the retries go on in the background.
        let needs_refresh = match self.session.borrow().as_ref() {
            Some(s) => !s.is_fresh(now_ms()),
            None => false,
        };
        let has_refresh_token = needs_refresh
            || (self.session.borrow().is_none()
                && self.read(&self.keys.refresh_token).await.is_some());
        if needs_refresh || has_refresh_token {
            self.trace("init: refreshing");
            if let Err(e) = self.refresh_once(false).await {
                self.emit_error(e);
                let _ = self.refresh(false);
            }
        }
        self.loading.set(false);
        self.schedule();
        self.notify(true, Some((AuthEventKind::Initialized, None)));
        if signed_in_by_code && self.session.borrow().is_some() {
            self.notify(false, Some((AuthEventKind::SignedIn, None)));
        }
        if let Some(resolve) = self.ready_resolve.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    /// The `code` of the page URL, removed from the URL, when it should be exchanged.
    async fn take_url_code(&self) -> Option<String> {
        let taken = io::take_code(&self.should_handle_code, self.replace_url.as_ref());
        JsFuture::from(taken).await.ok()?.as_string()
    }

    // ---- sign-in / sign-out ----

    /// Signs in once the first state is known (`signIn` of both APIs).
    pub(crate) async fn sign_in(
        self: Rc<Self>,
        provider: Option<String>,
        params: JsValue,
    ) -> Result<SignInOutcome, Error> {
        self.wait_ready().await;
        self.sign_in_call(provider, params).await
    }

    /// Signs in; `params` is a plain object of strings.
    async fn sign_in_call(
        self: Rc<Self>,
        provider: Option<String>,
        params: JsValue,
    ) -> Result<SignInOutcome, Error> {
        // The verifier belongs to one OAuth attempt: taken out for every sign-in, as the
        // official client does.
        let verifier = self.read(&self.keys.verifier).await;
        if verifier.is_some() {
            self.write(&self.keys.verifier, None).await;
        }
        let mut verifier = verifier;
        let result = loop {
            let args = io::args(provider.as_deref(), &params, verifier.as_deref(), None);
            let value = transport::call(&self.url, protocol::SIGN_IN, &args, None).await?;
            let result = protocol::interpret_sign_in(&value)?;
            // A verifier left behind by an abandoned OAuth attempt makes a magic-link code fail:
            // try such a code once more without it.
            if result == SignInResult::NoTokens
                && verifier.is_some()
                && js_sys::Reflect::has(&params, &JsValue::from_str("code")).unwrap_or(false)
            {
                verifier = None;
                continue;
            }
            break result;
        };
        self.trace("signIn: answered");
        match result {
            SignInResult::Tokens(tokens) => {
                let session = self.persist(tokens).await?;
                self.set_session(Some(session));
                Ok(SignInOutcome {
                    signing_in: true,
                    redirect: None,
                })
            }
            SignInResult::NoTokens | SignInResult::Started => Ok(SignInOutcome {
                signing_in: false,
                redirect: None,
            }),
            SignInResult::Redirect { url, verifier } => {
                self.write(&self.keys.verifier, Some(&verifier)).await;
                if self.navigate {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href(&url);
                    }
                }
                Ok(SignInOutcome {
                    signing_in: false,
                    redirect: Some(url),
                })
            }
        }
    }

    pub(crate) async fn sign_out(self: Rc<Self>) {
        self.wait_ready().await;
        let token = self.session.borrow().as_ref().map(|s| s.token.clone());
        self.end_session().await;
        if let Some(token) = token {
            self.trace("signOut: deleting the server session");
            // The local sign-out is done; the server may be unreachable or the token expired.
            let args = io::args(None, &JsValue::UNDEFINED, None, None);
            let _ = transport::call(&self.url, protocol::SIGN_OUT, &args, Some(&token)).await;
        }
    }

    // ---- tokens and refresh ----

    pub(crate) async fn fetch_access_token(self: Rc<Self>, force: bool) -> Option<String> {
        // The token callers held when this call began: concurrent forced calls that started
        // together all count as holding it, so the first one's answer does not make the others
        // rotate again.
        let held = self.handed_out.borrow().clone();
        self.wait_ready().await;
        let current = self
            .session
            .borrow()
            .as_ref()
            .map(|s| (s.token.clone(), s.is_fresh(now_ms())));
        let token = match current {
            Some((token, true)) if !force || held.as_ref().is_some_and(|h| *h != token) => {
                Some(token)
            }
            None if self.flight.borrow().is_none() => None,
            _ => JsFuture::from(self.refresh(force))
                .await
                .ok()
                .and_then(|v| v.as_string()),
        };
        self.handed_out.replace(token.clone());
        token
    }

    /// The shared refresh: every caller joins the one in flight.
    /// `fetchAccessToken(args)` as JS calls it: a Promise of the token, or null when signed out.
    pub(crate) fn fetch_access_token_js(self: &Rc<Self>, args: &JsValue) -> Promise {
        let inner = self.clone();
        let force = io::force_refresh(args);
        promise(Box::pin(async move {
            let token = inner.fetch_access_token(force).await;
            Ok(token.map_or(JsValue::NULL, |t| JsValue::from_str(&t)))
        }))
    }

    fn refresh(self: &Rc<Self>, force: bool) -> Promise {
        if let Some(p) = self.flight.borrow().as_ref() {
            return p.clone();
        }
        let inner = self.clone();
        let p = promise(Box::pin(async move {
            let token = inner.refresh_loop(force).await;
            inner.flight.borrow_mut().take();
            Ok(token.map_or(JsValue::NULL, |t| JsValue::from_str(&t)))
        }));
        *self.flight.borrow_mut() = Some(p.clone());
        p
    }

    /// Refreshes until a definitive outcome: transient failures are retried with backoff
    /// (at once when the browser comes back online) and never end the session.
    async fn refresh_loop(self: &Rc<Self>, force: bool) -> Option<String> {
        let start = self.session.borrow().as_ref().map(|s| s.token.clone());
        let mut attempt = 0;
        loop {
            if self.disposed.get() {
                return None;
            }
            // Another tab rotated while we waited: use its token.
            if let Some(s) = self.session.borrow().as_ref() {
                if attempt > 0 && Some(&s.token) != start.as_ref() && s.is_fresh(now_ms()) {
                    return Some(s.token.clone());
                }
            }
            match self.refresh_once(force).await {
                Ok(token) => return token,
                Err(e) => {
                    self.emit_error(e);
                    let (wait, wake) = sleep(backoff_ms(attempt, random()));
                    self.wakers.borrow_mut().push(wake);
                    let _ = JsFuture::from(wait).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    /// One refresh. `Ok(None)`: the session is over. `Err`: transient, session kept.
    ///
    /// For storages shared with other tabs the rotation runs under the Web Lock, and the tab that
    /// gets the lock first looks whether another tab already stored a newer token. Listeners are
    /// told only after the lock is released.
    async fn refresh_once(self: &Rc<Self>, force: bool) -> Result<Option<String>, Error> {
        let held = self.session.borrow().as_ref().map(|s| s.token.clone());
        if force {
            // Make sure the new JWT differs from the one the caller holds.
            let at = self
                .session
                .borrow()
                .as_ref()
                .map(Session::distinct_rotation_at_ms);
            if let Some(at) = at.filter(|at| *at > now_ms()) {
                let _ = JsFuture::from(sleep(at - now_ms()).0).await;
            }
        }
        let epoch = self.epoch.get();
        let guard = if self.shared {
            io::acquire(&self.keys.refresh_token, LOCK_TIMEOUT_MS).await
        } else {
            None
        };
        self.holding_lock.set(guard.is_some());
        let outcome = self.rotate(held.as_deref(), epoch).await;
        drop(guard);
        self.holding_lock.set(false);
        let held_errors = std::mem::take(&mut *self.held_errors.borrow_mut());
        for e in held_errors {
            self.emit_error(e);
        }
        match outcome? {
            Rotation::Current => Ok(self.session.borrow().as_ref().map(|s| s.token.clone())),
            Rotation::Replaced(session) => {
                let token = session.token.clone();
                self.set_session(Some(session));
                Ok(Some(token))
            }
            Rotation::Ended => {
                self.epoch.set(self.epoch.get().wrapping_add(1));
                self.set_session(None);
                Ok(None)
            }
        }
    }

    /// The part of a refresh that may run under the lock: storage and the request, no listener.
    async fn rotate(&self, held: Option<&str>, epoch: u64) -> Result<Rotation, Error> {
        // Another tab (or caller) may have rotated while this one waited: adopt its token. The
        // newest of the stored JWT and the hand-over copy wins (localStorage may lag here).
        let now = now_ms();
        let parse =
            |t: Option<String>| t.and_then(|t| Session::new(t, now, false, self.skew_ms.get()));
        let mut latest = parse(self.read(&self.keys.jwt).await);
        if let Some(handover) = &self.handover {
            if let Some(copy) = parse(handover.read().await) {
                if latest
                    .as_ref()
                    .map_or(true, |s| s.claims.iat <= copy.claims.iat)
                {
                    latest = Some(copy);
                }
            }
        }
        if let Some(s) = latest.filter(|s| Some(s.token.as_str()) != held && s.is_fresh(now)) {
            self.trace("refresh: adopting the token another tab stored");
            return Ok(Rotation::Replaced(s));
        }
        let Some(refresh_token) = self.read(&self.keys.refresh_token).await else {
            self.trace("refresh: no refresh token, signing out");
            self.clear_tokens().await;
            return Ok(Rotation::Ended);
        };
        self.trace("refresh: request");
        let answer = transport::call(
            &self.url,
            protocol::SIGN_IN,
            &io::args(None, &JsValue::UNDEFINED, None, Some(&refresh_token)),
            None,
        )
        .await
        .and_then(|v| protocol::interpret_sign_in(&v))
        .map_err(|e| e.redact(&refresh_token));
        if self.epoch.get() != epoch || self.disposed.get() {
            // Signed out (or in again) meanwhile: this answer is for a session that is gone.
            return Ok(Rotation::Current);
        }
        match answer {
            Ok(SignInResult::Tokens(tokens)) => {
                let session = self.persist(tokens).await?;
                Ok(Rotation::Replaced(session))
            }
            Ok(SignInResult::NoTokens) => {
                self.trace("refresh: session ended by the server");
                self.clear_tokens().await;
                Ok(Rotation::Ended)
            }
            Ok(_) => Err(Error::new(
                ErrorCode::InvalidResponse,
                "Unexpected answer to a refresh",
            )),
            Err(e) if is_definitive(&e) => {
                self.trace("refresh: refresh token rejected");
                self.clear_tokens().await;
                Ok(Rotation::Ended)
            }
            Err(e) => Err(e),
        }
    }

    /// Arms the timer for the current session's refresh.
    fn schedule(self: &Rc<Self>) {
        let due = self.session.borrow().as_ref().map(Session::refresh_due_ms);
        let timer = due.filter(|_| !self.disposed.get()).map(|due| {
            let weak = Rc::downgrade(self);
            Timeout::new(due - now_ms(), move || {
                if let Some(inner) = weak.upgrade() {
                    inner.check_due();
                }
            })
        });
        *self.timer.borrow_mut() = timer;
    }

    /// Starts a refresh in the background when the current token is due (a timer that slept);
    /// cheap otherwise: one clock read and a comparison.
    pub(crate) fn refresh_if_due(self: &Rc<Self>) {
        let due = self
            .session
            .borrow()
            .as_ref()
            .is_some_and(|s| !s.is_fresh(now_ms()));
        if due {
            self.check_due();
        }
    }

    /// Refreshes if the token is due (timer, wake-up, focus); re-arms a timer that fired early.
    fn check_due(self: &Rc<Self>) {
        if self.loading.get() || self.disposed.get() || self.flight.borrow().is_some() {
            return;
        }
        let fresh = match self.session.borrow().as_ref() {
            Some(s) => s.is_fresh(now_ms()),
            None => return,
        };
        if fresh {
            self.schedule();
        } else {
            let _ = self.refresh(false);
        }
    }

    // ---- browser events ----

    fn listen_to_browser(self: &Rc<Self>) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let add = |target: web_sys::EventTarget,
                   name: &'static str,
                   f: fn(&Rc<Inner>, web_sys::Event)| {
            let weak = Rc::downgrade(self);
            let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
                if let Some(inner) = weak.upgrade() {
                    f(&inner, e);
                }
            });
            if target
                .add_event_listener_with_callback(name, closure.as_ref().unchecked_ref())
                .is_ok()
            {
                self.dom.borrow_mut().push(DomListener {
                    target,
                    name,
                    closure,
                });
            }
        };
        add(window.clone().into(), "storage", Inner::on_storage);
        if let Some(channel) = &self.channel {
            add(channel.clone().into(), "message", |inner, _| {
                spawn(Box::pin(inner.clone().follow_storage()));
            });
        }
        add(window.clone().into(), "online", |inner, _| {
            for wake in inner.wakers.borrow_mut().drain(..) {
                let _ = wake.call0(&JsValue::UNDEFINED);
            }
            inner.check_due();
        });
        add(window.clone().into(), "focus", |inner, _| inner.check_due());
        if let Some(doc) = window.document() {
            add(doc.into(), "visibilitychange", |inner, _| inner.check_due());
        }
    }

    /// Another tab changed the shared localStorage: follow its sign-in, refresh or sign-out.
    fn on_storage(self: &Rc<Self>, e: web_sys::Event) {
        let Some(e) = e.dyn_ref::<web_sys::StorageEvent>() else {
            return;
        };
        let ours = match (self.shared_area.borrow().as_ref(), e.storage_area()) {
            (Some(area), Some(other)) => js_sys::Object::is(area, &other),
            _ => false,
        };
        if !ours || self.loading.get() {
            return;
        }
        let key = e.key();
        if key.as_deref().is_some_and(|k| k != self.keys.jwt) {
            return; // `key == None` is `storage.clear()`
        }
        let value = if key.is_some() { e.new_value() } else { None };
        let session = value.and_then(|t| Session::new(t, now_ms(), false, self.skew_ms.get()));
        self.trace("storage event: following another tab");
        self.set_session(session);
    }

    /// Another tab wrote the JWT of a shared storage without `storage` events: read it and
    /// follow (no event when it is the token this tab already has).
    async fn follow_storage(self: Rc<Self>) {
        if self.loading.get() || self.disposed.get() {
            return;
        }
        let token = self.read(&self.keys.jwt).await;
        let current = self.session.borrow().as_ref().map(|s| s.token.clone());
        if token == current {
            return;
        }
        let session = token.and_then(|t| Session::new(t, now_ms(), false, self.skew_ms.get()));
        self.trace("broadcast: following another tab");
        self.set_session(session);
    }

    fn dispose(&self) {
        self.disposed.set(true);
        if let Some(channel) = &self.channel {
            channel.close();
        }
        self.timer.borrow_mut().take();
        self.dom.borrow_mut().clear();
        self.listeners.borrow_mut().clear();
        for wake in self.wakers.borrow_mut().drain(..) {
            let _ = wake.call0(&JsValue::UNDEFINED);
        }
    }
}

/// `pairs` as the plain object of strings that `signIn` params are.
fn params_object<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> JsValue {
    let object = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    object.into()
}

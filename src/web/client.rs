//! The client: one `Inner` per `ConvexAuthClient`, the synchronous core that holds the session
//! and makes every decision (through [`crate::core`]), and `io.js`'s driver, which runs the
//! asynchronous steps (storage, requests, the refresh lock, timers, browser events) and asks the
//! core at each one (`Inner::op`). The awaits live in JS, where they cost a fraction of what
//! Rust futures cost in the wasm. This is also the Rust API for Leptos, Yew and Dioxus apps.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::io;
use super::platform::{now_ms, promise, random};
use super::storage::Storage;
use crate::core::error::Error;
use crate::core::json::Json;
use crate::core::keys::Keys;
use crate::core::protocol::{self, Refresh, SignInResult, Tokens};
use crate::core::session::{
    adopt, backoff_ms, transition, AuthEvent, AuthEventKind, AuthState, Session,
};

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
enum Listener {
    State(Rc<dyn Fn(&AuthState)>),
    Event(Rc<dyn Fn(&AuthEvent)>),
}

pub(crate) struct Inner {
    url: String,
    /// The session; every change goes through [`Inner::set_session`].
    session: RefCell<Option<Session>>,
    /// Bumped whenever the session starts or ends, so that answers to requests made for an
    /// older session are dropped.
    epoch: Cell<u32>,
    loading: Cell<bool>,
    skew_ms: Cell<f64>,
    listeners: RefCell<Vec<(u32, Listener)>>,
    next_id: Cell<u32>,
    /// `io.js`'s driver, which runs the client's asynchronous steps over [`Inner::op`].
    pub(crate) driver: io::Driver,
    /// [`Inner::op`] as the JS function the driver calls.
    pub(crate) core: JsValue,
    /// The JS API's `changed` (`io.js`'s `unbound`), told after the Rust listeners: `()` for a
    /// new state, `(type, error)` for an event.
    pub(crate) changed: RefCell<Option<Function>>,
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
    io::deployment_url(url).map_err(|e| Error::options(io::message(&e)))
}

impl ConvexAuthClient {
    /// Creates the client and starts loading the stored session (and exchanging a `?code=` in
    /// the page URL). Await [`ready`](Self::ready) for the first known state.
    pub fn new(options: Options) -> Result<ConvexAuthClient, Error> {
        let url = normalize_url(&options.url)?;
        let keys = Keys::new(options.storage_namespace.as_deref().unwrap_or(&options.url));
        // Whether other tabs use the same storage (localStorage, encrypted, adapters): refreshes
        // then take the Web Lock.
        let shared = !matches!(options.storage, Storage::SessionStorage | Storage::Memory);
        // A storage that does not open is replaced by memory in the driver, which reports it.
        let (store, pending) = match options.storage.open() {
            Ok(store) => (store, None),
            Err(thrown) => (JsValue::UNDEFINED, Some(thrown)),
        };
        // Other tabs' localStorage writes arrive as `storage` events for this object.
        let area = match (&options.storage, &pending) {
            (Storage::LocalStorage, None) => store.clone(),
            _ => JsValue::UNDEFINED,
        };
        let should_handle_code = match options.should_handle_code {
            ShouldHandleCode::Always => JsValue::TRUE,
            ShouldHandleCode::Never => JsValue::FALSE,
            ShouldHandleCode::Function(f) => f.into(),
        };
        let keys = js_sys::Array::of3(
            &keys.jwt.as_str().into(),
            &keys.refresh_token.as_str().into(),
            &keys.verifier.as_str().into(),
        );
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            // The driver starts working after a microtask, when this Rc is complete.
            let core =
                Closure::<dyn Fn(u32, JsValue, JsValue, JsValue) -> Result<JsValue, JsValue>>::new(
                    move |op, a, b, c| match weak.upgrade() {
                        Some(inner) => inner.op(op, a, b, c),
                        None => Ok(JsValue::UNDEFINED),
                    },
                )
                .into_js_value();
            let driver = io::client(
                &core,
                &url,
                &keys,
                &store,
                &area,
                shared,
                pending,
                &should_handle_code,
                options.replace_url.as_ref(),
                options.navigate,
                options.verbose,
            );
            Inner {
                url,
                session: RefCell::new(None),
                epoch: Cell::new(0),
                loading: Cell::new(true),
                skew_ms: Cell::new(0.0),
                listeners: RefCell::new(Vec::new()),
                next_id: Cell::new(0),
                driver,
                core,
                changed: RefCell::new(None),
            }
        });
        Ok(ConvexAuthClient { inner })
    }

    /// Resolves once the first state is known (stored session loaded, URL code exchanged).
    pub async fn ready(&self) {
        let _ = JsFuture::from(self.inner.driver.ready()).await;
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
        let answer = JsFuture::from(self.inner.driver.sign_in(provider, &params))
            .await
            .map_err(|e| io::error_from_js(&e))?;
        let answer: js_sys::Array = answer.unchecked_into();
        Ok(SignInOutcome {
            signing_in: answer.get(0).is_truthy(),
            redirect: answer.get(1).as_string(),
        })
    }

    /// Signs out here and in every tab sharing the storage, and deletes the server session.
    pub async fn sign_out(&self) {
        let _ = JsFuture::from(self.inner.driver.sign_out()).await;
    }

    /// A token for the Convex client (see `fetchAccessToken` in API.md).
    pub async fn fetch_access_token(&self, force_refresh: bool) -> Option<String> {
        JsFuture::from(self.inner.driver.token(force_refresh))
            .await
            .ok()?
            .as_string()
    }

    /// `fetch` with `Authorization: Bearer <jwt>` for the app's HTTP actions. The token is
    /// attached only for the deployment's own origins (the configured url's origin, and for a
    /// `*.convex.cloud` url its `*.convex.site` twin); on a 401 the session is refreshed once
    /// and the request sent once more.
    pub async fn fetch(&self, request: web_sys::Request) -> Result<web_sys::Response, Error> {
        // The same `auth.fetch` as JS callers get (io.js), over the driver's token fetcher.
        let fetch = io::auth_fetch(&self.inner.driver.fetch_access_token(), &self.inner.url);
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
        self.inner.listeners.borrow_mut().clear();
        self.inner.driver.dispose();
    }
}

/// The operations of [`Inner::op`], the core that `io.js`'s driver calls (its names there).
const SNAPSHOT: u32 = 0;
const SESSION: u32 = 1;
const SET: u32 = 2;
const ERROR: u32 = 3;
const LOADED: u32 = 4;
const ADOPT: u32 = 5;
const ANSWER: u32 = 6;
const BACKOFF: u32 = 7;
const BUMP: u32 = 8;

/// `[1, jwt, refresh token]`, as the driver takes new tokens.
fn tokens(t: Tokens) -> JsValue {
    js_sys::Array::of3(&1.into(), &t.token.into(), &t.refresh_token.into()).into()
}

/// `[n]`, a bare outcome for the driver.
fn outcome(n: u32) -> JsValue {
    js_sys::Array::of1(&n.into()).into()
}

impl Inner {
    pub(crate) fn state(&self) -> AuthState {
        AuthState::of(self.loading.get(), self.session.borrow().as_ref())
    }

    /// One step of the core, as `io.js`'s driver calls it (see the ops there). Errors are thrown
    /// to the driver as `ConvexAuthError`s.
    fn op(&self, op: u32, a: JsValue, b: JsValue, c: JsValue) -> Result<JsValue, JsValue> {
        // A token read from storage or another tab (not freshly minted), parsed now.
        let parse = |v: JsValue| {
            v.as_string()
                .and_then(|t| Session::new(t, now_ms(), false, self.skew_ms.get()))
        };
        Ok(match op {
            SNAPSHOT => io::state_object(&self.state()),
            SESSION => {
                let epoch = JsValue::from(self.epoch.get());
                match self.session.borrow().as_ref() {
                    Some(s) => js_sys::Array::of4(
                        &epoch,
                        &s.token.as_str().into(),
                        &s.refresh_due_ms().into(),
                        &s.distinct_rotation_at_ms().into(),
                    ),
                    None => js_sys::Array::of1(&epoch),
                }
                .into()
            }
            SET => {
                let session = match b.as_f64() {
                    Some(at) => a
                        .as_string()
                        .and_then(|t| Session::new(t, at, true, self.skew_ms.get())),
                    None => parse(a),
                };
                self.set_session(session);
                JsValue::UNDEFINED
            }
            ERROR => {
                self.notify(
                    false,
                    Some((AuthEventKind::Error, Some(io::error_from_js(&a)))),
                );
                JsValue::UNDEFINED
            }
            LOADED => {
                self.loading.set(false);
                self.notify(true, Some((AuthEventKind::Initialized, None)));
                if a.is_truthy() && self.session.borrow().is_some() {
                    self.notify(false, Some((AuthEventKind::SignedIn, None)));
                }
                JsValue::UNDEFINED
            }
            ADOPT => {
                let held = c.as_string();
                let (stored, copy) = (parse(a), parse(b));
                adopt(stored.as_ref(), copy.as_ref(), held.as_deref(), now_ms())
                    .map_or(JsValue::UNDEFINED, |s| s.token.as_str().into())
            }
            ANSWER => {
                let answer = protocol::sign_in_answer(status(&a), Json::from_js(b));
                match c.as_string() {
                    // A refresh, made with this refresh token.
                    Some(refresh_token) => match protocol::refresh_answer(answer, &refresh_token) {
                        Ok(Refresh::Rotated(t)) => tokens(t),
                        Ok(Refresh::Ended) => outcome(0),
                        Ok(Refresh::Rejected) => outcome(2),
                        Err(e) => return Err(e.into_js()),
                    },
                    None => match answer {
                        Ok(SignInResult::Tokens(t)) => tokens(t),
                        Ok(SignInResult::NoTokens) => outcome(0),
                        Ok(SignInResult::Started) => outcome(2),
                        Ok(SignInResult::Redirect { url, verifier }) => {
                            js_sys::Array::of3(&3.into(), &url.into(), &verifier.into()).into()
                        }
                        Err(e) => return Err(e.into_js()),
                    },
                }
            }
            BACKOFF => backoff_ms(a.as_f64().unwrap_or(0.0) as u32, random()).into(),
            BUMP => {
                self.epoch.set(self.epoch.get().wrapping_add(1));
                JsValue::UNDEFINED
            }
            _ => JsValue::UNDEFINED,
        })
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
        let changed = self.changed.borrow().clone();
        if state_changed {
            for l in &listeners {
                if let Listener::State(f) = l {
                    f(&state);
                }
            }
            if let Some(changed) = &changed {
                let _ = changed.call0(&JsValue::UNDEFINED);
            }
        }
        if let Some((kind, error)) = event {
            if let Some(changed) = &changed {
                let e = error.clone().map_or(JsValue::UNDEFINED, Error::into_js);
                let _ = changed.call2(&JsValue::UNDEFINED, &kind.as_str().into(), &e);
            }
            let event = AuthEvent { kind, state, error };
            for l in &listeners {
                if let Listener::Event(f) = l {
                    f(&event);
                }
            }
        }
    }

    /// Makes `session` current (or ends the session for `None`) and tells listeners (once the
    /// first state is known: the driver's start-up announces that one).
    fn set_session(&self, session: Option<Session>) {
        let kind = transition(self.session.borrow().as_ref(), session.as_ref());
        if let Some(s) = &session {
            self.skew_ms.set(s.skew_ms);
        }
        if matches!(
            kind,
            Some(AuthEventKind::SignedIn | AuthEventKind::SignedOut)
        ) {
            self.epoch.set(self.epoch.get().wrapping_add(1));
        }
        *self.session.borrow_mut() = session;
        if let Some(kind) = kind.filter(|_| !self.loading.get()) {
            self.notify(true, Some((kind, None)));
        }
    }

    /// Starts a refresh in the background when the current token is due (a timer that slept);
    /// cheap otherwise: the driver compares the clock with the time it keeps.
    pub(crate) fn refresh_if_due(&self) {
        self.driver.due();
    }
}

/// An HTTP status as `io.js` passes it.
fn status(v: &JsValue) -> u16 {
    v.as_f64().unwrap_or(0.0) as u16
}

/// `pairs` as the plain object of strings that `signIn` params are.
fn params_object<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> JsValue {
    let object = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    object.into()
}

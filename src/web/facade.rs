//! The `#[wasm_bindgen]` facade: converts between JS values and the Rust client, nothing more.

use super::io;
use wasm_bindgen::prelude::*;

use super::client::{ConvexAuthClient, Options, ShouldHandleCode, Version};
use super::storage::{JsStorage, Storage};
use crate::core::error::Error;
use crate::core::machine::Call;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A storage adapter; each method may return its result or a Promise of it. */
export interface TokenStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/** Options of `new ConvexAuthClient(options)`. */
export interface ConvexAuthClientOptions {
  /** The deployment URL, e.g. `https://happy-animal-123.convex.cloud` or `http://127.0.0.1:3210`. */
  url: string;
  /** The generation of Convex Auth the deployment runs: `"v1"` (`@convex-dev/auth` 0.0.x, the default) or `"v2"` (2.x). */
  version?: "v1" | "v2";
  /**
   * v2 only: the app's names of its auth functions, by official name, e.g.
   * `{signInWithEmailPassword: "myAuth:signIn"}` (default: `"auth:<official name>"`).
   */
  functions?: Record<string, string>;
  /** Where tokens are kept (default `"localStorage"`). */
  storage?: "localStorage" | "sessionStorage" | "memory" | "encrypted" | TokenStorage;
  /** Storage key namespace (default: `url`). */
  storageNamespace?: string;
  /** Whether to exchange a `?code=` found in the page URL (default: true). */
  shouldHandleCode?: boolean | ((url: URL) => boolean);
  /** Replaces the page URL after `code` is removed (default: `history.replaceState`). */
  replaceURL?: (relativeUrl: string) => void | Promise<void>;
  /** Whether an OAuth sign-in navigates the window to the provider (default: true). */
  navigate?: boolean;
  /** Trace to `console.debug`; tokens are never printed (default: false). */
  verbose?: boolean;
  /**
   * An identity platform (Clerk, Auth0, WorkOS, Better Auth, any OIDC issuer in the deployment's
   * `auth.config`) holds the session: the client asks this source for its JWT. Not used with
   * `version`, `functions`, `storage` or `storageNamespace`.
   */
  tokenSource?: TokenSource;
  /**
   * `"module:function"` of a mutation run once per signed-in identity (the Convex guide's
   * `users:store`): until it succeeds `isLoading` stays true and `isAuthenticated` false; its
   * result is `state.storedUserId`.
   */
  storeUser?: string;
  /**
   * `"module:function"` of a query for the signed-in user (the guide's `users:current`): until
   * it gives a user (asked again with backoff while null, e.g. until a webhook stored it)
   * `isLoading` stays true and `isAuthenticated` false; its value is `state.user`.
   */
  currentUser?: string;
}

/** The token source of an identity platform (`tokenSource`). */
export interface TokenSource {
  /**
   * The platform's JWT for Convex (e.g. Clerk's `getToken({template: "convex"})`), or null when
   * signed out there. A rejection or a timeout is transient: the session is kept and the call
   * retried. `forceRefreshToken` asks for a newly minted token rather than a cached one.
   */
  fetchToken(args: { forceRefreshToken: boolean }): string | null | undefined | Promise<string | null | undefined>;
  /** Calls `changed` whenever the platform's sign-in state changes; may return an unsubscribe function. */
  subscribe?(changed: () => void): unknown;
  /** What `auth.signIn(provider, params)` calls (its arguments as given). */
  signIn?(...args: unknown[]): unknown;
  /** What `auth.signOut()` calls, after the client signed out locally. */
  signOut?(): unknown;
}

/** The auth state. The same object is returned until the state changes. */
export interface AuthState {
  readonly isLoading: boolean;
  readonly isAuthenticated: boolean;
  /** The current JWT. */
  readonly token: string | null;
  readonly userId: string | null;
  readonly sessionId: string | null;
  /** The JWT's `exp`, epoch milliseconds. */
  readonly expiresAt: number | null;
  /** With `storeUser`: what its mutation returned for this identity (the user's id). */
  readonly storedUserId?: unknown;
  /** With `currentUser`: its query's value for this identity (the user document). */
  readonly user?: unknown;
}

/** Stable error codes. */
export type ConvexAuthErrorCode =
  | "InvalidOptions" | "InvalidParams" | "Network" | "Timeout" | "Server" | "InvalidResponse"
  | "Unauthenticated" | "Storage" | "InvalidSecret" | "InvalidAccountId" | "TooManyFailedAttempts"
  | "InvalidCode" | "ConvexError" | "FunctionError" | "PasskeyCancelled" | "PasskeyUnsupported"
  | ConvexAuthV2ErrorCode;

/**
 * The codes of Convex Auth 2.0.0's own methods (a method's `userError.error`; the `userError`
 * is the error's `data`, with fields such as `retryAfterMs`).
 */
export type ConvexAuthV2ErrorCode =
  | "ACCESS_DENIED" | "ALREADY_PENDING" | "CEREMONY_ABORTED" | "CHALLENGE_EXPIRED"
  | "EMAIL_NOT_FOUND" | "EMAIL_TAKEN" | "EXPIRED" | "INCORRECT_CODE" | "INVALID_CHALLENGE"
  | "INVALID_CODE" | "INVALID_CREDENTIALS" | "INVALID_EMAIL" | "INVALID_FLOW" | "INVALID_NAME"
  | "LAST_PASSKEY" | "MISSING_SECRET" | "NOT_LOGGED_IN" | "NO_PENDING_ENROLLMENT" | "OTHER_ERROR"
  | "PASSKEY_ALREADY_REGISTERED" | "PASSKEY_NOT_FOUND" | "PASSWORD_HAS_SURROUNDING_WHITESPACE"
  | "PASSWORD_TOO_COMMON" | "PASSWORD_TOO_LONG" | "PASSWORD_TOO_SHORT" | "PROTOCOL_ERROR"
  | "RATE_LIMITED" | "TOO_MANY_PASSKEYS" | "TOO_MANY_TOTPS" | "UNKNOWN_CREDENTIAL"
  | "USERNAME_HAS_INVALID_CHARACTERS" | "USERNAME_HAS_SURROUNDING_WHITESPACE" | "USERNAME_TAKEN"
  | "USERNAME_TOO_LONG" | "USERNAME_TOO_SHORT" | "USER_NOT_FOUND" | "WEBAUTHN_UNSUPPORTED"
  | "WRONG_USER";

/** Every error the client throws or rejects with. */
export interface ConvexAuthError extends Error {
  name: "ConvexAuthError";
  code: ConvexAuthErrorCode;
  /** Whether the same call may succeed later (network, timeout, 5xx). */
  retryable: boolean;
  /** The server's `ConvexError` payload, when there is one. */
  data?: unknown;
}

/** An auth event, as `onChange` listeners receive it. */
export type AuthEvent =
  | { type: "initialized" | "signedIn" | "signedOut" | "tokenRefreshed"; state: AuthState; error?: undefined }
  | { type: "error"; state: AuthState; error: ConvexAuthError };

/** What `signIn` achieved. */
export interface SignInResult {
  /** `true` when a session was started. */
  signingIn: boolean;
  /** For OAuth: the provider URL the window is sent to. */
  redirect?: URL;
}

/** Methods whose arguments are optional (merged into the class below). */
export interface ConvexAuthClient {
  /**
   * Signs in with `provider` and its `params` (a plain object of strings or a `FormData`); omit
   * `provider` to exchange `params.code`. Rejects with a `ConvexAuthError`.
   */
  signIn(provider?: string, params?: Record<string, string> | FormData): Promise<SignInResult>;
  /**
   * `fetch` with `Authorization: Bearer <jwt>` for the deployment's own origins (the url's
   * origin, and `*.convex.site` for a `*.convex.cloud` url); on a 401 it refreshes once and
   * retries once. Other origins get the request unchanged.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
}

/** What `attach` needs of a reactive Convex client (`ConvexClient`, `ConvexReactClient`). */
export interface ReactiveConvexClient {
  setAuth(fetchToken: AuthTokenFetcher, onChange?: (isAuthenticated: boolean) => void): void;
  /** `ConvexReactClient`'s; a client without it is detached with a fetcher of no token. */
  clearAuth?(): void;
}

/** The Convex client's `AuthTokenFetcher`. */
export type AuthTokenFetcher = (args: { forceRefreshToken: boolean }) => Promise<string | null>;
"#;

/// The constructor's options, checked by `io.js`'s `options` (which applies the defaults).
fn options_from_js(options: &JsValue) -> Result<Options, Error> {
    let o = io::options(options).map_err(|e| Error::options(io::message(&e)))?;
    let storage = o.storage();
    let storage = match storage.as_string().as_deref() {
        Some("localStorage") => Storage::LocalStorage,
        Some("sessionStorage") => Storage::SessionStorage,
        Some("memory") => Storage::Memory,
        Some(_) => Storage::Encrypted,
        None => Storage::Adapter(JsStorage::new(storage)?),
    };
    let mut options = Options::new(o.url()).storage(storage);
    if o.version() == "v2" {
        options.version = Version::V2;
    }
    options.functions = o
        .functions()
        .iter()
        .filter_map(|pair| {
            let pair: js_sys::Array = pair.unchecked_into();
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect();
    options.storage_namespace = o.storage_namespace();
    let code = o.should_handle_code();
    options.should_handle_code = match code.as_bool() {
        Some(true) => ShouldHandleCode::Always,
        Some(false) => ShouldHandleCode::Never,
        None => ShouldHandleCode::Function(code.unchecked_into()),
    };
    options.replace_url = o.replace_url();
    options.navigate = o.navigate();
    options.verbose = o.verbose();
    options.token_source = o.token_source();
    options.store_user = o.store_user();
    options.current_user = o.current_user();
    Ok(options)
}

/// The Convex Auth client for the browser.
#[wasm_bindgen(js_name = ConvexAuthClient)]
#[derive(Debug)]
pub struct JsConvexAuthClient {
    client: ConvexAuthClient,
}

#[wasm_bindgen(js_class = ConvexAuthClient)]
impl JsConvexAuthClient {
    /// Creates the client. Throws a `ConvexAuthError` (`InvalidOptions`) for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ConvexAuthClientOptions")] options: JsValue,
    ) -> Result<JsConvexAuthClient, JsValue> {
        #[cfg(feature = "debug-panics")]
        console_error_panic_hook::set_once();
        let client = ConvexAuthClient::new(options_from_js(&options).map_err(|e| e.to_js())?)
            .map_err(|e| e.to_js())?;
        Ok(JsConvexAuthClient { client })
    }

    /// Resolves once the first state is known: the stored session loaded, the URL code exchanged,
    /// and the session's gates passed or failed (the verdict of the reactive clients attached
    /// by then, `storeUser`, `currentUser`), so that `isLoading` is false. Never rejects.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn ready(&self) -> js_sys::Promise {
        self.client.inner.call_js(Call::Ready)
    }

    /// `true` until the first state is known, and while a new session's gates (`attach`'s
    /// verdict, `storeUser`, `currentUser`) are pending.
    #[wasm_bindgen(getter = isLoading)]
    pub fn is_loading(&self) -> bool {
        self.client.inner.machine().is_loading()
    }

    /// Whether a session is held (and, with reactive clients attached, the backend accepted its
    /// token). Never flips to false during a refresh.
    #[wasm_bindgen(getter = isAuthenticated)]
    pub fn is_authenticated(&self) -> bool {
        self.client.inner.machine().is_authenticated()
    }

    /// The current JWT, or null (`useAuthToken`).
    #[wasm_bindgen(getter, unchecked_return_type = "string | null")]
    pub fn token(&self) -> JsValue {
        self.unbound().token()
    }

    /// `() => AuthState`: the current state, the same object until it changes. Works unbound.
    #[wasm_bindgen(getter = getSnapshot, unchecked_return_type = "() => AuthState")]
    pub fn get_snapshot(&self) -> JsValue {
        self.unbound().get_snapshot()
    }

    /// `(listener) => unsubscribe`: calls `listener(state)` now and after every change. Works
    /// unbound (React `useSyncExternalStore`, Svelte stores, Vue).
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "(listener: (state: AuthState) => void) => () => void"
    )]
    pub fn subscribe(&self) -> JsValue {
        self.unbound().subscribe()
    }

    /// `(listener) => unsubscribe`: auth events. Works unbound.
    #[wasm_bindgen(getter = onChange, unchecked_return_type = "(listener: (event: AuthEvent) => void) => () => void")]
    pub fn on_change(&self) -> JsValue {
        self.unbound().on_change()
    }

    /// The Convex client's token fetcher: `convex.setAuth(auth.fetchAccessToken)`. Never rejects;
    /// resolves null only when signed out. Works unbound.
    #[wasm_bindgen(getter = fetchAccessToken, unchecked_return_type = "AuthTokenFetcher")]
    pub fn fetch_access_token(&self) -> JsValue {
        self.unbound().fetch_access_token()
    }

    /// `(convexClient) => detach`: gives a reactive Convex client (`ConvexClient`,
    /// `ConvexReactClient`) this client's token fetcher, and makes `isAuthenticated` wait for
    /// the backend to accept the token. The returned function detaches (`clearAuth`). Works
    /// unbound.
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "(convexClient: ReactiveConvexClient) => () => void"
    )]
    pub fn attach(&self) -> JsValue {
        self.unbound().attach()
    }

    /// Signs in. `provider` is a provider id (omit it to exchange `params.code`); `params` a
    /// plain object of strings or a `FormData`.
    /// (Typed in the `ConvexAuthClient` interface of the custom section: both arguments optional.)
    #[wasm_bindgen(js_name = signIn, skip_typescript)]
    pub fn sign_in(&self, provider: JsValue, params: JsValue) -> js_sys::Promise {
        self.unbound().sign_in(&provider, &params)
    }

    /// `(input, init?) => Promise<Response>`: `fetch` with `Authorization: Bearer <jwt>` for the
    /// deployment's own origins (the url's origin, and `*.convex.site` for a `*.convex.cloud`
    /// url); on a 401 it refreshes once and retries once. Other origins get the request
    /// unchanged. Works unbound. (Typed in the `ConvexAuthClient` interface of the custom
    /// section.)
    #[wasm_bindgen(getter, skip_typescript)]
    pub fn fetch(&self) -> JsValue {
        self.unbound().fetch().into()
    }

    /// Signs out here and in every tab sharing the storage; deletes the server session. Always resolves.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(&self) -> js_sys::Promise {
        self.client.inner.call_js(Call::SignOut)
    }
}

impl JsConvexAuthClient {
    /// The functions that work unbound, built in executor.js (which also keeps the JS
    /// listeners).
    fn unbound(&self) -> &io::Unbound {
        &self.client.inner.unbound
    }
}

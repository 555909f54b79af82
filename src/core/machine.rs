//! The session machine: every state and every decision of a client, with no I/O.
//!
//! The machine takes typed [`Input`]s (what storage read, what the server answered, a timer
//! that fired, a lock granted, another tab's write, a caller's call) and answers with typed
//! [`Command`]s (read or write these slots, send this request, take the lock, arm a timer, tell
//! the listeners, settle that caller). Time and randomness are inputs too: every
//! [`Machine::handle`] gets the device clock, and the backoff jitter comes from a generator
//! seeded by [`Config::seed`]. The browser executor (`src/web/executor.js`, driven by
//! `src/web/client.rs`) only carries commands out and feeds their completions back; the native
//! simulations (`tests/machine.rs`) drive the same machine on a fake clock.
//!
//! What it owns: the session and its epoch; start-up (the stored session, the URL code, the
//! refresh at load); sign-in (with the OAuth verifier and its retry), sign-out; the single-flight
//! refresh with the Web Lock, the adoption of another tab's token, the forced-rotation rule,
//! retries with backoff that never sign a user out; following other tabs; the fall-back to
//! memory when storage breaks; the gates of the public state (the backend's verdict from each
//! attached reactive client, the app's `storeUser` mutation and `currentUser` query, run once
//! per identity); and `free()`.
//!
//! The wire format of one session backend (Convex Auth v1: `auth:signIn` and `auth:signOut`) is
//! kept apart from the policy in [`Backend`]: the machine asks it what to send for a sign-in, a
//! refresh or a sign-out and what an answer means. Another backend is another implementation of
//! it: Convex Auth v2 ([`super::v2`]), and an identity platform's token source holding no refresh
//! token and no storage ([`super::source`]), whose refreshes and sign-outs are calls of the
//! source ([`Exchange::Source`]).

use super::error::{Error, ErrorCode};
use super::json::Json;
use super::jwt::Claims;
use super::protocol::{self, Ceremony, Refresh, SignInResult, Tokens};
use super::session::{adopt, backoff_ms, transition, AuthEventKind, AuthState, Session};

/// The id of one I/O operation, echoed in its completion.
pub type Op = u32;
/// The id of one call waiting for its outcome (a `signIn`, `signOut`, `fetchAccessToken`,
/// `ready`).
pub type CallerId = u32;

/// How long a storage operation may take before it counts as failed.
pub const STORAGE_TIMEOUT_MS: f64 = 5_000.0;
/// How long a request (and the read of its answer) may take.
pub const REQUEST_TIMEOUT_MS: f64 = 15_000.0;
/// How long a refresh waits for the Web Lock before it goes on without it.
pub const LOCK_TIMEOUT_MS: f64 = 20_000.0;
/// The longest delay a browser timer takes (2^31 − 1 ms).
const MAX_TIMER_MS: f64 = 2_147_483_647.0;

/// A value the client keeps in its storage, under the key names of [`super::keys::Keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The access JWT.
    Jwt,
    /// The refresh token.
    RefreshToken,
    /// What an OAuth code exchange needs between the redirect and the return (v1: the
    /// verifier; v2: the pending flow).
    Verifier,
    /// The user of the stored session, as `<sessionId>|<userId>` (v2, whose JWT names no user).
    UserId,
    /// The `browserSecret` of an emailed sign-up link (v2).
    SignUpSecret,
    /// The `browserSecret` of an emailed password-recovery link (v2).
    RecoverySecret,
}

impl Slot {
    /// Every slot.
    pub const ALL: [Slot; 6] = [
        Slot::Jwt,
        Slot::RefreshToken,
        Slot::Verifier,
        Slot::UserId,
        Slot::SignUpSecret,
        Slot::RecoverySecret,
    ];

    /// Its name for the executor, which keeps a storage key per name.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Jwt => "jwt",
            Slot::RefreshToken => "refreshToken",
            Slot::Verifier => "verifier",
            Slot::UserId => "userId",
            Slot::SignUpSecret => "signUpSecret",
            Slot::RecoverySecret => "recoverySecret",
        }
    }

    /// The slot alone, as a list to read.
    fn alone(self) -> &'static [Slot] {
        match self {
            Slot::Jwt => &[Slot::Jwt],
            Slot::RefreshToken => &[Slot::RefreshToken],
            Slot::Verifier => &[Slot::Verifier],
            Slot::UserId => &[Slot::UserId],
            Slot::SignUpSecret => &[Slot::SignUpSecret],
            Slot::RecoverySecret => &[Slot::RecoverySecret],
        }
    }
}

/// The timers of one client; arming one replaces its earlier deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The current token is due for a refresh.
    Due,
    /// A refresh waits before its next attempt after a transient failure.
    Backoff,
    /// A forced refresh waits until the server can mint a JWT different from the current one.
    Distinct,
    /// The functions run for a new identity (`storeUser`, `currentUser`) wait to try again.
    Users,
}

impl Timer {
    /// Every timer.
    pub const ALL: [Timer; 4] = [Timer::Due, Timer::Backoff, Timer::Distinct, Timer::Users];

    /// Its name for the executor (which keeps one browser timer per name).
    pub fn as_str(self) -> &'static str {
        match self {
            Timer::Due => "due",
            Timer::Backoff => "backoff",
            Timer::Distinct => "distinct",
            Timer::Users => "users",
        }
    }

    /// The timer named `name`.
    pub fn parse(name: &str) -> Option<Timer> {
        Timer::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The kind of a Convex function, as its public HTTP API names it (`/api/<kind>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionKind {
    /// `/api/action` (Convex Auth v1 signs in, refreshes and signs out with actions).
    Action,
    /// `/api/mutation` (Convex Auth v2's methods and sessions are mutations).
    Mutation,
    /// `/api/query`.
    Query,
}

impl FunctionKind {
    /// The segment of the HTTP API's path.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionKind::Action => "action",
            FunctionKind::Mutation => "mutation",
            FunctionKind::Query => "query",
        }
    }
}

/// A request to the deployment: a Convex function called over its public HTTP API.
#[derive(Clone, PartialEq)]
pub struct Request {
    /// The function's kind.
    pub kind: FunctionKind,
    /// The function, e.g. `auth:signIn`.
    pub path: String,
    /// Its arguments (an object).
    pub args: Json,
    /// `Authorization: Bearer <bearer>`.
    pub bearer: Option<String>,
}

impl core::fmt::Debug for Request {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The arguments and the bearer hold secrets (passwords, tokens).
        f.debug_struct("Request")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A call of the app's token source (the `tokenSource` option: an identity platform such as
/// Clerk or Auth0 holds the session, and the client asks it for tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceCall {
    /// `fetchToken({forceRefreshToken: force})`: a JWT, or none when signed out there.
    Token {
        /// Whether the source must mint a new token rather than hand back one it caches.
        force: bool,
    },
    /// `signOut()`.
    SignOut,
}

/// What a backend asks of the outside to refresh or end a session.
#[derive(Clone, Debug, PartialEq)]
pub enum Exchange {
    /// A request to the deployment.
    Request(Request),
    /// A call of the token source.
    Source(SourceCall),
}

/// What `signIn` achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInOutcome {
    /// `true` when a session was started.
    pub signing_in: bool,
    /// The provider URL the window was (or should be) sent to, for OAuth.
    pub redirect: Option<String>,
}

/// What a caller is settled with.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `ready()`: the first state is known.
    Ready,
    /// `fetchAccessToken`: the token, or `None` when signed out.
    Token(Option<String>),
    /// `signIn`.
    SignIn(Result<SignInOutcome, Error>),
    /// `signOut`: done (it always succeeds locally).
    SignedOut,
}

/// A call made by the application.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `ready()`.
    Ready,
    /// `signIn(provider, params)` (no provider: exchange `params.code`).
    SignIn {
        /// The provider id.
        provider: Option<String>,
        /// The params, checked to be strings.
        params: Vec<(String, String)>,
        /// The page's URL when the call was made (where an OAuth sign-in returns by default).
        page_url: Option<String>,
    },
    /// `signOut()`.
    SignOut,
    /// `fetchAccessToken({forceRefreshToken})`.
    Token {
        /// Whether the caller needs a token other than the one it holds.
        force: bool,
    },
    /// The token source's sign-in state changed (after its `signIn`): ask it again, unforced;
    /// settled with the token it gives.
    Changed,
}

impl Call {
    /// What the caller gets when the client is freed before the call is answered: what a
    /// signed-out client answers.
    pub fn abandoned(&self) -> Outcome {
        match self {
            Call::Ready => Outcome::Ready,
            Call::SignOut => Outcome::SignedOut,
            Call::Token { .. } | Call::Changed => Outcome::Token(None),
            Call::SignIn { .. } => Outcome::SignIn(Ok(SignInOutcome {
                signing_in: false,
                redirect: None,
            })),
        }
    }
}

/// What storage answered to a [`Command::Read`]: the slots it asked for (absent ones `None`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The values read, by slot (a slot not listed was absent).
    pub values: Vec<(Slot, String)>,
    /// The hand-over copy of the JWT, when asked for.
    pub copy: Option<String>,
}

impl Stored {
    /// The value of `slot`.
    pub fn get(&self, slot: Slot) -> Option<&String> {
        self.values.iter().find(|(s, _)| *s == slot).map(|(_, v)| v)
    }

    fn take(&mut self, slot: Slot) -> Option<String> {
        let i = self.values.iter().position(|(s, _)| *s == slot)?;
        Some(self.values.swap_remove(i).1)
    }
}

impl core::fmt::Debug for Stored {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let slots: Vec<Slot> = self.values.iter().map(|(s, _)| *s).collect();
        f.debug_struct("Stored")
            .field("slots", &slots)
            .field("copy", &self.copy.is_some())
            .finish()
    }
}

/// An input of the machine.
#[derive(Clone, Debug)]
pub enum Input {
    /// The client was created and its listeners may be added: start loading.
    Start,
    /// A [`Command::Read`] completed.
    Stored {
        /// The operation.
        op: Op,
        /// What was read.
        values: Stored,
    },
    /// A [`Command::Write`] completed.
    Written {
        /// The operation.
        op: Op,
    },
    /// A storage command failed (threw, rejected, timed out, or read
    /// something that is not a string).
    StorageFailed {
        /// The operation.
        op: Op,
        /// What the storage threw.
        message: String,
    },
    /// A [`Command::TakeCode`] completed: the page URL's code and error parameters, already
    /// removed from the URL.
    CodeTaken {
        /// The operation.
        op: Op,
        /// The code to exchange, if any.
        code: Option<String>,
        /// The error the provider returned instead, if any.
        error: Option<String>,
    },
    /// A [`Command::Ceremony`] completed: the credential as JSON, or why there is none
    /// (`PasskeyCancelled`, `PasskeyUnsupported`).
    CeremonyDone {
        /// The operation.
        op: Op,
        /// The credential's JSON form, or the failure.
        result: Result<Json, Error>,
    },
    /// A [`Command::Request`] was answered.
    Answered {
        /// The operation.
        op: Op,
        /// The HTTP status.
        status: u16,
        /// The body as JSON (`None`: not JSON).
        body: Option<Json>,
    },
    /// A [`Command::Source`] call resolved (`Ok`: the token, or none) or failed (threw,
    /// rejected, timed out, or gave something that is not a string).
    SourceAnswered {
        /// The operation.
        op: Op,
        /// What it gave.
        result: Result<Option<String>, Error>,
    },
    /// The token source reported that its sign-in state changed (its `subscribe` callback).
    SourceChanged,
    /// A reactive Convex client was attached (`attach`) as `attachment`, and given the token
    /// fetcher: the state waits for the backend's verdict on the session's token.
    Attached(u32),
    /// The reactive client `attachment` reported the backend's verdict on the token it was given
    /// (its `setAuth` callback): accepted, or not (rejected, or no token to give).
    Verdict {
        /// The attachment.
        attachment: u32,
        /// Whether the backend accepted the token.
        accepted: bool,
    },
    /// The reactive client `attachment` was detached.
    Detached(u32),
    /// The reactive client `attachment`'s subscription to `currentUser`'s query
    /// ([`Command::Watch`]) has a new value.
    Watched {
        /// The attachment.
        attachment: u32,
        /// The query's value.
        value: Json,
    },
    /// A [`Command::Request`] got no answer (a `Network` or `Timeout` error).
    Unreachable {
        /// The operation.
        op: Op,
        /// What went wrong.
        error: Error,
    },
    /// A [`Command::Lock`] completed: `granted`, or not (no Web Locks, or the wait timed out).
    Locked {
        /// The operation.
        op: Op,
        /// Whether this tab now holds the lock.
        granted: bool,
    },
    /// A timer armed by [`Command::SetTimer`] fired.
    TimerFired(Timer),
    /// The browser is back online.
    Online,
    /// The page gained focus or became visible.
    Focused,
    /// Another tab wrote the JWT of the shared localStorage (`None`: removed or cleared).
    TabWrote(Option<String>),
    /// Another tab announced a write of the shared storage (no `storage` events there).
    TabAnnounced,
    /// Someone read the `token` getter: refresh in the background if the token is due.
    TokenRead,
    /// An application call.
    Call {
        /// Who waits for the outcome.
        caller: CallerId,
        /// The call.
        call: Call,
    },
    /// `free()`: the client is dropped.
    Free,
}

/// A command of the machine for its executor.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Read `slots` (and the hand-over copy when `copy`); answer [`Input::Stored`].
    Read {
        /// The operation.
        op: Op,
        /// What to read.
        slots: &'static [Slot],
        /// Whether to read the hand-over copy too.
        copy: bool,
    },
    /// Write `values` in order (`None` removes the slot; the JWT before the refresh token, as
    /// the official client does), then the hand-over copy of the JWT when `copy`; answer
    /// [`Input::Written`].
    Write {
        /// The operation.
        op: Op,
        /// What to write.
        values: Vec<(Slot, Option<String>)>,
        /// Whether to write the hand-over copy of the JWT (the value of [`Slot::Jwt`]) too.
        copy: bool,
    },
    /// The storage failed: go on in memory, holding these values.
    UseMemory {
        /// What the memory starts with.
        values: Vec<(Slot, Option<String>)>,
    },
    /// Tell the other tabs sharing the storage that it was written.
    Announce,
    /// Send `request`; answer [`Input::Answered`] or [`Input::Unreachable`].
    Request {
        /// The operation.
        op: Op,
        /// What to send.
        request: Request,
    },
    /// Give the reactive client `attachment` the token fetcher again (`setAuth`): the session
    /// started or ended, which it does not ask about by itself.
    Reauthenticate(u32),
    /// Subscribe, through the reactive client `attachment`, to the query `path` (`currentUser`'s);
    /// answer [`Input::Watched`] with each of its values (until it is detached).
    Watch {
        /// The attachment.
        attachment: u32,
        /// The query.
        path: String,
    },
    /// Call the token source; answer [`Input::SourceAnswered`].
    Source {
        /// The operation.
        op: Op,
        /// What to call.
        call: SourceCall,
    },
    /// Take the page URL's query parameters `code` and `error` (when `shouldHandleCode`
    /// allows), removing them from the URL; answer [`Input::CodeTaken`].
    TakeCode {
        /// The operation.
        op: Op,
        /// The parameter carrying a code to exchange.
        code: &'static str,
        /// The parameter carrying a provider's error, if the backend has one.
        error: Option<&'static str>,
    },
    /// Run the WebAuthn ceremony `ceremony`; answer [`Input::CeremonyDone`].
    Ceremony {
        /// The operation.
        op: Op,
        /// Which ceremony, with the server's options.
        ceremony: Ceremony,
    },
    /// Take the refresh lock shared by the tabs; answer [`Input::Locked`].
    Lock {
        /// The operation.
        op: Op,
    },
    /// Release the refresh lock that [`Command::Lock`] `op` was granted.
    Release {
        /// The operation that took the lock.
        op: Op,
    },
    /// Arm `timer` to fire in `ms`.
    SetTimer {
        /// Which timer.
        timer: Timer,
        /// In how many milliseconds.
        ms: f64,
    },
    /// Disarm `timer`.
    ClearTimer(Timer),
    /// Send the window to `url` (an http(s) URL).
    Navigate(String),
    /// Tell the listeners: the state changed (`state`), and/or an event happened.
    Notify {
        /// Whether the state changed (state listeners are told).
        state: bool,
        /// The event, if any.
        event: Option<AuthEventKind>,
        /// The error of an [`AuthEventKind::Error`] event.
        error: Option<Error>,
    },
    /// Settle `caller` with `outcome`.
    Settle {
        /// The caller.
        caller: CallerId,
        /// Its outcome.
        outcome: Outcome,
    },
    /// A line for `console.debug` (verbose clients only; never a token).
    Trace(&'static str),
}

/// What a sign-in reads from storage before its request: a value an earlier step kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept {
    /// Where it is.
    pub slot: Slot,
    /// Removed before the request is sent (it belongs to one attempt: v1's verifier, v2's
    /// OAuth flow), rather than once the sign-in succeeded (v2's `browserSecret`, which a
    /// mistyped code must not lose).
    pub take: bool,
}

/// The session backend: what to send for each step of a session and what the answers mean.
/// [`ConvexAuthV1`] is `@convex-dev/auth` 0.0.x, [`super::v2::ConvexAuthV2`] 2.0; the policy
/// (single flight, retries, adoption, who signs out) is the machine's and does not change with
/// the backend.
pub trait Backend {
    /// Whether a token read from storage or another tab is of this backend's generation (one of
    /// another generation is discarded, never sent).
    fn accepts(&self, claims: &Claims) -> bool;
    /// The claims of `token` (`None`: not a token of this backend's kind).
    fn decode(&self, token: &str) -> Option<Claims> {
        super::jwt::decode(token)
    }
    /// Whether the user id is kept in storage beside the session ([`Slot::UserId`]), because
    /// the token does not carry it.
    fn keeps_user_id(&self) -> bool {
        false
    }
    /// The page URL's query parameters that bring a sign-in back: the code to exchange at
    /// start-up and, if the backend has one, the provider's error (`None`: the client takes
    /// nothing from the URL).
    fn url_params(&self) -> Option<(&'static str, Option<&'static str>)>;
    /// What the error parameter's `value` stands for.
    fn url_error(&self, value: &str) -> Error;
    /// What a sign-in reads before its request, if anything.
    fn kept(&self, provider: Option<&str>, params: &[(String, String)]) -> Option<Kept>;
    /// The request of a sign-in (or code exchange) with what [`Backend::kept`] read, or why
    /// there is none to send.
    fn sign_in(
        &self,
        provider: Option<&str>,
        params: &[(String, String)],
        kept: Option<&str>,
        page_url: Option<&str>,
    ) -> Result<Request, Error>;
    /// What the answer to the sign-in `provider`, `params` means.
    fn sign_in_answer(
        &self,
        provider: Option<&str>,
        params: &[(String, String)],
        status: u16,
        body: Option<Json>,
    ) -> Result<SignInResult, Error>;
    /// The request that completes the sign-in `params` with the credential a [`Ceremony`]
    /// produced.
    fn ceremony_done(
        &self,
        ceremony: &Ceremony,
        params: &[(String, String)],
        credential: Json,
    ) -> Result<Request, Error>;
    /// The exchange of a refresh with `refresh_token`; `None` when there is nothing to send (no
    /// refresh token, or one of another generation): then the session ends. `renew` is false
    /// when the session is only looked up again (at start-up, or after a token source changed),
    /// not replaced.
    fn refresh(&self, refresh_token: Option<&str>, renew: bool) -> Option<Exchange>;
    /// What the answer to a refresh made with `refresh_token` means (`Err`: transient).
    fn refresh_answer(
        &self,
        status: u16,
        body: Option<Json>,
        refresh_token: &str,
    ) -> Result<Refresh, Error>;
    /// The request that deletes the server session of the JWT `token`, whose refresh token is
    /// `refresh_token` when known (v1 authenticates the call with the JWT, v2 with the refresh
    /// token); `None` when there is nothing to send.
    fn sign_out(&self, token: &str, refresh_token: Option<&str>) -> Option<Exchange>;
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn accepts(&self, claims: &Claims) -> bool {
        (**self).accepts(claims)
    }
    fn decode(&self, token: &str) -> Option<Claims> {
        (**self).decode(token)
    }
    fn keeps_user_id(&self) -> bool {
        (**self).keeps_user_id()
    }
    fn url_params(&self) -> Option<(&'static str, Option<&'static str>)> {
        (**self).url_params()
    }
    fn url_error(&self, value: &str) -> Error {
        (**self).url_error(value)
    }
    fn kept(&self, provider: Option<&str>, params: &[(String, String)]) -> Option<Kept> {
        (**self).kept(provider, params)
    }
    fn sign_in(
        &self,
        provider: Option<&str>,
        params: &[(String, String)],
        kept: Option<&str>,
        page_url: Option<&str>,
    ) -> Result<Request, Error> {
        (**self).sign_in(provider, params, kept, page_url)
    }
    fn sign_in_answer(
        &self,
        provider: Option<&str>,
        params: &[(String, String)],
        status: u16,
        body: Option<Json>,
    ) -> Result<SignInResult, Error> {
        (**self).sign_in_answer(provider, params, status, body)
    }
    fn ceremony_done(
        &self,
        ceremony: &Ceremony,
        params: &[(String, String)],
        credential: Json,
    ) -> Result<Request, Error> {
        (**self).ceremony_done(ceremony, params, credential)
    }
    fn refresh(&self, refresh_token: Option<&str>, renew: bool) -> Option<Exchange> {
        (**self).refresh(refresh_token, renew)
    }
    fn refresh_answer(
        &self,
        status: u16,
        body: Option<Json>,
        refresh_token: &str,
    ) -> Result<Refresh, Error> {
        (**self).refresh_answer(status, body, refresh_token)
    }
    fn sign_out(&self, token: &str, refresh_token: Option<&str>) -> Option<Exchange> {
        (**self).sign_out(token, refresh_token)
    }
}

/// A string argument.
pub(crate) fn arg(value: &str) -> Option<Json> {
    Some(Json::from_string(value.to_owned()))
}

/// `@convex-dev/auth` 0.0.x: `auth:signIn` signs in, exchanges codes and refreshes;
/// `auth:signOut` deletes the session (PROTOCOL.md).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConvexAuthV1;

impl ConvexAuthV1 {
    const SIGN_IN: &'static str = "auth:signIn";
    const SIGN_OUT: &'static str = "auth:signOut";

    fn action(path: &str, args: Vec<(&str, Option<Json>)>, bearer: Option<&str>) -> Request {
        Request {
            kind: FunctionKind::Action,
            path: path.to_owned(),
            args: Json::object(args),
            bearer: bearer.map(str::to_owned),
        }
    }
}

impl Backend for ConvexAuthV1 {
    fn accepts(&self, claims: &Claims) -> bool {
        claims.user_id.is_some()
    }
    fn url_params(&self) -> Option<(&'static str, Option<&'static str>)> {
        Some(("code", None))
    }
    fn url_error(&self, value: &str) -> Error {
        Error::new(ErrorCode::InvalidCode, value)
    }
    fn kept(&self, _provider: Option<&str>, _params: &[(String, String)]) -> Option<Kept> {
        // The verifier belongs to one OAuth attempt: taken out for every sign-in, as the
        // official client does.
        Some(Kept {
            slot: Slot::Verifier,
            take: true,
        })
    }
    fn sign_in(
        &self,
        provider: Option<&str>,
        params: &[(String, String)],
        kept: Option<&str>,
        _page_url: Option<&str>,
    ) -> Result<Request, Error> {
        let params = params.iter().map(|(k, v)| (k.as_str(), arg(v))).collect();
        let args = vec![
            ("provider", provider.and_then(arg)),
            ("params", Some(Json::object(params))),
            ("verifier", kept.and_then(arg)),
        ];
        Ok(Self::action(Self::SIGN_IN, args, None))
    }
    fn sign_in_answer(
        &self,
        _provider: Option<&str>,
        _params: &[(String, String)],
        status: u16,
        body: Option<Json>,
    ) -> Result<SignInResult, Error> {
        protocol::sign_in_answer(status, body)
    }
    fn ceremony_done(
        &self,
        _ceremony: &Ceremony,
        _params: &[(String, String)],
        _credential: Json,
    ) -> Result<Request, Error> {
        Err(Error::new(
            ErrorCode::InvalidResponse,
            "Convex Auth v1 has no passkey ceremony",
        ))
    }
    fn refresh(&self, refresh_token: Option<&str>, _renew: bool) -> Option<Exchange> {
        // A v1 refresh token is `<refreshTokenId>|<sessionId>`: another is not this
        // generation's and is never sent.
        let refresh_token = refresh_token.filter(|t| protocol::is_v1_refresh_token(t))?;
        let args = vec![("refreshToken", arg(refresh_token))];
        Some(Exchange::Request(Self::action(Self::SIGN_IN, args, None)))
    }
    fn refresh_answer(
        &self,
        status: u16,
        body: Option<Json>,
        refresh_token: &str,
    ) -> Result<Refresh, Error> {
        protocol::refresh_answer(protocol::sign_in_answer(status, body), refresh_token)
    }
    fn sign_out(&self, token: &str, _refresh_token: Option<&str>) -> Option<Exchange> {
        Some(Exchange::Request(Self::action(
            Self::SIGN_OUT,
            Vec::new(),
            Some(token),
        )))
    }
}

/// How a client is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Other tabs use the same storage: a refresh takes the lock and adopts their tokens.
    pub shared: bool,
    /// The storage is the shared localStorage: a refresh keeps a hand-over copy of the JWT that
    /// is ordered with the lock (localStorage is not), and other tabs' writes arrive as
    /// [`Input::TabWrote`].
    pub handover: bool,
    /// The storage is shared without `storage` events: writes are announced
    /// ([`Command::Announce`]) and other tabs' announcements arrive as [`Input::TabAnnounced`].
    pub announce: bool,
    /// The storage failed to open: the client runs in memory from the start and reports this.
    pub storage_error: Option<Error>,
    /// Whether an OAuth sign-in sends the window to the provider.
    pub navigate: bool,
    /// Whether to emit [`Command::Trace`]s.
    pub verbose: bool,
    /// Seed of the backoff jitter.
    pub seed: u64,
    /// The mutation run once per identity before the client counts as signed in (`storeUser`,
    /// e.g. `users:store`): its result is the state's `stored_user_id`.
    pub store_user: Option<String>,
    /// The query whose non-null value the client waits for before it counts as signed in
    /// (`currentUser`, e.g. `users:current`): the state's `user`.
    pub current_user: Option<String>,
}

impl Config {
    /// A client of localStorage (the default storage).
    pub fn local_storage() -> Config {
        Config {
            shared: true,
            handover: true,
            announce: false,
            storage_error: None,
            navigate: true,
            verbose: false,
            seed: 1,
            store_user: None,
            current_user: None,
        }
    }
}

/// Who a sign-in is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Caller(CallerId),
    /// The exchange of the page URL's code at start-up.
    StartUp,
}

#[derive(Clone, Debug)]
struct SignIn {
    origin: Origin,
    provider: Option<String>,
    params: Vec<(String, String)>,
    page_url: Option<String>,
    /// What [`Backend::kept`] read for it.
    kept: Option<String>,
    /// The slot to clear once signed in (a kept value not taken before the request).
    clear: Option<Slot>,
}

impl SignIn {
    fn has_code(&self) -> bool {
        self.params.iter().any(|(k, _)| k == "code")
    }
}

/// The value of [`Slot::UserId`] for `session`: `<sessionId>|<userId>`, when the user is known.
fn user_value(session: &Session) -> Option<String> {
    let user_id = session.user_id.as_deref()?;
    let mut value = session.claims.session_id.clone();
    value.push('|');
    value.push_str(user_id);
    Some(value)
}

/// The user id in a [`Slot::UserId`] value, when it is bound to the session `session_id`.
fn bound_user(value: &str, session_id: &str) -> Option<String> {
    let (bound, user_id) = super::split_byte(value, b'|')?;
    (bound == session_id && !user_id.is_empty()).then(|| user_id.to_owned())
}

/// The error of an answer whose token is not a Convex Auth JWT.
fn not_a_session() -> Error {
    Error::new(
        ErrorCode::InvalidResponse,
        "The server sent a token that is not a Convex Auth JWT",
    )
}

/// The tokens of a session being signed out, to delete it on the server.
#[derive(Clone, Debug)]
struct Leaving {
    token: Option<String>,
    refresh_token: Option<String>,
}

/// The step a pending operation continues.
#[derive(Clone, Debug)]
enum Then {
    StartUpJwt,
    StartUpCode,
    /// The pending OAuth flow was removed after the provider's error.
    StartUpFlowCleared,
    StartUpRefreshToken,
    SignInKept(SignIn, Kept),
    SignInKeptTaken(SignIn),
    SignInAnswer(SignIn),
    /// Signed in: the session (received when its answer arrived).
    SignInPersisted(SignIn, Session),
    SignInRedirect(SignIn, String),
    /// A value for a later step was kept: no session yet.
    SignInStarted(SignIn),
    SignInCeremony(SignIn, Ceremony),
    /// Waiting for the lock, with the session signed out and the epoch that followed.
    SignOutLock(CallerId, Leaving, u32),
    /// The refresh token was read under the lock granted to that operation, if any.
    SignOutRead(CallerId, Leaving, Option<Op>),
    /// The storage was cleared, under the lock granted to that operation, if any.
    SignOutCleared(CallerId, Leaving, Option<Op>),
    SignOutAnswer(CallerId),
    FlightLock,
    FlightRead,
    FlightAnswer(String),
    /// Rotated: the session (received when its answer arrived).
    FlightPersisted(Session),
    FlightCleared,
    Announced,
    /// The function run for each identity `users[i]`, for the session of an epoch.
    User(usize, u32),
}

#[derive(Clone, Debug)]
struct Pending {
    op: Op,
    then: Then,
    /// What a storage write writes ([`Slot`] and value; `None` for other operations): the
    /// memory that replaces a failing storage holds it.
    writes: Option<Vec<(Slot, Option<String>)>>,
}

/// How one attempt of a refresh ended.
enum Attempt {
    /// The answer is for a session that has ended since: keep what is current.
    Stale,
    /// The session is over (refresh token missing or rejected, or ended by the server).
    Ended,
    /// A session to make current: minted for this tab or adopted from another tab.
    Token(Session),
    /// A transient failure: the session is kept, the refresh retried.
    Transient(Error),
}

/// Why a flight starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// At start-up, before the first state: the session is looked up (or renewed when due).
    Load,
    /// The token is due, or a caller needs another.
    Renew,
    /// The token source changed: it is asked again.
    Reread,
}

/// A function the client runs for each signed-in identity before it counts as signed in:
/// `storeUser`'s mutation, `currentUser`'s query.
#[derive(Debug)]
struct UserCall {
    path: String,
    /// A mutation, run once (`storeUser`); else a query, asked until it is not null
    /// (`currentUser`).
    mutation: bool,
    /// The epoch of the session it was run for (started at the first state).
    epoch: u32,
    /// What it gave (`Err`: a definitive failure); `None` while it runs or waits to try again.
    result: Option<Result<Json, ()>>,
    attempt: u32,
    /// Waiting for [`Timer::Users`].
    waiting: bool,
}

/// A caller waiting for a flight, with the token it must not be given (a forced caller's).
type Waiter = (CallerId, Option<String>);

/// The single refresh in flight, which every caller needing a token joins.
#[derive(Debug)]
struct Flight {
    force: bool,
    attempt: u32,
    waiters: Vec<Waiter>,
    /// The token when the flight began: a different fresh one later means another tab rotated.
    start: Option<String>,
    /// The token when the current attempt began (never adopted back).
    held: Option<String>,
    /// The epoch when the current attempt read the refresh token it sends: answers for an
    /// older epoch are stale.
    epoch: u32,
    /// The flight began at start-up: the first state waits for its first attempt.
    start_up: bool,
    /// Waiting for the backoff timer.
    backing_off: bool,
    /// Waiting for the distinct-rotation timer.
    distinct: bool,
    /// The session is only looked up again, not replaced ([`Backend::refresh`]'s `renew`).
    reread: bool,
}

/// The session machine of one client. See the module documentation.
pub struct Machine<B: Backend = ConvexAuthV1> {
    backend: B,
    config: Config,
    now: f64,
    rng: u64,
    commands: Vec<Command>,
    next_op: Op,
    pending: Vec<Pending>,

    session: Option<Session>,
    /// Bumped whenever the session starts or ends.
    epoch: u32,
    loading: bool,
    skew_ms: f64,
    /// The storage failed: the client runs in memory.
    failed: bool,
    /// The refresh token last read or written, carried into memory if the storage fails.
    refresh_token: Option<String>,
    /// The token last handed to a `fetchAccessToken` caller.
    handed_out: Option<String>,
    flight: Option<Flight>,
    /// The refresh's lock, while this tab holds it (the operation that took it); errors wait in
    /// `held_errors` meanwhile.
    holding: Option<Op>,
    held_errors: Vec<Error>,
    /// Sign-outs whose storage is not cleared yet: what storage holds is not followed meanwhile.
    signing_out: u32,
    /// The URL code exchanged at start-up signed the user in.
    by_code: bool,
    /// Every caller not settled yet, with what it gets if the client is freed first.
    open: Vec<(CallerId, Outcome)>,
    /// Calls made before the first state was known, with the token handed out at that time.
    queued: Vec<(CallerId, Call, Option<String>)>,
    /// The token source changed during a flight: once it ends, the source is asked again for
    /// these callers.
    reread: Option<Vec<Waiter>>,
    /// The reactive clients attached, with the backend's verdict on the session of an epoch.
    attachments: Vec<(u32, Option<(u32, bool)>)>,
    /// `storeUser`, then `currentUser`, when set.
    users: Vec<UserCall>,
    /// The session's `signedIn` event waits for its gates ([`Machine::gated`]).
    signed_in_held: bool,
    /// The first public state was announced (`initialized`): the stored session is known and
    /// its gates (the backend's verdict, the stored user) passed or failed. Until then the
    /// `ready()` callers wait in `open`.
    announced: bool,
    started: bool,
    freed: bool,
}

impl<B: Backend> core::fmt::Debug for Machine<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Machine")
            .field("session", &self.session)
            .field("epoch", &self.epoch)
            .field("loading", &self.loading)
            .field("flight", &self.flight)
            .finish_non_exhaustive()
    }
}

impl Machine<ConvexAuthV1> {
    /// A machine for Convex Auth v1.
    pub fn new(config: Config) -> Self {
        Machine::with_backend(ConvexAuthV1, config)
    }
}

impl<B: Backend> Machine<B> {
    /// A machine over `backend`.
    pub fn with_backend(backend: B, config: Config) -> Self {
        let user_call = |path: &Option<String>, mutation| {
            path.clone().map(|path| UserCall {
                path,
                mutation,
                epoch: u32::MAX,
                result: None,
                attempt: 0,
                waiting: false,
            })
        };
        let users = [(&config.store_user, true), (&config.current_user, false)]
            .into_iter()
            .filter_map(|(path, mutation)| user_call(path, mutation))
            .collect();
        Machine {
            users,
            backend,
            failed: config.storage_error.is_some(),
            rng: config.seed | 1,
            config,
            now: 0.0,
            commands: Vec::new(),
            next_op: 0,
            pending: Vec::new(),
            session: None,
            epoch: 0,
            loading: true,
            skew_ms: 0.0,
            refresh_token: None,
            handed_out: None,
            flight: None,
            holding: None,
            signing_out: 0,
            held_errors: Vec::new(),
            by_code: false,
            queued: Vec::new(),
            reread: None,
            attachments: Vec::new(),
            signed_in_held: false,
            announced: false,
            open: Vec::new(),
            started: false,
            freed: false,
        }
    }

    /// The public state.
    pub fn state(&self) -> AuthState {
        AuthState {
            is_authenticated: self.is_authenticated(),
            stored_user_id: self.user_value(true).cloned(),
            user: self.user_value(false).cloned(),
            ..AuthState::of(self.is_loading(), self.session.as_ref())
        }
    }

    /// Whether the state is not known yet: the first one, or whether the backend accepts the
    /// session's token (reactive clients attached) and the user is stored and found
    /// (`storeUser`, `currentUser`).
    pub fn is_loading(&self) -> bool {
        self.loading
            || (self.session.is_some()
                && (self.verdicts().any(|v| v.is_none())
                    || self.user_results().any(|r| r.is_none())))
    }

    /// Whether a session is held, every attached reactive client's backend accepted it, and
    /// the user is stored and found.
    pub fn is_authenticated(&self) -> bool {
        self.session.is_some()
            && self.verdicts().all(|v| v == Some(true))
            && self.user_results().all(|r| matches!(r, Some(Ok(_))))
    }

    /// Whether the client runs `storeUser`'s mutation (`mutation`) or `currentUser`'s query.
    pub fn runs_user(&self, mutation: bool) -> bool {
        self.users.iter().any(|u| u.mutation == mutation)
    }

    /// The value `storeUser`'s mutation (`mutation`) or `currentUser`'s query gave for the
    /// current session.
    pub fn user_value(&self, mutation: bool) -> Option<&Json> {
        let u = self.users.iter().find(|u| u.mutation == mutation)?;
        match &u.result {
            Some(Ok(value)) if u.epoch == self.epoch && self.session.is_some() => Some(value),
            _ => None,
        }
    }

    /// What each function run for the identity gave for the current session (`None`: not
    /// yet).
    fn user_results(&self) -> impl Iterator<Item = Option<Result<&Json, ()>>> + '_ {
        self.users.iter().map(|u| {
            let result = u.result.as_ref().filter(|_| u.epoch == self.epoch)?;
            Some(result.as_ref().map_err(|_| ()))
        })
    }

    /// The verdict of each attached client on the current session (`None`: none yet).
    fn verdicts(&self) -> impl Iterator<Item = Option<bool>> + '_ {
        self.attachments.iter().map(|(_, verdict)| {
            verdict.and_then(|(epoch, accepted)| (epoch == self.epoch).then_some(accepted))
        })
    }

    /// The session held, if any.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The current JWT.
    pub fn token(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.token.as_str())
    }

    /// Whether `free()` was called.
    pub fn is_freed(&self) -> bool {
        self.freed
    }

    /// The commands produced since the last call, in order.
    pub fn take_commands(&mut self) -> Vec<Command> {
        core::mem::take(&mut self.commands)
    }

    /// Handles `input` at device time `now_ms`; the commands it produces are queued for
    /// [`take_commands`](Self::take_commands). After [`Input::Free`] nothing produces commands.
    pub fn handle(&mut self, now_ms: f64, input: Input) {
        if self.freed {
            return;
        }
        if now_ms.is_finite() {
            self.now = now_ms;
        }
        match input {
            Input::Start => self.start(),
            Input::Stored { op, values } => {
                if let Some(p) = self.take(op) {
                    self.stored(p.then, values);
                }
            }
            Input::Written { op } => {
                if let Some(p) = self.take(op) {
                    self.written(p.then);
                }
            }
            Input::StorageFailed { op, message } => self.storage_failed(op, message),
            Input::CodeTaken { op, code, error } => {
                if self.take(op).is_some() {
                    self.code_taken(code, error);
                }
            }
            Input::CeremonyDone { op, result } => {
                if let Some(Then::SignInCeremony(flow, ceremony)) = self.take(op).map(|p| p.then) {
                    self.ceremony_done(flow, ceremony, result);
                }
            }
            Input::Answered { op, status, body } => {
                if let Some(p) = self.take(op) {
                    self.answered(p.then, Ok((status, body)));
                }
            }
            Input::SourceAnswered { op, result } => {
                if let Some(p) = self.take(op) {
                    self.source_answered(p.then, result);
                }
            }
            Input::SourceChanged => self.source_changed(None),
            Input::Attached(id) => {
                self.attachment(|a| a.push((id, None)));
                // `currentUser` follows the query live through the reactive client.
                if let Some(u) = self.users.iter().find(|u| !u.mutation) {
                    let path = u.path.clone();
                    self.commands.push(Command::Watch {
                        attachment: id,
                        path,
                    });
                }
            }
            Input::Watched { attachment, value } => self.watched(attachment, value),
            Input::Detached(id) => self.attachment(|a| a.retain(|(i, _)| *i != id)),
            Input::Verdict {
                attachment,
                accepted,
            } => {
                let epoch = self.epoch;
                let rejected = !accepted
                    && self.session.is_some()
                    && self.verdicts().all(|v| v != Some(false));
                self.attachment(|a| {
                    for (id, verdict) in a.iter_mut() {
                        if *id == attachment {
                            *verdict = Some((epoch, accepted));
                        }
                    }
                });
                if rejected {
                    // The issuer names the likely cause (no format machinery in the wasm).
                    let mut message =
                        String::from("The deployment did not accept the token of issuer ");
                    let issuer = self
                        .session
                        .as_ref()
                        .and_then(|s| s.claims.issuer.as_deref());
                    message.push_str(issuer.unwrap_or("(none)"));
                    message.push_str(
                        ": add the issuer and audience to the providers of its auth.config, or \
                         check that the token is valid",
                    );
                    self.emit(Error::new(ErrorCode::Unauthenticated, message));
                }
            }
            Input::Unreachable { op, error } => {
                if let Some(p) = self.take(op) {
                    self.answered(p.then, Err(error));
                }
            }
            Input::Locked { op, granted } => match self.take(op).map(|p| p.then) {
                Some(Then::FlightLock) => {
                    self.holding = granted.then_some(op);
                    self.rotate();
                }
                Some(Then::SignOutLock(caller, leaving, epoch)) => {
                    let lock = granted.then_some(op);
                    // A sign-in since the sign-out was asked for: its session is not cleared.
                    if epoch == self.epoch {
                        // The refresh token is read under the lock: another tab may have
                        // rotated it (or signed in) since this one last read it, and the
                        // server session is deleted with the current one (Convex Auth v2).
                        let then = Then::SignOutRead(caller, leaving, lock);
                        self.read(&[Slot::RefreshToken], false, then);
                    } else {
                        self.signed_out(caller, leaving, lock);
                    }
                }
                _ => {}
            },
            Input::TimerFired(timer) => self.timer_fired(timer),
            Input::Online => {
                self.wake_users();
                self.wake_backoff();
                self.check_due();
            }
            Input::Focused => self.check_due(),
            Input::TokenRead => {
                if self.session.as_ref().is_some_and(|s| !s.is_fresh(self.now)) {
                    self.check_due();
                }
            }
            Input::TabWrote(token) => {
                // The event carries the value of one write, which may be older than what the
                // storage holds by now: two tabs writing at once (two sign-ins, a sign-out and a
                // refresh) each get the other's event after their own write, and following the
                // values left each tab on the other's. The storage is what is followed.
                if self.follows_storage()
                    && self.config.handover
                    && token.as_deref() != self.token()
                {
                    self.trace("storage event: following another tab");
                    self.read(self.session_slots(), false, Then::Announced);
                }
            }
            Input::TabAnnounced => {
                if self.follows_storage() {
                    self.read(self.session_slots(), false, Then::Announced);
                }
            }
            Input::Call { caller, call } => self.call(caller, call),
            Input::Free => self.free(),
        }
    }

    /// Changes the attachments with `f`; the listeners are told when the state changed.
    fn attachment(&mut self, f: impl FnOnce(&mut Vec<(u32, Option<(u32, bool)>)>)) {
        let before = (self.is_loading(), self.is_authenticated());
        f(&mut self.attachments);
        self.gated(before);
    }

    /// A gate moved (a verdict, a user stored or found, an attachment added or removed): the
    /// listeners are told when the public state changed, with the session's `signedIn` once its
    /// gates let the user in.
    fn gated(&mut self, before: (bool, bool)) {
        if !self.announced {
            self.announce();
            return;
        }
        let now = (self.is_loading(), self.is_authenticated());
        if before != now {
            let signed_in = now.1 && core::mem::take(&mut self.signed_in_held);
            self.notify(true, signed_in.then_some(AuthEventKind::SignedIn));
        }
    }

    /// Whether this tab follows what other tabs write to the shared storage: not while loading,
    /// nor once it runs in memory.
    fn follows_storage(&self) -> bool {
        !self.loading && !self.failed
    }

    // ---- plumbing ----

    fn op(&mut self, then: Then, writes: Option<Vec<(Slot, Option<String>)>>) -> Op {
        self.next_op = self.next_op.wrapping_add(1);
        let op = self.next_op;
        self.pending.push(Pending { op, then, writes });
        op
    }

    fn take(&mut self, op: Op) -> Option<Pending> {
        let i = self.pending.iter().position(|p| p.op == op)?;
        Some(self.pending.swap_remove(i))
    }

    fn read(&mut self, slots: &'static [Slot], copy: bool, then: Then) {
        let copy = copy && self.config.handover && !self.failed;
        let op = self.op(then, None);
        self.commands.push(Command::Read { op, slots, copy });
    }

    /// The slots that hold a session: the JWT, the refresh token and, for a backend that keeps
    /// it, the user id, read after the JWT (it is written before it: [`Machine::persist`]).
    fn session_slots(&self) -> &'static [Slot] {
        if self.backend.keeps_user_id() {
            &[Slot::Jwt, Slot::RefreshToken, Slot::UserId]
        } else {
            &[Slot::Jwt, Slot::RefreshToken]
        }
    }

    /// Writes `values`; a refresh token among them is held (for the fall-back to memory), and a
    /// JWT gets its hand-over copy.
    fn write(&mut self, values: Vec<(Slot, Option<String>)>, then: Then) {
        let mut copy = false;
        for (slot, value) in &values {
            match slot {
                Slot::RefreshToken => self.refresh_token.clone_from(value),
                Slot::Jwt => copy = self.config.handover && !self.failed,
                _ => {}
            }
        }
        let op = self.op(then, Some(values.clone()));
        self.commands.push(Command::Write { op, values, copy });
    }

    /// Writes `session` with its refresh token (`None`: removes them), then removes `clear`.
    fn persist(
        &mut self,
        session: Option<&Session>,
        refresh_token: Option<String>,
        clear: Option<Slot>,
        then: Then,
    ) {
        let mut values = vec![
            (Slot::Jwt, session.map(|s| s.token.clone())),
            (Slot::RefreshToken, refresh_token),
        ];
        // The user id goes first: another tab follows the JWT's write and must find the user
        // of the new session already there.
        if self.backend.keeps_user_id() {
            values.insert(0, (Slot::UserId, session.and_then(user_value)));
        }
        values.extend(clear.map(|slot| (slot, None)));
        self.write(values, then);
    }

    fn request(&mut self, request: Request, then: Then) {
        let op = self.op(then, None);
        self.commands.push(Command::Request { op, request });
    }

    fn exchange(&mut self, exchange: Exchange, then: Then) {
        match exchange {
            Exchange::Request(request) => self.request(request, then),
            Exchange::Source(call) => {
                let op = self.op(then, None);
                self.commands.push(Command::Source { op, call });
            }
        }
    }

    fn trace(&mut self, line: &'static str) {
        if self.config.verbose {
            self.commands.push(Command::Trace(line));
        }
    }

    fn settle(&mut self, caller: CallerId, outcome: Outcome) {
        if let Outcome::Token(t) = &outcome {
            self.handed_out.clone_from(t);
        }
        self.open.retain(|(c, _)| *c != caller);
        self.commands.push(Command::Settle { caller, outcome });
    }

    /// Tells the listeners: of the state (`state`), with an event or none.
    fn notify(&mut self, state: bool, event: Option<AuthEventKind>) {
        self.commands.push(Command::Notify {
            state,
            event,
            error: None,
        });
    }

    /// An error event, held back while this tab holds the refresh lock.
    fn emit(&mut self, error: Error) {
        if self.holding.is_some() {
            self.held_errors.push(error);
        } else {
            self.commands.push(Command::Notify {
                state: false,
                event: Some(AuthEventKind::Error),
                error: Some(error),
            });
        }
    }

    /// A session for a token read from storage or another tab (not freshly minted), with the
    /// user id kept beside it (`user`, [`Slot::UserId`]) when the token carries none. A token
    /// of another generation is no session.
    fn parse(&self, token: Option<String>, user: Option<&String>) -> Option<Session> {
        let token = token?;
        let claims = self
            .backend
            .decode(&token)
            .filter(|c| self.backend.accepts(c))?;
        let mut session = Session::with_claims(token, claims, self.now, false, self.skew_ms);
        if session.user_id.is_none() {
            session.user_id = user.and_then(|u| bound_user(u, &session.claims.session_id));
        }
        Some(session)
    }

    /// A session for a token just minted for this tab, with the user id that came with it; the
    /// device clock's offset is measured from it unless it may have been cached (`!measure`: a
    /// token source asked unforced).
    fn minted(&self, token: String, user_id: Option<String>, measure: bool) -> Option<Session> {
        let claims = self.backend.decode(&token)?;
        let mut session = Session::with_claims(token, claims, self.now, measure, self.skew_ms);
        if session.user_id.is_none() {
            session.user_id = user_id;
        }
        Some(session)
    }

    fn fresh(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.is_fresh(self.now))
    }

    /// Makes `session` current (or ends the session), tells the listeners once the first state
    /// is known, and re-arms the refresh timer.
    fn set(&mut self, session: Option<Session>) {
        let kind = transition(self.session.as_ref(), session.as_ref());
        if let Some(s) = &session {
            self.skew_ms = s.skew_ms;
        }
        // A session starts or ends: also a new session of the same user (a second sign-in, here
        // or in another tab), which `transition` reports as a refresh. A refresh answer still on
        // its way is for the old session and must not overwrite the new one.
        let session_id = |s: Option<&Session>| s.map(|s| s.claims.session_id.clone());
        if session_id(self.session.as_ref()) != session_id(session.as_ref()) {
            self.epoch = self.epoch.wrapping_add(1);
            // The reactive clients learn of it by being given the token fetcher again.
            for (id, _) in &self.attachments {
                self.commands.push(Command::Reauthenticate(*id));
            }
        }
        self.session = session;
        if let Some(kind) = kind.filter(|_| !self.loading) {
            // A session whose gates (the backend's verdict, the stored user) are still to pass
            // is signed in once they pass ([`Machine::gated`]); before the first state is
            // announced, nothing but `initialized` is ([`Machine::announce`]).
            let announced = self.announced;
            let pending =
                kind == AuthEventKind::SignedIn && !(announced && self.is_authenticated());
            match kind {
                AuthEventKind::SignedIn => self.signed_in_held = pending,
                AuthEventKind::SignedOut => self.signed_in_held = false,
                _ => {}
            }
            if announced {
                self.notify(true, (!pending).then_some(kind));
            }
        }
        self.schedule();
        self.run_users();
        self.announce();
        // Signed out (here or by another tab): a refresh waiting to try again has nothing left
        // to refresh, and its callers are answered now rather than after the wait.
        let waiting = self.flight.as_ref().map(|f| (f.backing_off, f.distinct));
        if let (None, Some((backing_off, distinct))) = (&self.session, waiting) {
            if backing_off || distinct {
                let timer = if backing_off {
                    Timer::Backoff
                } else {
                    Timer::Distinct
                };
                self.commands.push(Command::ClearTimer(timer));
                self.finish_flight(None);
            }
        }
    }

    fn schedule(&mut self) {
        if self.loading {
            return;
        }
        match &self.session {
            Some(s) => {
                let ms = (s.refresh_due_ms() - self.now).clamp(0.0, MAX_TIMER_MS);
                self.commands.push(Command::SetTimer {
                    timer: Timer::Due,
                    ms,
                });
            }
            None => self.commands.push(Command::ClearTimer(Timer::Due)),
        }
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: jitter only, not secrets.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    // ---- the user's functions (storeUser, currentUser) ----

    /// Runs each function for the current session, unless it ran for it already.
    fn run_users(&mut self) {
        if self.loading {
            return;
        }
        let epoch = self.epoch;
        let signed_in = self.session.is_some();
        for i in 0..self.users.len() {
            let Some(u) = self.users.get_mut(i).filter(|u| u.epoch != epoch) else {
                continue;
            };
            u.epoch = epoch;
            u.result = None;
            u.attempt = 0;
            u.waiting = false;
            if signed_in {
                self.send_user(i);
            }
        }
    }

    fn send_user(&mut self, i: usize) {
        let (Some(token), Some(u)) = (self.token(), self.users.get(i)) else {
            return;
        };
        let request = Request {
            kind: if u.mutation {
                FunctionKind::Mutation
            } else {
                FunctionKind::Query
            },
            path: u.path.clone(),
            args: Json::object(Vec::new()),
            bearer: Some(token.to_owned()),
        };
        let then = Then::User(i, u.epoch);
        self.request(request, then);
    }

    fn user_answered(&mut self, i: usize, epoch: u32, answer: Result<(u16, Option<Json>), Error>) {
        if epoch != self.epoch {
            return;
        }
        let before = (self.is_loading(), self.is_authenticated());
        let result = answer.and_then(|(status, body)| protocol::interpret_response(status, body));
        let Some(u) = self.users.get_mut(i) else {
            return;
        };
        let mut error = None;
        let retry = match result {
            // The user is not there yet (a webhook will create it): asked again, no error.
            Ok(value) if value.is_null() && !u.mutation => true,
            Ok(value) => {
                u.result = Some(Ok(value));
                false
            }
            Err(e) => {
                let transient = e.retryable();
                if !transient {
                    u.result = Some(Err(()));
                }
                error = Some(e);
                transient
            }
        };
        if retry {
            let attempt = match self.users.get_mut(i) {
                Some(u) => {
                    u.waiting = true;
                    u.attempt += 1;
                    u.attempt - 1
                }
                None => return,
            };
            let ms = backoff_ms(attempt, self.random());
            self.commands.push(Command::SetTimer {
                timer: Timer::Users,
                ms,
            });
        }
        // The state the failure leads to (the first one included), then the failure.
        self.gated(before);
        if let Some(e) = error {
            self.emit(e);
        }
    }

    /// The functions waiting to try again are run now (unless a live value came meanwhile).
    fn wake_users(&mut self) {
        for i in 0..self.users.len() {
            if let Some(u) = self.users.get_mut(i).filter(|u| u.waiting) {
                u.waiting = false;
                if u.epoch == self.epoch && u.result.is_none() {
                    self.send_user(i);
                }
            }
        }
    }

    /// A live value of `currentUser`'s query from the reactive client `attachment`. It is the
    /// current session's only once that client's backend accepted this session's token (before,
    /// the client may still run as the previous identity): then a user replaces the one held,
    /// and `null` (the user was deleted) waits for the user again.
    fn watched(&mut self, attachment: u32, value: Json) {
        let epoch = self.epoch;
        let accepted = self
            .attachments
            .iter()
            .any(|(id, verdict)| *id == attachment && *verdict == Some((epoch, true)));
        let Some(i) = self
            .users
            .iter()
            .position(|u| !u.mutation && u.epoch == epoch)
        else {
            return;
        };
        if !accepted || self.session.is_none() {
            return;
        }
        let before = (self.is_loading(), self.is_authenticated());
        let Some(u) = self.users.get_mut(i) else {
            return;
        };
        let lost = value.is_null();
        let changed = match &u.result {
            Some(Ok(held)) => *held != value,
            _ => !lost,
        };
        if !changed {
            return;
        }
        if lost {
            u.result = None;
            u.attempt = 0;
            if !u.waiting {
                self.send_user(i);
            }
        } else {
            u.result = Some(Ok(value));
        }
        if before == (self.is_loading(), self.is_authenticated()) {
            // The same verdict, another user document: the state's `user` changed.
            self.notify(true, None);
        } else {
            self.gated(before);
        }
    }

    // ---- start-up ----

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(e) = self.config.storage_error.clone() {
            self.emit(e);
        }
        // The refresh token is read too, only to be held: if the storage breaks later, the
        // session goes on in memory with it (else the first refresh there would sign out).
        self.read(self.session_slots(), false, Then::StartUpJwt);
    }

    fn code_taken(&mut self, code: Option<String>, error: Option<String>) {
        // The provider sent the user back with an error: the flow it ends is removed.
        if let Some(error) = error {
            self.trace("init: the URL carries a sign-in error");
            let e = self.backend.url_error(&error);
            self.emit(e);
            return self.write(vec![(Slot::Verifier, None)], Then::StartUpFlowCleared);
        }
        match code {
            Some(code) => {
                self.trace("init: exchanging the URL code");
                self.begin_sign_in(SignIn {
                    origin: Origin::StartUp,
                    provider: None,
                    params: vec![("code".to_owned(), code)],
                    page_url: None,
                    kept: None,
                    clear: None,
                });
            }
            None => self.start_up_check(),
        }
    }

    /// After the stored session and the URL code: a stored token that is due (or unreadable,
    /// with a refresh token beside it) is replaced before the first state is announced.
    fn start_up_check(&mut self) {
        match &self.session {
            Some(_) if self.fresh() => self.loaded(),
            Some(_) => self.start_flight(false, None, Start::Load),
            None => self.read(&[Slot::RefreshToken], false, Then::StartUpRefreshToken),
        }
    }

    fn loaded(&mut self) {
        if !self.loading {
            return;
        }
        self.loading = false;
        self.schedule();
        self.run_users();
        self.signed_in_held = self.by_code && self.session.is_some();
        for (caller, call, held) in core::mem::take(&mut self.queued) {
            self.run_call(caller, call, held);
        }
        self.announce();
    }

    /// The first public state, once it is known: the stored session (and the URL code) read,
    /// and the session's gates passed or failed. Emits `initialized` (then the `signedIn` of a
    /// URL code's session) and settles the `ready()` callers; calls made meanwhile
    /// (`fetchAccessToken`, which the gates' reactive clients ask) were not held back.
    fn announce(&mut self) {
        if self.announced || self.is_loading() {
            return;
        }
        self.announced = true;
        self.notify(true, Some(AuthEventKind::Initialized));
        if self.is_authenticated() && core::mem::take(&mut self.signed_in_held) {
            self.notify(false, Some(AuthEventKind::SignedIn));
        }
        // What `settle` does for each, in one pass over the open callers (a `ready()` caller
        // hands out no token).
        let commands = &mut self.commands;
        self.open.retain(|(caller, outcome)| {
            let waiting = matches!(outcome, Outcome::Ready);
            if waiting {
                commands.push(Command::Settle {
                    caller: *caller,
                    outcome: Outcome::Ready,
                });
            }
            !waiting
        });
    }

    // ---- calls ----

    fn call(&mut self, caller: CallerId, call: Call) {
        self.open.push((caller, call.abandoned()));
        if self.loading {
            let held = self.handed_out.clone();
            self.queued.push((caller, call, held));
        } else {
            let held = self.handed_out.clone();
            self.run_call(caller, call, held);
        }
    }

    fn run_call(&mut self, caller: CallerId, call: Call, held: Option<String>) {
        match call {
            Call::Ready if self.announced => self.settle(caller, Outcome::Ready),
            // Settled by `announce`.
            Call::Ready => {}
            Call::SignIn {
                provider,
                params,
                page_url,
            } => self.begin_sign_in(SignIn {
                origin: Origin::Caller(caller),
                provider,
                params,
                page_url,
                kept: None,
                clear: None,
            }),
            Call::SignOut => {
                // Answers to requests made before now are for a session that is over, and
                // until the storage is cleared nothing read from it (another tab's refresh
                // landing meanwhile) is followed. The state turns signed-out once the storage
                // is cleared, so that a page reloaded on that state finds no session.
                let leaving = Leaving {
                    token: self.token().map(str::to_owned),
                    refresh_token: self.refresh_token.clone(),
                };
                self.epoch = self.epoch.wrapping_add(1);
                self.signing_out += 1;
                // Storage shared with other tabs is cleared under the refresh lock: a refresh
                // that another tab has in flight would otherwise store its new tokens after
                // the clear, signing every tab in again.
                if self.config.shared {
                    let op = self.op(Then::SignOutLock(caller, leaving, self.epoch), None);
                    self.commands.push(Command::Lock { op });
                } else {
                    self.clear_for_sign_out(caller, leaving, None);
                }
            }
            Call::Token { force } => {
                let current = self.token().map(str::to_owned);
                let holds_other = held.is_some() && held != current;
                if self.fresh() && (!force || holds_other) {
                    self.settle(caller, Outcome::Token(current));
                } else if current.is_none() && self.flight.is_none() {
                    self.settle(caller, Outcome::Token(None));
                } else {
                    // A forced caller may join a flight that is not forced, or that began before
                    // it got its token: what the flight ends with is checked against its token.
                    let avoid = held.filter(|_| force);
                    self.start_flight(force, Some((caller, avoid)), Start::Renew);
                }
            }
            Call::Changed => self.source_changed(Some(caller)),
        }
    }

    /// The token source's state changed: it is asked again (unforced), after the flight in
    /// progress, whose answer may be from before the change.
    fn source_changed(&mut self, caller: Option<CallerId>) {
        let caller = caller.map(|c| (c, None));
        if self.flight.is_some() {
            self.reread.get_or_insert_with(Vec::new).extend(caller);
        } else if !self.loading {
            self.start_flight(false, caller, Start::Reread);
        }
        // While loading (a source reporting its state as soon as it is subscribed to), the
        // start-up asks the source anyway. (Callers wait for the first state: no caller here.)
    }

    /// The storage is cleared (or kept for a newer session): releases the lock, deletes the server
    /// session and settles the caller once the server answered.
    fn signed_out(&mut self, caller: CallerId, leaving: Leaving, lock: Option<Op>) {
        if let Some(op) = lock {
            self.commands.push(Command::Release { op });
        }
        self.signing_out = self.signing_out.saturating_sub(1);
        let exchange = leaving
            .token
            .and_then(|t| self.backend.sign_out(&t, leaving.refresh_token.as_deref()));
        match exchange {
            Some(exchange) => {
                self.trace("signOut: deleting the server session");
                self.exchange(exchange, Then::SignOutAnswer(caller));
            }
            None => self.settle(caller, Outcome::SignedOut),
        }
    }

    /// Clears the storage (under `lock`, when granted) for a sign-out.
    fn clear_for_sign_out(&mut self, caller: CallerId, leaving: Leaving, lock: Option<Op>) {
        self.persist(
            None,
            None,
            None,
            Then::SignOutCleared(caller, leaving, lock),
        );
    }

    // ---- sign-in ----

    fn begin_sign_in(&mut self, flow: SignIn) {
        match self.backend.kept(flow.provider.as_deref(), &flow.params) {
            Some(kept) => self.read(kept.slot.alone(), false, Then::SignInKept(flow, kept)),
            None => self.send_sign_in(flow),
        }
    }

    fn kept_read(&mut self, mut flow: SignIn, kept: Kept, mut values: Stored) {
        flow.kept = values.take(kept.slot);
        match (&flow.kept, kept.take) {
            (Some(_), true) => self.write(vec![(kept.slot, None)], Then::SignInKeptTaken(flow)),
            (Some(_), false) => {
                flow.clear = Some(kept.slot);
                self.send_sign_in(flow);
            }
            (None, _) => self.send_sign_in(flow),
        }
    }

    fn send_sign_in(&mut self, flow: SignIn) {
        let request = self.backend.sign_in(
            flow.provider.as_deref(),
            &flow.params,
            flow.kept.as_deref(),
            flow.page_url.as_deref(),
        );
        match request {
            Ok(request) => self.request(request, Then::SignInAnswer(flow)),
            Err(e) => self.sign_in_failed(flow.origin, e),
        }
    }

    fn sign_in_answered(&mut self, mut flow: SignIn, answer: Result<SignInResult, Error>) {
        // A verifier left behind by an abandoned OAuth attempt makes a magic-link code fail: such
        // a code is tried once more without it.
        if matches!(answer, Ok(SignInResult::NoTokens)) && flow.kept.is_some() && flow.has_code() {
            flow.kept = None;
            return self.send_sign_in(flow);
        }
        self.trace("signIn: answered");
        match answer {
            Ok(SignInResult::Tokens(Tokens {
                token,
                refresh_token,
                user_id,
            })) => {
                // The device clock's offset is measured when the answer arrived, not once the
                // tokens are stored (a slow storage would push every refresh later).
                let Some(session) = self.minted(token, user_id, true) else {
                    return self.sign_in_failed(flow.origin, not_a_session());
                };
                let clear = flow.clear;
                self.persist(
                    Some(&session),
                    Some(refresh_token),
                    clear,
                    Then::SignInPersisted(flow, session.clone()),
                );
            }
            Ok(SignInResult::Redirect { url, verifier }) => self.write(
                vec![(Slot::Verifier, Some(verifier))],
                Then::SignInRedirect(flow, url),
            ),
            Ok(SignInResult::Keep { slot, value }) => {
                self.write(vec![(slot, Some(value))], Then::SignInStarted(flow))
            }
            Ok(SignInResult::Ceremony(ceremony)) => {
                let op = self.op(Then::SignInCeremony(flow, ceremony.clone()), None);
                self.commands.push(Command::Ceremony { op, ceremony });
            }
            Ok(SignInResult::NoTokens | SignInResult::Started) => {
                self.sign_in_done(flow.origin, Ok(false), None)
            }
            Err(e) => self.sign_in_failed(flow.origin, e),
        }
    }

    fn ceremony_done(&mut self, flow: SignIn, ceremony: Ceremony, result: Result<Json, Error>) {
        let request = result.and_then(|credential| {
            self.backend
                .ceremony_done(&ceremony, &flow.params, credential)
        });
        match request {
            Ok(request) => self.request(request, Then::SignInAnswer(flow)),
            Err(e) => self.sign_in_failed(flow.origin, e),
        }
    }

    fn sign_in_done(
        &mut self,
        origin: Origin,
        signed_in: Result<bool, Error>,
        redirect: Option<String>,
    ) {
        match origin {
            Origin::Caller(caller) => {
                let outcome = signed_in.map(|signing_in| SignInOutcome {
                    signing_in,
                    redirect,
                });
                self.settle(caller, Outcome::SignIn(outcome));
            }
            Origin::StartUp => {
                match signed_in {
                    Ok(true) => self.by_code = true,
                    Ok(false) => self.emit(Error::new(
                        ErrorCode::InvalidCode,
                        "The sign-in code from the URL was not accepted",
                    )),
                    Err(e) => self.emit(e),
                }
                self.start_up_check();
            }
        }
    }

    fn sign_in_failed(&mut self, origin: Origin, e: Error) {
        self.sign_in_done(origin, Err(e), None);
    }

    // ---- the refresh ----

    /// Joins the refresh in flight, or starts one.
    fn start_flight(&mut self, force: bool, caller: Option<Waiter>, start: Start) {
        if let Some(f) = &mut self.flight {
            f.waiters.extend(caller);
            // The first state waits for the flight it joins.
            f.start_up |= start == Start::Load;
            return;
        }
        self.flight = Some(Flight {
            force,
            attempt: 0,
            waiters: caller.into_iter().collect(),
            start: self.token().map(str::to_owned),
            held: None,
            epoch: self.epoch,
            start_up: start == Start::Load,
            backing_off: false,
            distinct: false,
            reread: start != Start::Renew,
        });
        self.attempt();
    }

    /// One attempt of the flight.
    fn attempt(&mut self) {
        let Some(f) = &self.flight else { return };
        let current = self.token().map(str::to_owned);
        // Another tab rotated while this one waited to retry: use its token.
        if f.attempt > 0 && current != f.start && self.fresh() {
            return self.finish_flight(current);
        }
        let force = f.force;
        // The server's clock had reached `iat` when the token was received: one second after
        // that, a new JWT differs, whatever the device clock says. Without this bound a device
        // clock behind the server's (by an offset not measured yet: a stored token) waited up to
        // that offset, an hour for a clock an hour slow.
        let distinct_at = self
            .session
            .as_ref()
            .map(|s| s.distinct_rotation_at_ms().min(s.received_ms + 1000.0));
        if let Some(f) = &mut self.flight {
            f.held.clone_from(&current);
        }
        // Forced: make sure the new JWT differs from the one the caller holds.
        if let Some(at) = distinct_at.filter(|at| force && *at > self.now) {
            if let Some(f) = &mut self.flight {
                f.distinct = true;
            }
            let ms = (at - self.now).min(MAX_TIMER_MS);
            self.commands.push(Command::SetTimer {
                timer: Timer::Distinct,
                ms,
            });
            return;
        }
        self.lock_and_rotate();
    }

    fn lock_and_rotate(&mut self) {
        if self.config.shared {
            let op = self.op(Then::FlightLock, None);
            self.commands.push(Command::Lock { op });
        } else {
            self.rotate();
        }
    }

    /// Under the lock (when shared): adopt another tab's token, or rotate.
    fn rotate(&mut self) {
        self.read(self.session_slots(), true, Then::FlightRead);
    }

    fn flight_read(&mut self, values: Stored) {
        // A sign-out is clearing the storage: whatever it holds is not this tab's any more.
        if self.signing_out > 0 {
            return self.attempt_done(Attempt::Stale);
        }
        // Another tab (or caller) may have rotated while this one waited: adopt its token. The
        // newer of the stored JWT and the hand-over copy wins (localStorage may lag).
        let held = self.flight.as_ref().and_then(|f| f.held.clone());
        let mut values = values;
        let user = values.take(Slot::UserId);
        let stored = self.parse(values.take(Slot::Jwt), user.as_ref());
        let copy = self.parse(values.copy.take(), user.as_ref());
        let refresh_token = values.take(Slot::RefreshToken);
        // Held for the fall-back to memory, also when another tab's token is adopted.
        self.refresh_token.clone_from(&refresh_token);
        if let Some(s) = adopt(stored.as_ref(), copy.as_ref(), held.as_deref(), self.now) {
            self.trace("refresh: adopting the token another tab stored");
            let session = s.clone();
            return self.attempt_done(Attempt::Token(session));
        }
        let renew = !self.flight.as_ref().is_some_and(|f| f.reread);
        let Some(exchange) = self.backend.refresh(refresh_token.as_deref(), renew) else {
            self.trace("refresh: no refresh token of this generation, signing out");
            return self.persist(None, None, None, Then::FlightCleared);
        };
        self.trace("refresh: request");
        // The answer is for the session of this refresh token: stale if the session starts or
        // ends from now on. (Taken when the attempt began, before the wait for the lock, a
        // sign-in during that wait made the answer for the new session look stale: its rotated
        // tokens were dropped and the waiting callers given the token the attempt replaces.)
        let epoch = self.epoch;
        if let Some(f) = &mut self.flight {
            f.epoch = epoch;
        }
        let refresh_token = refresh_token.unwrap_or_default();
        self.exchange(exchange, Then::FlightAnswer(refresh_token));
    }

    fn flight_answered(
        &mut self,
        refresh_token: String,
        answer: Result<(u16, Option<Json>), Error>,
    ) {
        // Signed out (or in again) meanwhile: this answer is for a session that is gone.
        if self.flight.as_ref().is_some_and(|f| f.epoch != self.epoch) {
            return self.attempt_done(Attempt::Stale);
        }
        let meaning = answer
            .and_then(|(status, body)| self.backend.refresh_answer(status, body, &refresh_token));
        match meaning {
            Ok(Refresh::Rotated(Tokens {
                token,
                refresh_token,
                user_id,
            })) => self.rotated(token, Some(refresh_token), user_id, true),
            Ok(Refresh::Ended) => {
                self.trace("refresh: session ended by the server");
                self.persist(None, None, None, Then::FlightCleared)
            }
            Ok(Refresh::Rejected) => {
                self.trace("refresh: refresh token rejected");
                self.persist(None, None, None, Then::FlightCleared)
            }
            Err(e) => self.attempt_done(Attempt::Transient(e)),
        }
    }

    /// A refresh brought `token` (minted for it: `measure` the clock's offset from it): it
    /// becomes the session once stored.
    fn rotated(
        &mut self,
        token: String,
        refresh_token: Option<String>,
        user_id: Option<String>,
        measure: bool,
    ) {
        let user_id = user_id.or_else(|| self.session.as_ref()?.user_id.clone());
        let f = self.flight.as_ref();
        let Some(session) = self.minted(token, user_id, measure) else {
            return self.attempt_done(Attempt::Transient(not_a_session()));
        };
        // A token source that gives back the token it was to replace, while due or to a forced
        // flight (it caches): taken, it would be asked again at once, forever. (A rotation with
        // a refresh token is taken even then: its new refresh token is the session's now.)
        let replaced = f.is_some_and(|f| f.held.as_deref() == Some(session.token.as_str()));
        let forced = f.is_some_and(|f| f.force);
        let reread = f.is_some_and(|f| f.reread);
        if refresh_token.is_none() && replaced && reread && !self.fresh() {
            // Looked up again, the source still has the token that is due here: it is asked for
            // a new one (forced) at once.
            if let Some(f) = &mut self.flight {
                f.reread = false;
            }
            return self.attempt();
        }
        if refresh_token.is_none() && replaced && (forced || !self.fresh()) {
            return self.attempt_done(Attempt::Transient(Error::new(
                ErrorCode::InvalidResponse,
                "The refresh gave back the token it was to replace",
            )));
        }
        self.persist(
            Some(&session),
            refresh_token,
            None,
            Then::FlightPersisted(session.clone()),
        );
    }

    /// The token source answered the call that `then` continues.
    fn source_answered(&mut self, then: Then, result: Result<Option<String>, Error>) {
        match then {
            Then::FlightAnswer(_)
                if self.flight.as_ref().is_some_and(|f| f.epoch != self.epoch) =>
            {
                self.attempt_done(Attempt::Stale)
            }
            Then::FlightAnswer(_) => match result {
                Ok(Some(token)) => {
                    // Asked unforced, the source may hand over a token it cached: the clock's
                    // offset is not measured from it.
                    let minted = self.flight.as_ref().is_some_and(|f| !f.reread);
                    self.rotated(token, None, None, minted)
                }
                Ok(None) => {
                    self.trace("refresh: the token source has no session");
                    self.persist(None, None, None, Then::FlightCleared)
                }
                Err(e) => self.attempt_done(Attempt::Transient(e)),
            },
            // The local sign-out is done, whatever the source's own did.
            Then::SignOutAnswer(caller) => self.settle(caller, Outcome::SignedOut),
            _ => {}
        }
    }

    fn attempt_done(&mut self, attempt: Attempt) {
        if let Some(op) = self.holding.take() {
            self.commands.push(Command::Release { op });
        }
        for e in core::mem::take(&mut self.held_errors) {
            self.emit(e);
        }
        let start_up = self.flight.as_ref().is_some_and(|f| f.start_up);
        match attempt {
            Attempt::Stale => {
                // The session started or ended meanwhile. Its token is the answer when it is
                // good; a token already due (the device slept since the sign-in) is refreshed in
                // turn, rather than handed out expired.
                if self.session.is_none() || self.fresh() {
                    let current = self.token().map(str::to_owned);
                    self.finish_flight(current);
                } else {
                    self.attempt();
                }
            }
            Attempt::Ended => {
                self.epoch = self.epoch.wrapping_add(1);
                self.set(None);
                self.finish_flight(None);
            }
            Attempt::Token(session) => {
                let token = session.token.clone();
                self.set(Some(session));
                self.finish_flight(Some(token));
            }
            Attempt::Transient(e) => {
                self.emit(e);
                let attempt = match &mut self.flight {
                    Some(f) => {
                        f.start_up = false;
                        f.backing_off = true;
                        f.attempt += 1;
                        f.attempt - 1
                    }
                    None => return,
                };
                let ms = backoff_ms(attempt, self.random());
                self.commands.push(Command::SetTimer {
                    timer: Timer::Backoff,
                    ms,
                });
                // At start-up one attempt is made before the first state; the retries go on.
                if start_up {
                    self.loaded();
                }
            }
        }
    }

    fn finish_flight(&mut self, token: Option<String>) {
        let Some(f) = self.flight.take() else { return };
        // A forced caller is never given back the token it held (the flight adopted that token
        // from another tab, or kept it): it waits for a forced flight of its own.
        let (again, settled): (Vec<Waiter>, Vec<Waiter>) = f
            .waiters
            .into_iter()
            .partition(|(_, avoid)| token.is_some() && *avoid == token);
        for (caller, _) in settled {
            self.settle(caller, Outcome::Token(token.clone()));
        }
        if f.start_up {
            self.loaded();
        }
        let mut again = again.into_iter();
        if let Some(first) = again.next() {
            self.start_flight(true, Some(first), Start::Renew);
            if let Some(f) = &mut self.flight {
                f.waiters.extend(again);
            }
        }
        // The token source changed while this flight was out: ask it again now (after the
        // forced flight just started, if any).
        if self.flight.is_none() {
            if let Some(waiters) = self.reread.take() {
                let mut waiters = waiters.into_iter();
                self.start_flight(false, waiters.next(), Start::Reread);
                if let Some(f) = &mut self.flight {
                    f.waiters.extend(waiters);
                }
            }
        }
    }

    fn wake_backoff(&mut self) {
        if let Some(f) = &mut self.flight {
            if f.backing_off {
                f.backing_off = false;
                self.commands.push(Command::ClearTimer(Timer::Backoff));
                self.attempt();
            }
        }
    }

    /// Refreshes if the token is due (timer, wake-up, focus); re-arms a timer that fired early.
    fn check_due(&mut self) {
        if self.loading || self.flight.is_some() || self.session.is_none() {
            return;
        }
        if self.fresh() {
            self.schedule();
        } else {
            self.start_flight(false, None, Start::Renew);
        }
    }

    fn timer_fired(&mut self, timer: Timer) {
        match timer {
            Timer::Users => self.wake_users(),
            Timer::Due => self.check_due(),
            Timer::Backoff => {
                if let Some(f) = &mut self.flight {
                    if f.backing_off {
                        f.backing_off = false;
                        self.attempt();
                    }
                }
            }
            Timer::Distinct => {
                if let Some(f) = &mut self.flight {
                    if f.distinct {
                        f.distinct = false;
                        self.lock_and_rotate();
                    }
                }
            }
        }
    }

    // ---- completions ----

    fn stored(&mut self, then: Then, mut values: Stored) {
        let user = values.take(Slot::UserId);
        match then {
            Then::StartUpJwt => {
                let jwt = values.take(Slot::Jwt);
                self.trace(if jwt.is_some() {
                    "init: stored session"
                } else {
                    "init: no stored session"
                });
                self.refresh_token = values.take(Slot::RefreshToken);
                let session = self.parse(jwt, user.as_ref());
                self.set(session);
                match self.backend.url_params() {
                    Some((code, error)) => {
                        let op = self.op(Then::StartUpCode, None);
                        self.commands.push(Command::TakeCode { op, code, error });
                    }
                    None => self.start_up_check(),
                }
            }
            Then::StartUpRefreshToken => {
                // A stored refresh token is refreshed (or, of another generation, cleared); a
                // backend that refreshes without one (a token source) is asked at once.
                let needs_none = self.backend.refresh(None, false).is_some();
                if values.get(Slot::RefreshToken).is_some() || needs_none {
                    self.trace("init: refreshing");
                    self.start_flight(false, None, Start::Load);
                } else {
                    self.loaded();
                }
            }
            Then::SignInKept(flow, kept) => self.kept_read(flow, kept, values),
            Then::SignOutRead(caller, mut leaving, lock) => {
                if let Some(refresh_token) = values.take(Slot::RefreshToken) {
                    leaving.refresh_token = Some(refresh_token);
                }
                self.clear_for_sign_out(caller, leaving, lock);
            }
            Then::FlightRead => {
                values.values.extend(user.map(|u| (Slot::UserId, u)));
                self.flight_read(values);
            }
            Then::Announced
                if self.signing_out == 0
                    && values.get(Slot::Jwt).map(String::as_str) != self.token() =>
            {
                self.trace("broadcast: following another tab");
                // Its refresh token too: a sign-out from this tab deletes the server session
                // with it (Convex Auth v2 signs out with the refresh token).
                self.refresh_token = values.take(Slot::RefreshToken);
                let session = self.parse(values.take(Slot::Jwt), user.as_ref());
                self.set(session);
            }
            _ => {}
        }
    }

    fn written(&mut self, then: Then) {
        let announce = self.config.announce && !self.failed;
        match then {
            Then::StartUpFlowCleared => self.start_up_check(),
            Then::SignInKeptTaken(flow) => self.send_sign_in(flow),
            Then::SignInPersisted(flow, session) => {
                if announce {
                    self.commands.push(Command::Announce);
                }
                self.set(Some(session));
                self.sign_in_done(flow.origin, Ok(true), None);
            }
            Then::SignInStarted(flow) => self.sign_in_done(flow.origin, Ok(false), None),
            Then::SignInRedirect(flow, url) => {
                if self.config.navigate {
                    self.commands.push(Command::Navigate(url.clone()));
                }
                self.sign_in_done(flow.origin, Ok(false), Some(url));
            }
            Then::SignOutCleared(caller, leaving, lock) => {
                if announce {
                    self.commands.push(Command::Announce);
                }
                self.set(None);
                self.signed_out(caller, leaving, lock);
            }
            Then::FlightPersisted(session) => {
                if announce {
                    self.commands.push(Command::Announce);
                }
                self.attempt_done(Attempt::Token(session));
            }
            Then::FlightCleared => {
                if announce {
                    self.commands.push(Command::Announce);
                }
                self.attempt_done(Attempt::Ended);
            }
            _ => {}
        }
    }

    fn answered(&mut self, then: Then, answer: Result<(u16, Option<Json>), Error>) {
        match then {
            Then::SignInAnswer(flow) => {
                let meaning = answer.and_then(|(status, body)| {
                    let provider = flow.provider.as_deref();
                    self.backend
                        .sign_in_answer(provider, &flow.params, status, body)
                });
                self.sign_in_answered(flow, meaning);
            }
            Then::FlightAnswer(refresh_token) => self.flight_answered(refresh_token, answer),
            Then::User(i, epoch) => self.user_answered(i, epoch, answer),
            // The local sign-out is done; the server may be unreachable or the token expired.
            Then::SignOutAnswer(caller) => self.settle(caller, Outcome::SignedOut),
            _ => {}
        }
    }

    /// A storage operation failed: the client goes on in memory, which holds what the machine
    /// knows (the JWT, the refresh token last read or written) with this operation's writes
    /// applied, and reports it once. The operation completes as it would have on that memory.
    fn storage_failed(&mut self, op: Op, message: String) {
        let Some(p) = self.take(op) else { return };
        let held = self.held_values();
        if !self.failed {
            self.failed = true;
            let mut values = held.clone();
            for (slot, value) in p.writes.iter().flatten() {
                match values.iter_mut().find(|(s, _)| s == slot) {
                    Some(entry) => entry.1.clone_from(value),
                    None => values.push((*slot, value.clone())),
                }
            }
            self.commands.push(Command::UseMemory { values });
            self.emit(Error::storage(message));
        }
        match p.writes {
            Some(_) => self.written(p.then),
            // What the memory holds of the session; no value kept for a later sign-in step
            // (what was written to the failing storage is not known to have been kept).
            None => {
                let values = held
                    .into_iter()
                    .filter_map(|(slot, value)| Some((slot, value?)))
                    .collect();
                self.stored(p.then, Stored { values, copy: None });
            }
        }
    }

    /// The session the machine holds, as the values of its slots.
    fn held_values(&self) -> Vec<(Slot, Option<String>)> {
        let mut values = vec![
            (Slot::Jwt, self.token().map(str::to_owned)),
            (Slot::RefreshToken, self.refresh_token.clone()),
        ];
        if self.backend.keeps_user_id() {
            values.push((Slot::UserId, self.session.as_ref().and_then(user_value)));
        }
        values
    }

    // ---- free ----

    fn free(&mut self) {
        self.freed = true;
        self.commands.push(Command::ClearTimer(Timer::Due));
        self.commands.push(Command::ClearTimer(Timer::Backoff));
        self.commands.push(Command::ClearTimer(Timer::Distinct));
        self.commands.push(Command::ClearTimer(Timer::Users));
        // The locks this tab holds: the refresh's, a sign-out's.
        if let Some(op) = self.holding.take() {
            self.commands.push(Command::Release { op });
        }
        for p in &self.pending {
            if let Then::SignOutRead(_, _, Some(op)) | Then::SignOutCleared(_, _, Some(op)) = p.then
            {
                self.commands.push(Command::Release { op });
            }
        }
        // Every caller still waiting is settled: nothing will answer them any more.
        self.flight = None;
        self.reread = None;
        self.queued.clear();
        self.pending.clear();
        for (caller, outcome) in core::mem::take(&mut self.open) {
            self.commands.push(Command::Settle { caller, outcome });
        }
    }
}

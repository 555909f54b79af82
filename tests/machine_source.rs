//! The session machine with a token source (`core::source`: an identity platform holds the
//! session) on a fake clock. A small executor of its own: the source's calls wait for the test
//! to answer them, storage is the memory the client keeps (a token source uses no storage),
//! timers fire when the test moves the clock past them.
#![cfg(not(target_arch = "wasm32"))]
// Tests fail loudly: unwrap and panics are the assertions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;

use convex_auth_wasm::core::json;
use convex_auth_wasm::core::machine::{
    Call, CallerId, Command, Config, Input, Machine, Op, Outcome, Request, Slot, SourceCall,
    Stored, Timer,
};
use convex_auth_wasm::core::source::TokenSource;
use convex_auth_wasm::{AuthEventKind, Error, ErrorCode};

/// A platform JWT (unsigned): `sub` as the platform writes it, seconds since the epoch.
fn platform_jwt(sub: &str, iat: i64, exp: i64) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b64 = |data: &[u8]| {
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    };
    let payload = format!(
        r#"{{"sub":"{sub}","iss":"https://clerk.example.com","aud":"convex","iat":{iat},"exp":{exp}}}"#
    );
    format!(
        "{}.{}.sig",
        b64(br#"{"alg":"RS256"}"#),
        b64(payload.as_bytes())
    )
}

const T0: f64 = 1_800_000_000_000.0;

/// One client over a token source, with the executor's state.
struct Client {
    m: Machine<TokenSource>,
    now: f64,
    memory: HashMap<&'static str, String>,
    timers: HashMap<&'static str, f64>,
    /// Source calls waiting for an answer, in order.
    calls: Vec<(Op, SourceCall)>,
    /// Every source call made.
    made: Vec<SourceCall>,
    events: Vec<(AuthEventKind, Option<ErrorCode>)>,
    /// Error messages of the error events.
    messages: Vec<String>,
    /// State notifications without an event.
    state_changes: usize,
    /// Every `Reauthenticate`.
    reauthenticated: Vec<u32>,
    /// Requests waiting for an answer, in order.
    requests: Vec<(Op, Request)>,
    /// Every `Watch`.
    watching: Vec<(u32, String)>,
    outcomes: HashMap<CallerId, Outcome>,
    next_caller: CallerId,
    after_free: usize,
}

impl Client {
    fn new(signs_out: bool) -> Client {
        Client::with(signs_out, None, None)
    }

    fn with(signs_out: bool, store_user: Option<&str>, current_user: Option<&str>) -> Client {
        let config = Config {
            shared: false,
            handover: false,
            announce: false,
            storage_error: None,
            navigate: false,
            verbose: false,
            seed: 7,
            store_user: store_user.map(str::to_owned),
            current_user: current_user.map(str::to_owned),
        };
        let mut c = Client {
            m: Machine::with_backend(TokenSource { signs_out }, config),
            now: T0,
            memory: HashMap::new(),
            timers: HashMap::new(),
            calls: Vec::new(),
            made: Vec::new(),
            events: Vec::new(),
            messages: Vec::new(),
            state_changes: 0,
            reauthenticated: Vec::new(),
            requests: Vec::new(),
            watching: Vec::new(),
            outcomes: HashMap::new(),
            next_caller: 0,
            after_free: 0,
        };
        c.feed(Input::Start);
        c
    }

    fn feed(&mut self, input: Input) {
        let freed = self.m.is_freed();
        self.m.handle(self.now, input);
        let commands = self.m.take_commands();
        if freed {
            self.after_free += commands.len();
        }
        for command in commands {
            self.run(command);
        }
    }

    fn run(&mut self, command: Command) {
        match command {
            Command::Read { op, slots, .. } => {
                let values = slots
                    .iter()
                    .filter_map(|s| Some((*s, self.memory.get(s.as_str())?.clone())))
                    .collect();
                let values = Stored { values, copy: None };
                self.feed(Input::Stored { op, values });
            }
            Command::Write { op, values, .. } => {
                for (slot, value) in values {
                    match value {
                        Some(v) => self.memory.insert(slot.as_str(), v),
                        None => self.memory.remove(slot.as_str()),
                    };
                }
                self.feed(Input::Written { op });
            }
            Command::Source { op, call } => {
                self.calls.push((op, call));
                self.made.push(call);
            }
            Command::SetTimer { timer, ms } => {
                self.timers.insert(timer.as_str(), self.now + ms);
            }
            Command::ClearTimer(timer) => {
                self.timers.remove(timer.as_str());
            }
            Command::Notify {
                event,
                error,
                state,
            } => {
                if let Some(e) = &error {
                    self.messages.push(e.message().to_owned());
                }
                if let Some(kind) = event {
                    self.events.push((kind, error.map(|e| e.code())));
                } else if state {
                    self.state_changes += 1;
                }
            }
            Command::Reauthenticate(id) => self.reauthenticated.push(id),
            Command::Watch { attachment, path } => self.watching.push((attachment, path)),
            Command::Settle { caller, outcome } => {
                assert!(
                    self.outcomes.insert(caller, outcome).is_none(),
                    "settled twice"
                );
            }
            Command::Request { op, request } => self.requests.push((op, request)),
            Command::TakeCode { .. }
            | Command::Ceremony { .. }
            | Command::Lock { .. }
            | Command::Release { .. }
            | Command::Navigate(_)
            | Command::UseMemory { .. }
            | Command::Announce => panic!("a token source client issued {command:?}"),
            Command::Trace(_) => {}
        }
    }

    fn call(&mut self, call: Call) -> CallerId {
        self.next_caller += 1;
        let caller = self.next_caller;
        self.feed(Input::Call { caller, call });
        caller
    }

    /// Answers the oldest waiting source call.
    fn answer(&mut self, result: Result<Option<String>, Error>) -> SourceCall {
        assert!(!self.calls.is_empty(), "no source call is waiting");
        let (op, call) = self.calls.remove(0);
        self.feed(Input::SourceAnswered { op, result });
        call
    }

    /// Answers the oldest waiting request with `status` and the JSON `body`; returns its path
    /// and whether it carried the current token.
    fn reply(&mut self, status: u16, body: &str) -> (String, bool) {
        assert!(!self.requests.is_empty(), "no request is waiting");
        let (op, request) = self.requests.remove(0);
        let bearer_current = request.bearer.as_deref() == self.m.token();
        let body = json::parse(body);
        self.feed(Input::Answered { op, status, body });
        (request.path, bearer_current)
    }

    /// Moves the clock to `at`, firing the timers due on the way, in order.
    fn advance_to(&mut self, at: f64) {
        loop {
            let next = self
                .timers
                .iter()
                .filter(|(_, t)| **t <= at)
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(n, t)| (*n, *t));
            let Some((name, t)) = next else { break };
            self.timers.remove(name);
            self.now = self.now.max(t);
            self.feed(Input::TimerFired(Timer::parse(name).unwrap()));
        }
        self.now = at;
    }

    fn token(&self) -> Option<String> {
        self.m.token().map(str::to_owned)
    }

    fn kinds(&self) -> Vec<AuthEventKind> {
        self.events.iter().map(|e| e.0).collect()
    }
}

fn secs(ms: f64) -> i64 {
    (ms / 1000.0) as i64
}

/// A client that asked its source at start-up and got a one-minute token for `sub`.
fn signed_in(sub: &str) -> (Client, String) {
    let mut c = Client::new(true);
    let token = platform_jwt(sub, secs(T0), secs(T0) + 60);
    assert_eq!(
        c.answer(Ok(Some(token.clone()))),
        SourceCall::Token { force: false }
    );
    (c, token)
}

#[test]
fn start_up_asks_the_source_unforced_and_takes_nothing_from_the_url_or_storage() {
    let (c, token) = signed_in("auth0|42");
    let state = c.m.state();
    assert!(!state.is_loading && state.is_authenticated);
    assert_eq!(state.token.as_deref(), Some(token.as_str()));
    // The platform's `sub` names the user whole; there is no Convex session id.
    assert_eq!(state.user_id.as_deref(), Some("auth0|42"));
    assert_eq!(state.session_id, None);
    assert_eq!(state.expires_at, Some((secs(T0) + 60) as f64 * 1000.0));
    assert_eq!(c.kinds(), [AuthEventKind::Initialized]);
    assert!(!c.memory.contains_key(Slot::RefreshToken.as_str()));
}

#[test]
fn start_up_with_no_platform_session_is_signed_out() {
    let mut c = Client::new(true);
    c.answer(Ok(None));
    let state = c.m.state();
    assert!(!state.is_loading && !state.is_authenticated);
    assert_eq!(c.kinds(), [AuthEventKind::Initialized]);
    assert!(c.timers.is_empty());
}

#[test]
fn the_due_refresh_forces_the_source_and_keeps_the_session_through_failures() {
    let (mut c, first) = signed_in("user_1");
    // Due a quarter of the lifetime before `exp`: 45 s in.
    c.advance_to(T0 + 44_000.0);
    assert!(c.calls.is_empty());
    c.advance_to(T0 + 45_000.0);
    assert_eq!(c.calls.len(), 1);
    // A rejection and a timeout are transient: an error event each, the session kept.
    c.answer(Err(Error::new(ErrorCode::Network, "clerk is unreachable")));
    assert_eq!(c.token(), Some(first.clone()));
    c.advance_to(c.timers["backoff"]);
    c.answer(Err(Error::new(
        ErrorCode::Timeout,
        "fetchToken did not settle",
    )));
    c.advance_to(c.timers["backoff"]);
    let second = platform_jwt("user_1", secs(c.now), secs(c.now) + 60);
    assert_eq!(
        c.answer(Ok(Some(second.clone()))),
        SourceCall::Token { force: true }
    );
    assert_eq!(c.token(), Some(second));
    assert_eq!(
        c.events,
        [
            (AuthEventKind::Initialized, None),
            (AuthEventKind::Error, Some(ErrorCode::Network)),
            (AuthEventKind::Error, Some(ErrorCode::Timeout)),
            (AuthEventKind::TokenRefreshed, None),
        ]
    );
}

#[test]
fn a_source_giving_back_the_due_token_is_retried_not_spun() {
    let (mut c, first) = signed_in("user_1");
    c.advance_to(T0 + 45_000.0);
    c.answer(Ok(Some(first.clone())));
    // Not taken (it would be due again at once): an error, then a retry after a backoff.
    assert_eq!(c.events.last().unwrap().1, Some(ErrorCode::InvalidResponse));
    assert!(c.calls.is_empty(), "asked again without waiting");
    assert!(c.timers.contains_key("backoff"));
    assert!(c.m.state().is_authenticated);
}

#[test]
fn only_a_null_from_the_source_signs_out() {
    let (mut c, _) = signed_in("user_1");
    c.advance_to(T0 + 45_000.0);
    c.answer(Err(Error::new(ErrorCode::Network, "offline")));
    assert!(c.m.state().is_authenticated);
    c.advance_to(c.timers["backoff"]);
    c.answer(Ok(None));
    assert!(!c.m.state().is_authenticated);
    assert_eq!(*c.kinds().last().unwrap(), AuthEventKind::SignedOut);
}

#[test]
fn something_not_a_jwt_from_the_source_is_a_transient_error() {
    let (mut c, first) = signed_in("user_1");
    let caller = c.call(Call::Token { force: true });
    // The forced call waits until a new JWT can differ from the held one (next second).
    c.advance_to(T0 + 1_000.0);
    c.answer(Ok(Some("not a jwt".into())));
    assert_eq!(c.token(), Some(first));
    assert_eq!(c.events.last().unwrap().1, Some(ErrorCode::InvalidResponse));
    assert!(!c.outcomes.contains_key(&caller));
}

#[test]
fn a_forced_caller_gets_a_new_token_from_a_forced_call() {
    let (mut c, first) = signed_in("user_1");
    let held = c.call(Call::Token { force: false });
    assert_eq!(c.outcomes[&held], Outcome::Token(Some(first.clone())));
    let forced = c.call(Call::Token { force: true });
    c.advance_to(T0 + 1_000.0);
    // A source that ignores `force` and hands back the cached token: never given to the caller.
    assert_eq!(
        c.answer(Ok(Some(first.clone()))),
        SourceCall::Token { force: true }
    );
    assert!(!c.outcomes.contains_key(&forced));
    c.advance_to(c.timers["backoff"]);
    let second = platform_jwt("user_1", secs(c.now), secs(c.now) + 60);
    c.answer(Ok(Some(second.clone())));
    assert_eq!(c.outcomes[&forced], Outcome::Token(Some(second)));
}

#[test]
fn a_change_is_looked_up_unforced_and_a_new_user_signs_in() {
    let (mut c, _) = signed_in("user_1");
    c.feed(Input::SourceChanged);
    let other = platform_jwt("user_2", secs(T0), secs(T0) + 60);
    assert_eq!(
        c.answer(Ok(Some(other))),
        SourceCall::Token { force: false }
    );
    assert_eq!(c.m.state().user_id.as_deref(), Some("user_2"));
    assert_eq!(*c.kinds().last().unwrap(), AuthEventKind::SignedIn);
    // The same token again: no event.
    let before = c.events.len();
    c.feed(Input::SourceChanged);
    let same = c.m.token().unwrap().to_owned();
    c.answer(Ok(Some(same)));
    assert_eq!(c.events.len(), before);
}

#[test]
fn a_change_during_a_call_asks_again_after_it() {
    let (mut c, _) = signed_in("user_1");
    c.advance_to(T0 + 45_000.0);
    // The platform signed out while the due refresh was out; its answer predates that.
    c.feed(Input::SourceChanged);
    let caller = c.call(Call::Changed);
    assert_eq!(c.calls.len(), 1);
    let late = platform_jwt("user_1", secs(c.now), secs(c.now) + 60);
    c.answer(Ok(Some(late)));
    assert!(!c.outcomes.contains_key(&caller));
    assert_eq!(c.answer(Ok(None)), SourceCall::Token { force: false });
    assert_eq!(c.outcomes[&caller], Outcome::Token(None));
    assert!(!c.m.state().is_authenticated);
}

#[test]
fn sign_out_clears_at_once_and_calls_the_source_sign_out() {
    let (mut c, _) = signed_in("user_1");
    let caller = c.call(Call::SignOut);
    assert!(!c.m.state().is_authenticated);
    assert!(!c.outcomes.contains_key(&caller));
    assert_eq!(c.answer(Ok(None)), SourceCall::SignOut);
    assert_eq!(c.outcomes[&caller], Outcome::SignedOut);
    // A failing platform sign-out still leaves this client signed out.
    let mut c = signed_in("user_1").0;
    let caller = c.call(Call::SignOut);
    c.answer(Err(Error::new(ErrorCode::Network, "offline")));
    assert_eq!(c.outcomes[&caller], Outcome::SignedOut);
    assert!(!c.m.state().is_authenticated);
    // A source without signOut: nothing to call.
    let mut c = Client::new(false);
    c.answer(Ok(Some(platform_jwt("user_1", secs(T0), secs(T0) + 60))));
    let caller = c.call(Call::SignOut);
    assert_eq!(c.outcomes[&caller], Outcome::SignedOut);
    assert!(c.calls.is_empty());
    // Signed out here, a later token request does not ask the source back in.
    let token = c.call(Call::Token { force: false });
    assert_eq!(c.outcomes[&token], Outcome::Token(None));
    assert!(c.calls.is_empty());
}

#[test]
fn a_refresh_answer_after_sign_out_is_dropped() {
    let (mut c, _) = signed_in("user_1");
    c.advance_to(T0 + 45_000.0);
    let out = c.call(Call::SignOut);
    let late = platform_jwt("user_1", secs(c.now), secs(c.now) + 60);
    c.answer(Ok(Some(late)));
    assert!(!c.m.state().is_authenticated);
    assert_eq!(c.answer(Ok(None)), SourceCall::SignOut);
    assert_eq!(c.outcomes[&out], Outcome::SignedOut);
}

#[test]
fn free_mid_call_settles_callers_and_stops() {
    let (mut c, _) = signed_in("user_1");
    let caller = c.call(Call::Changed);
    c.feed(Input::Free);
    assert_eq!(c.outcomes[&caller], Outcome::Token(None));
    let late = platform_jwt("user_2", secs(T0), secs(T0) + 60);
    c.answer(Ok(Some(late)));
    c.feed(Input::SourceChanged);
    assert_eq!(c.after_free, 0);
}

#[test]
fn attached_the_state_waits_for_the_backends_verdict() {
    let (mut c, _) = signed_in("user_1");
    c.feed(Input::Attached(1));
    let state = c.m.state();
    assert!(state.is_loading && !state.is_authenticated && state.token.is_some());
    assert_eq!(c.state_changes, 1);
    c.feed(Input::Verdict {
        attachment: 1,
        accepted: true,
    });
    let state = c.m.state();
    assert!(!state.is_loading && state.is_authenticated);
    assert_eq!(c.state_changes, 2);
    // Refreshes do not ask the reactive client again, nor unsettle the state.
    c.advance_to(T0 + 45_000.0);
    let next = platform_jwt("user_1", secs(c.now), secs(c.now) + 60);
    c.answer(Ok(Some(next)));
    assert!(c.m.state().is_authenticated);
    assert!(c.reauthenticated.is_empty());
    // Another user: the reactive client is given the fetcher again; until the backend accepts
    // the new token the state is loading.
    c.feed(Input::SourceChanged);
    c.answer(Ok(Some(platform_jwt(
        "user_2",
        secs(c.now),
        secs(c.now) + 60,
    ))));
    assert_eq!(c.reauthenticated, [1]);
    let state = c.m.state();
    assert!(state.is_loading && !state.is_authenticated);
    c.feed(Input::Verdict {
        attachment: 1,
        accepted: true,
    });
    assert!(c.m.state().is_authenticated);
    // Signed out: told again (it then drops its identity); its "false" is no error.
    let out = c.call(Call::SignOut);
    c.answer(Ok(None));
    assert_eq!(c.outcomes[&out], Outcome::SignedOut);
    assert_eq!(c.reauthenticated, [1, 1]);
    c.feed(Input::Verdict {
        attachment: 1,
        accepted: false,
    });
    assert!(c.events.iter().all(|e| e.1.is_none()));
    let state = c.m.state();
    assert!(!state.is_loading && !state.is_authenticated);
}

#[test]
fn a_rejected_token_is_an_error_naming_its_issuer_once() {
    let (mut c, _) = signed_in("user_1");
    c.feed(Input::Attached(1));
    c.feed(Input::Attached(2));
    c.feed(Input::Verdict {
        attachment: 1,
        accepted: false,
    });
    c.feed(Input::Verdict {
        attachment: 2,
        accepted: false,
    });
    let state = c.m.state();
    assert!(!state.is_loading && !state.is_authenticated);
    assert_eq!(
        *c.events.last().unwrap(),
        (AuthEventKind::Error, Some(ErrorCode::Unauthenticated))
    );
    assert_eq!(c.events.iter().filter(|e| e.1.is_some()).count(), 1);
    assert!(
        c.messages[0].contains("https://clerk.example.com"),
        "{}",
        c.messages[0]
    );
    // Detached: the state is the session's again.
    c.feed(Input::Detached(1));
    c.feed(Input::Detached(2));
    assert!(c.m.state().is_authenticated);
}

const SUCCESS_ID: &str = r#"{"status":"success","value":"k57user","logLines":[]}"#;
const SUCCESS_NULL: &str = r#"{"status":"success","value":null,"logLines":[]}"#;
const SUCCESS_USER: &str =
    r#"{"status":"success","value":{"_id":"k57user","name":"Mona"},"logLines":[]}"#;

#[test]
fn store_user_runs_once_per_identity_and_gates_the_state() {
    let mut c = Client::with(true, Some("users:store"), None);
    c.answer(Ok(Some(platform_jwt("user_1", secs(T0), secs(T0) + 60))));
    // Signed in at the platform, not yet stored: loading, not authenticated.
    let state = c.m.state();
    assert!(state.is_loading && !state.is_authenticated && state.stored_user_id.is_none());
    // A 503 is retried after a backoff, with an error event; the session is kept.
    assert_eq!(c.reply(503, "{}"), ("users:store".to_owned(), true));
    assert_eq!(c.events.last().unwrap().1, Some(ErrorCode::Server));
    assert!(c.requests.is_empty());
    c.advance_to(c.timers["users"]);
    c.reply(200, SUCCESS_ID);
    let state = c.m.state();
    assert!(!state.is_loading && state.is_authenticated);
    assert_eq!(
        state.stored_user_id.unwrap().string().as_deref(),
        Some("k57user")
    );
    // Refreshes do not run it again; another identity does.
    c.advance_to(T0 + 45_000.0);
    c.answer(Ok(Some(platform_jwt(
        "user_1",
        secs(c.now),
        secs(c.now) + 60,
    ))));
    assert!(c.requests.is_empty());
    c.feed(Input::SourceChanged);
    c.answer(Ok(Some(platform_jwt(
        "user_2",
        secs(c.now),
        secs(c.now) + 60,
    ))));
    assert_eq!(c.requests.len(), 1);
    assert!(c.m.state().is_loading);
}

#[test]
fn a_definitive_store_failure_ends_loading_unauthenticated() {
    let mut c = Client::with(true, Some("users:store"), None);
    c.answer(Ok(Some(platform_jwt("user_1", secs(T0), secs(T0) + 60))));
    let body = r#"{"status":"error","errorMessage":"Uncaught ConvexError: no","errorData":{"code":"BANNED"},"logLines":[]}"#;
    c.reply(560, body);
    let state = c.m.state();
    assert!(!state.is_loading && !state.is_authenticated && state.token.is_some());
    assert_eq!(
        c.events.last().unwrap(),
        &(AuthEventKind::Error, Some(ErrorCode::ConvexError))
    );
    assert!(c.requests.is_empty() && !c.timers.contains_key("users"));
}

#[test]
fn current_user_is_asked_until_not_null_and_sign_out_clears_it() {
    let mut c = Client::with(true, Some("users:store"), Some("users:current"));
    c.answer(Ok(Some(platform_jwt("user_1", secs(T0), secs(T0) + 60))));
    assert_eq!(c.reply(200, SUCCESS_ID).0, "users:store");
    // The webhook has not landed: null, asked again after a backoff, no error.
    assert_eq!(c.reply(200, SUCCESS_NULL).0, "users:current");
    assert!(c.m.state().is_loading);
    assert!(c.events.iter().all(|e| e.1.is_none()));
    c.advance_to(c.timers["users"]);
    c.reply(200, SUCCESS_USER);
    let state = c.m.state();
    assert!(state.is_authenticated && !state.is_loading);
    assert_eq!(
        state.user.unwrap().get("name").unwrap().string().as_deref(),
        Some("Mona")
    );
    let out = c.call(Call::SignOut);
    c.answer(Ok(None));
    assert_eq!(c.outcomes[&out], Outcome::SignedOut);
    let state = c.m.state();
    assert!(state.user.is_none() && state.stored_user_id.is_none() && !state.is_loading);
}

#[test]
fn an_answer_for_an_earlier_identity_is_dropped() {
    let mut c = Client::with(true, None, Some("users:current"));
    c.answer(Ok(Some(platform_jwt("user_1", secs(T0), secs(T0) + 60))));
    c.feed(Input::SourceChanged);
    c.answer(Ok(Some(platform_jwt("user_2", secs(T0), secs(T0) + 60))));
    // user_1's answer arrives late: not user_2's.
    c.reply(200, SUCCESS_USER);
    assert!(c.m.state().user.is_none() && c.m.state().is_loading);
    c.reply(200, SUCCESS_USER);
    assert!(c.m.state().is_authenticated);
}

#[test]
fn signed_in_is_told_once_the_user_is_stored() {
    let mut c = Client::with(true, Some("users:store"), None);
    c.answer(Ok(None));
    c.feed(Input::SourceChanged);
    c.answer(Ok(Some(platform_jwt("user_1", secs(T0), secs(T0) + 60))));
    // The session is there, the user not stored yet: no `signedIn` so far.
    assert_eq!(c.kinds(), [AuthEventKind::Initialized]);
    assert!(c.m.state().is_loading);
    // A refresh meanwhile does not lose it.
    c.advance_to(T0 + 45_000.0);
    c.answer(Ok(Some(platform_jwt(
        "user_1",
        secs(c.now),
        secs(c.now) + 60,
    ))));
    assert_eq!(c.reply(200, SUCCESS_ID).0, "users:store");
    assert_eq!(
        c.kinds(),
        [
            AuthEventKind::Initialized,
            AuthEventKind::TokenRefreshed,
            AuthEventKind::SignedIn
        ]
    );
    assert!(c.m.state().is_authenticated);
}

#[test]
fn current_user_follows_the_reactive_client_live_once_its_backend_accepted_the_session() {
    let mut c = Client::with(true, None, Some("users:current"));
    c.answer(Ok(Some(platform_jwt("user_1", secs(T0), secs(T0) + 60))));
    c.feed(Input::Attached(1));
    assert_eq!(c.watching, [(1, "users:current".to_owned())]);
    let user = |name: &str| json::parse(&format!(r#"{{"_id":"k57","name":"{name}"}}"#)).unwrap();
    // Before the backend accepted this session's token, a value may be another identity's.
    c.feed(Input::Watched {
        attachment: 1,
        value: user("Someone else"),
    });
    assert!(c.m.state().user.is_none());
    c.feed(Input::Verdict {
        attachment: 1,
        accepted: true,
    });
    c.reply(200, SUCCESS_USER);
    assert!(c.m.state().is_authenticated);
    // Renamed by a webhook: the new document, the session unchanged.
    let changes = c.state_changes;
    c.feed(Input::Watched {
        attachment: 1,
        value: user("Mona Lisa"),
    });
    let state = c.m.state();
    assert_eq!(
        state.user.unwrap().get("name").unwrap().string().as_deref(),
        Some("Mona Lisa")
    );
    assert!(state.is_authenticated);
    assert_eq!(c.state_changes, changes + 1);
    // Deleted: not signed in any more, and asked for again until it is back.
    c.feed(Input::Watched {
        attachment: 1,
        value: json::parse("null").unwrap(),
    });
    let state = c.m.state();
    assert!(state.is_loading && !state.is_authenticated && state.user.is_none());
    assert_eq!(c.requests.len(), 1);
    c.reply(200, SUCCESS_NULL);
    c.feed(Input::Watched {
        attachment: 1,
        value: user("Back"),
    });
    assert!(c.m.state().is_authenticated);
    // The poll's timer finds the user there: no request.
    c.advance_to(c.timers["users"]);
    assert!(c.requests.is_empty());
}

#[test]
fn a_change_reported_while_loading_leaves_the_start_up_to_ask() {
    // A source that reports its state as soon as it is subscribed to (Clerk's addListener).
    let config = Config {
        shared: false,
        handover: false,
        ..Config::local_storage()
    };
    let mut m = Machine::with_backend(TokenSource { signs_out: false }, config);
    m.handle(T0, Input::SourceChanged);
    m.handle(T0, Input::Start);
    let mut asked = 0;
    let mut commands = m.take_commands();
    // The start-up reads its (empty) memory, asks the source once, keeps the token in memory.
    while let Some(command) = commands.pop() {
        match command {
            Command::Read { op, .. } => m.handle(
                T0,
                Input::Stored {
                    op,
                    values: Stored::default(),
                },
            ),
            Command::Write { op, .. } => m.handle(T0, Input::Written { op }),
            Command::Source { op, .. } => {
                asked += 1;
                let token = platform_jwt("user_1", secs(T0), secs(T0) + 60);
                m.handle(
                    T0,
                    Input::SourceAnswered {
                        op,
                        result: Ok(Some(token)),
                    },
                );
            }
            _ => {}
        }
        commands.extend(m.take_commands());
    }
    assert_eq!(asked, 1);
    assert!(!m.is_loading() && m.state().is_authenticated);
}

#[test]
fn a_look_up_that_finds_the_due_token_asks_again_forced() {
    let (mut c, first) = signed_in("user_1");
    // Past the refresh point, but before the due timer fired: the platform reports a change.
    c.now = T0 + 46_000.0;
    c.feed(Input::SourceChanged);
    assert_eq!(
        c.answer(Ok(Some(first))),
        SourceCall::Token { force: false }
    );
    // No error: asked again at once, forced.
    assert!(c.events.iter().all(|e| e.1.is_none()));
    let fresh = platform_jwt("user_1", secs(c.now), secs(c.now) + 60);
    assert_eq!(
        c.answer(Ok(Some(fresh.clone()))),
        SourceCall::Token { force: true }
    );
    assert_eq!(c.token(), Some(fresh));
}

#[test]
fn ready_and_initialized_wait_for_the_gates_while_tokens_are_handed_out() {
    let mut c = Client::with(true, Some("users:store"), None);
    let ready = c.call(Call::Ready);
    let token = platform_jwt("user_1", secs(T0), secs(T0) + 60);
    c.answer(Ok(Some(token.clone())));
    // The session is known, the user not stored yet: not ready, no `initialized`, but the
    // token is handed out (an attached reactive client asks for it to get its verdict).
    assert!(!c.outcomes.contains_key(&ready));
    assert!(c.kinds().is_empty());
    let asked = c.call(Call::Token { force: false });
    assert_eq!(c.outcomes[&asked], Outcome::Token(Some(token)));
    // A transient failure keeps waiting; the user stored: the first state, then ready.
    c.reply(503, "{}");
    assert!(!c.outcomes.contains_key(&ready));
    c.advance_to(c.timers["users"]);
    c.reply(200, SUCCESS_ID);
    assert_eq!(c.outcomes[&ready], Outcome::Ready);
    assert_eq!(
        c.kinds(),
        [AuthEventKind::Error, AuthEventKind::Initialized]
    );
    assert!(c.m.state().is_authenticated);
    // Later calls of ready() settle at once.
    let again = c.call(Call::Ready);
    assert_eq!(c.outcomes[&again], Outcome::Ready);
}

#[test]
fn a_definitive_gate_failure_is_the_first_state_then_its_error() {
    let mut c = Client::with(true, Some("users:store"), None);
    let ready = c.call(Call::Ready);
    c.answer(Ok(Some(platform_jwt("user_1", secs(T0), secs(T0) + 60))));
    c.reply(
        560,
        r#"{"status":"error","errorMessage":"no","errorData":{"code":"BANNED"},"logLines":[]}"#,
    );
    assert_eq!(c.outcomes[&ready], Outcome::Ready);
    assert_eq!(
        c.kinds(),
        [AuthEventKind::Initialized, AuthEventKind::Error]
    );
    let state = c.m.state();
    assert!(!state.is_loading && !state.is_authenticated);
}

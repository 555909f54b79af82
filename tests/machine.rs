//! Deterministic simulations of the session machine (`core::machine`) with the Convex Auth v1
//! backend on a fake clock, in the simulated browser of `tests/sim` (tabs, shared storage and
//! its events, the Web Lock, timers, skewed clocks, a faulty network), against a fake Convex
//! Auth v1 server that mints JWTs with its own clock and rotates refresh tokens as
//! `@convex-dev/auth` 0.0.x does (a reused parent of the active token is answered with the
//! active child; another reuse within 10 s mints a sibling; later reuse ends the session).
//!
//! `SIM_SEED=<n> SIM_TRACE=1 cargo test --test machine random -- --nocapture` replays one world
//! of the property test with a trace; `SIM_WORLDS=<n>` runs more (or fewer) than 2,000.
#![cfg(not(target_arch = "wasm32"))]
// Tests fail loudly: unwrap and panics are the assertions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod sim;

use std::collections::HashMap;

use convex_auth_wasm::core::jwt;
use convex_auth_wasm::core::machine::{
    Backend, Call, Config, ConvexAuthV1, Input, Outcome, Request, SignInOutcome, Timer,
    REQUEST_TIMEOUT_MS,
};
use convex_auth_wasm::{AuthEventKind, Error, ErrorCode};
use sim::{b64url, claims, session_of, Ev, Fault, Kind, Map, Served, SimServer, HOUR};

/// The simulated browser with a Convex Auth v1 deployment.
type World = sim::World<Server>;

/// A world of `n` tabs of `kind` with a fresh stored session, all started and loaded.
fn tabs_with_session(seed: u64, kind: Kind, n: usize) -> World {
    sim::tabs_with_session(seed, kind, n)
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// An unsigned Convex Auth JWT. Like the real server's, two JWTs of one session minted in the
/// same second are byte-identical.
fn make_jwt(user: &str, session: usize, iat: i64, exp: i64) -> String {
    let payload = format!(r#"{{"sub":"{user}|s{session}","iat":{iat},"exp":{exp}}}"#);
    format!(
        "{}.{}.sig",
        b64url(br#"{"alg":"none"}"#),
        b64url(payload.as_bytes())
    )
}

fn tokens_body(token: &str, refresh_token: &str) -> String {
    format!(
        r#"{{"status":"success","value":{{"tokens":{{"token":"{token}","refreshToken":"{refresh_token}"}}}}}}"#
    )
}

const NULL_TOKENS: &str = r#"{"status":"success","value":{"tokens":null}}"#;
/// The definitive rejection of a refresh token: a plain function error, which
/// `protocol::ends_session` reads as `FunctionError`.
const INVALID_REFRESH_TOKEN: &str =
    r#"{"status":"error","errorMessage":"Uncaught Error: Invalid refresh token"}"#;

// ---------------------------------------------------------------------------------------------
// The fake server
// ---------------------------------------------------------------------------------------------

const REUSE_WINDOW_MS: f64 = 10_000.0;

struct SessionRec {
    user: String,
    alive: bool,
    /// The newest refresh token (the active one).
    active: String,
}

struct RtRec {
    session: usize,
    parent: Option<String>,
    used_at: Option<f64>,
    /// When the JWT minted with this token is due for a refresh (server time): using the
    /// token before that is a second rotation within one token lifetime.
    due_ms: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    requests: u64,
    refreshes: u64,
    /// Refresh tokens consumed (a new child minted): the rotations.
    rotations: u64,
    /// A used parent of the active token answered with the active child (a lost answer
    /// recovered, or two tabs racing without the lock).
    recoveries: u64,
    /// A used token within the reuse window: a second child (a double rotation).
    reuse_mints: u64,
    /// A used token outside the window: the session is ended (`tokens: null`).
    reuse_detected: u64,
    /// Unknown or deleted refresh token: `Invalid refresh token`.
    unknown: u64,
    sign_ins: u64,
    exchanges: u64,
    sign_outs: u64,
}

/// What a password (or OAuth) sign-in is answered with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reply {
    Tokens,
    Started,
    Redirect,
    Error(&'static str),
}

struct Server {
    sessions: Vec<SessionRec>,
    rts: HashMap<String, RtRec>,
    next_rt: u64,
    lifetime_s: i64,
    stats: Stats,
    reply: Reply,
    /// URL codes the server accepts, with the verifier each needs.
    codes: HashMap<String, Option<String>>,
    next_verifier: u64,
    /// The verifier of every code exchange, as sent.
    exchange_verifiers: Vec<Option<String>>,
    /// Server time of every rotation.
    rotation_times: Vec<f64>,
}

impl Default for Server {
    fn default() -> Server {
        Server::new()
    }
}

impl SimServer for Server {
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(ConvexAuthV1)
    }
    fn serve(&mut self, request: &Request, now: f64) -> (u16, String, Served) {
        Server::serve(self, request, now)
    }
    fn is_refresh(&self, request: &Request) -> bool {
        request.path == "auth:signIn" && request.args.get("refreshToken").is_some()
    }
    fn create_session(&mut self, user: &str, now: f64) -> (String, String) {
        Server::create_session(self, user, now)
    }
    fn kept_beside(&self, _token: &str) -> Option<(&'static str, String)> {
        None
    }
    fn revoke(&mut self, s: usize) {
        Server::revoke(self, s);
    }
    fn set_lifetime_s(&mut self, seconds: i64) {
        self.lifetime_s = seconds;
    }
    fn excuses_definitive(&self) -> bool {
        self.stats.reuse_mints > 0
    }
    fn rotations(&self) -> u64 {
        self.stats.rotations
    }
    fn recoveries(&self) -> u64 {
        self.stats.recoveries
    }
}

impl Server {
    fn new() -> Server {
        Server {
            sessions: Vec::new(),
            rts: HashMap::new(),
            next_rt: 0,
            lifetime_s: 3600,
            stats: Stats::default(),
            reply: Reply::Tokens,
            codes: HashMap::new(),
            next_verifier: 0,
            exchange_verifiers: Vec::new(),
            rotation_times: Vec::new(),
        }
    }

    fn mint(&self, s: usize, now: f64) -> String {
        let iat = (now / 1000.0).floor() as i64;
        make_jwt(&self.sessions[s].user, s, iat, iat + self.lifetime_s)
    }

    fn new_rt(&mut self, s: usize, parent: Option<String>, now: f64) -> String {
        self.next_rt += 1;
        let rt = format!("rt{}|s{s}", self.next_rt);
        let exp_ms = ((now / 1000.0).floor() as i64 + self.lifetime_s) as f64 * 1000.0;
        let leeway_ms = ((self.lifetime_s * 1000) / 4).min(60_000) as f64;
        self.rts.insert(
            rt.clone(),
            RtRec {
                session: s,
                parent,
                used_at: None,
                due_ms: exp_ms - leeway_ms,
            },
        );
        self.sessions[s].active = rt.clone();
        rt
    }

    fn create_session(&mut self, user: &str, now: f64) -> (String, String) {
        let s = self.sessions.len();
        self.sessions.push(SessionRec {
            user: user.to_owned(),
            alive: true,
            active: String::new(),
        });
        let rt = self.new_rt(s, None, now);
        (self.mint(s, now), rt)
    }

    /// `@convex-dev/auth` 0.0.95 `refreshSession` (PROTOCOL.md §3.5), except that an unknown
    /// token is a definitive function error rather than `tokens: null` (both end the session).
    fn refresh(&mut self, rt: &str, now: f64) -> (String, Served) {
        self.stats.refreshes += 1;
        let Some(rec) = self.rts.get(rt) else {
            self.stats.unknown += 1;
            return (INVALID_REFRESH_TOKEN.to_owned(), Served::Definitive);
        };
        let s = rec.session;
        if !self.sessions[s].alive {
            self.stats.unknown += 1;
            return (INVALID_REFRESH_TOKEN.to_owned(), Served::Definitive);
        }
        let early = now < rec.due_ms;
        let active = self.sessions[s].active.clone();
        let is_parent_of_active = self
            .rts
            .get(&active)
            .is_some_and(|a| a.parent.as_deref() == Some(rt));
        match rec.used_at {
            None => {
                self.rts.get_mut(rt).unwrap().used_at = Some(now);
                let child = self.new_rt(s, Some(rt.to_owned()), now);
                self.stats.rotations += 1;
                self.rotation_times.push(now);
                let token = self.mint(s, now);
                (
                    tokens_body(&token, &child),
                    Served::Rotation { session: s, early },
                )
            }
            Some(_) if is_parent_of_active => {
                self.stats.recoveries += 1;
                let token = self.mint(s, now);
                (tokens_body(&token, &active), Served::Other)
            }
            Some(at) if now - at < REUSE_WINDOW_MS => {
                let child = self.new_rt(s, Some(rt.to_owned()), now);
                self.stats.rotations += 1;
                self.stats.reuse_mints += 1;
                self.rotation_times.push(now);
                let token = self.mint(s, now);
                // A second child of one token: a double rotation whatever the time.
                (
                    tokens_body(&token, &child),
                    Served::Rotation {
                        session: s,
                        early: true,
                    },
                )
            }
            Some(_) => {
                self.stats.reuse_detected += 1;
                self.sessions[s].alive = false;
                (NULL_TOKENS.to_owned(), Served::Definitive)
            }
        }
    }

    /// Ends a session server-side: its refresh tokens become unknown.
    fn revoke(&mut self, s: usize) {
        self.sessions[s].alive = false;
    }

    fn serve(&mut self, request: &Request, now: f64) -> (u16, String, Served) {
        self.stats.requests += 1;
        let arg = |k: &str| request.args.get(k).and_then(|v| v.string());
        let params = request.args.get("params").unwrap_or_default();
        let param = |k: &str| params.get(k).and_then(|v| v.string());
        let verifier = arg("verifier");
        match request.path.as_str() {
            "auth:signOut" => {
                self.stats.sign_outs += 1;
                let bearer = request.bearer.as_deref().and_then(jwt::decode);
                match bearer {
                    Some(c) if (c.exp as f64) * 1000.0 > now => {
                        let s = session_of(request.bearer.as_deref().unwrap_or_default());
                        self.revoke(s);
                        (
                            200,
                            r#"{"status":"success","value":null}"#.into(),
                            Served::Other,
                        )
                    }
                    _ => (
                        401,
                        r#"{"code":"Unauthenticated","message":"Token expired"}"#.into(),
                        Served::Other,
                    ),
                }
            }
            "auth:signIn" => {
                if let Some(rt) = arg("refreshToken") {
                    let (body, served) = self.refresh(&rt, now);
                    let status = if body.contains(r#""status":"error""#) {
                        560
                    } else {
                        200
                    };
                    return (status, body, served);
                }
                if arg("provider").is_none() {
                    self.stats.exchanges += 1;
                    self.exchange_verifiers.push(verifier.clone());
                    let code = param("code").unwrap_or_default();
                    return match self.codes.get(&code) {
                        Some(v) if *v == verifier => {
                            self.codes.remove(&code);
                            let (token, rt) = self.create_session("u1", now);
                            (200, tokens_body(&token, &rt), Served::Other)
                        }
                        _ => (200, NULL_TOKENS.into(), Served::Other),
                    };
                }
                self.stats.sign_ins += 1;
                let user = param("email")
                    .map(|e| e.split('@').next().unwrap_or("u1").to_owned())
                    .unwrap_or_else(|| "u1".into());
                match self.reply {
                    Reply::Tokens => {
                        let (token, rt) = self.create_session(&user, now);
                        (200, tokens_body(&token, &rt), Served::Other)
                    }
                    Reply::Started => (
                        200,
                        r#"{"status":"success","value":{"started":true}}"#.into(),
                        Served::Other,
                    ),
                    Reply::Redirect => {
                        self.next_verifier += 1;
                        let v = format!("ver{}", self.next_verifier);
                        let body = format!(
                            r#"{{"status":"success","value":{{"redirect":"https://dep.example/api/auth/signin/github?code={v}","verifier":"{v}"}}}}"#
                        );
                        (200, body, Served::Other)
                    }
                    Reply::Error(m) => (
                        560,
                        format!(r#"{{"status":"error","errorMessage":"Uncaught Error: {m}"}}"#),
                        Served::Other,
                    ),
                }
            }
            _ => (404, String::new(), Served::Other),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Start-up
// ---------------------------------------------------------------------------------------------

#[test]
fn start_up_without_a_session() {
    let mut w = World::new(1);
    let t = w.open(Kind::Local, 0.0);
    let ready = w.call(t, Call::Ready);
    assert!(w.state(t).is_loading);
    w.run_for(1_000.0);
    assert_eq!(w.outcome(ready), Some(Outcome::Ready));
    let s = w.state(t);
    assert!(!s.is_loading && !s.is_authenticated);
    assert_eq!(w.tabs[t].event_kinds(), [AuthEventKind::Initialized]);
    assert_eq!(w.server.stats.requests, 0);
    // A token call gets nothing, at once.
    let c = w.call(t, Call::Token { force: false });
    assert_eq!(w.outcome(c), Some(Outcome::Token(None)));
    let c = w.call(t, Call::Token { force: true });
    assert_eq!(w.outcome(c), Some(Outcome::Token(None)));
}

#[test]
fn start_up_with_a_fresh_stored_session_sends_nothing() {
    let mut w = World::new(2);
    let (token, _) = w.store_session(600_000.0);
    let t = w.open(Kind::Local, 0.0);
    let ready = w.call(t, Call::Ready);
    let c = w.call(t, Call::Token { force: false });
    w.run_for(1_000.0);
    assert_eq!(w.outcome(ready), Some(Outcome::Ready));
    assert_eq!(w.token_outcome(c), Some(token.clone()));
    assert_eq!(w.token(t), Some(token));
    assert_eq!(w.tabs[t].event_kinds(), [AuthEventKind::Initialized]);
    assert!(w.tabs[t].events[0].2.is_authenticated);
    assert_eq!(w.server.stats.requests, 0, "no request at all");
}

#[test]
fn start_up_with_a_due_stored_session_refreshes_before_initialized() {
    let mut w = World::new(3);
    // 59.5 minutes old: inside the last minute of its hour.
    let (old, _) = w.store_session(3_570_000.0);
    let t = w.open(Kind::Local, 0.0);
    let c = w.call(t, Call::Token { force: false });
    w.run_for(2_000.0);
    assert_eq!(w.server.stats.rotations, 1);
    assert_eq!(w.server.stats.requests, 1);
    let new = w.token(t).expect("signed in");
    assert_ne!(new, old);
    assert_eq!(w.token_outcome(c), Some(new.clone()));
    // One event: initialized, already with the new token (no tokenRefreshed before it).
    assert_eq!(w.tabs[t].event_kinds(), [AuthEventKind::Initialized]);
    assert_eq!(w.tabs[t].events[0].2.token.as_deref(), Some(new.as_str()));
    assert_eq!(w.shared.get("jwt"), Some(&new));
}

#[test]
fn start_up_with_a_refresh_token_but_no_usable_jwt() {
    for jwt in [None, Some("garbage"), Some("a.b.c")] {
        let mut w = World::new(4);
        // A refresh token minted a moment ago: replacing it is no double rotation here.
        w.check_double = false;
        w.store_session(0.0);
        match jwt {
            Some(j) => w.shared.insert("jwt", j.into()),
            None => w.shared.remove("jwt"),
        };
        let t = w.open(Kind::Local, 0.0);
        w.run_for(2_000.0);
        assert_eq!(w.server.stats.rotations, 1, "{jwt:?}");
        let s = w.state(t);
        assert!(s.is_authenticated && !s.is_loading, "{jwt:?}");
        assert_eq!(w.tabs[t].event_kinds(), [AuthEventKind::Initialized]);
        assert!(w.tabs[t].events[0].2.is_authenticated);
        assert_eq!(
            w.shared.get("jwt").map(String::as_str),
            w.token(t).as_deref()
        );
    }
}

#[test]
fn start_up_with_a_revoked_refresh_token_signs_out() {
    let mut w = World::new(5);
    w.store_session(3_590_000.0);
    w.server.revoke(0);
    w.allow_signout = true;
    let t = w.open(Kind::Local, 0.0);
    w.run_for(2_000.0);
    let s = w.state(t);
    assert!(!s.is_authenticated && !s.is_loading);
    assert_eq!(w.tabs[t].event_kinds(), [AuthEventKind::Initialized]);
    assert!(!w.shared.contains_key("jwt") && !w.shared.contains_key("rt"));
}

// ---------------------------------------------------------------------------------------------
// 2. Sign-in
// ---------------------------------------------------------------------------------------------

#[test]
fn password_sign_in_stores_jwt_then_refresh_token() {
    let mut w = World::new(10);
    let t = w.open(Kind::Local, 0.0);
    w.run_for(100.0);
    let c = w.sign_in(t);
    w.run_for(1_000.0);
    assert_eq!(
        w.outcome(c),
        Some(Outcome::SignIn(Ok(SignInOutcome {
            signing_in: true,
            redirect: None
        })))
    );
    let s = w.state(t);
    assert!(s.is_authenticated);
    assert_eq!(s.user_id.as_deref(), Some("u1"));
    let token = w.token(t).unwrap();
    let keys: Vec<_> = w.writes.iter().map(|(_, k, _)| *k).collect();
    assert_eq!(keys, ["jwt", "rt"]);
    assert_eq!(w.writes[0].2.as_deref(), Some(token.as_str()));
    assert_eq!(w.shared.get("rt").map(String::as_str), Some("rt1|s0"));
    assert_eq!(
        w.tabs[t].event_kinds(),
        [AuthEventKind::Initialized, AuthEventKind::SignedIn]
    );
}

#[test]
fn sign_in_answered_started_changes_nothing() {
    let mut w = World::new(11);
    w.server.reply = Reply::Started;
    let t = w.open(Kind::Local, 0.0);
    let c = w.sign_in(t);
    w.run_for(1_000.0);
    assert_eq!(
        w.outcome(c),
        Some(Outcome::SignIn(Ok(SignInOutcome {
            signing_in: false,
            redirect: None
        })))
    );
    assert!(!w.state(t).is_authenticated);
    assert!(!w.shared.contains_key("jwt") && !w.shared.contains_key("rt"));
    assert_eq!(w.tabs[t].event_kinds(), [AuthEventKind::Initialized]);
}

#[test]
fn sign_in_rejected_reports_the_error_and_keeps_the_session() {
    let mut w = tabs_with_session(12, Kind::Local, 1);
    let before = w.token(0);
    w.server.reply = Reply::Error("InvalidSecret");
    let c = w.sign_in(0);
    w.run_for(1_000.0);
    match w.outcome(c) {
        Some(Outcome::SignIn(Err(e))) => assert_eq!(e.code(), ErrorCode::InvalidSecret),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.token(0), before);
}

#[test]
fn oauth_redirect_then_code_exchange_at_start_up() {
    let mut w = World::new(13);
    w.server.reply = Reply::Redirect;
    let t = w.open(Kind::Local, 0.0);
    w.run_for(100.0);
    let c = w.call(
        t,
        Call::SignIn {
            provider: Some("github".into()),
            params: vec![],
            page_url: None,
        },
    );
    w.run_for(1_000.0);
    let url = "https://dep.example/api/auth/signin/github?code=ver1".to_owned();
    assert_eq!(
        w.outcome(c),
        Some(Outcome::SignIn(Ok(SignInOutcome {
            signing_in: false,
            redirect: Some(url.clone())
        })))
    );
    assert_eq!(w.tabs[t].navigations, [url]);
    assert_eq!(w.shared.get("verifier").map(String::as_str), Some("ver1"));
    assert!(!w.state(t).is_authenticated);

    // The provider sends the browser back with ?code=: a new page load.
    w.free(t);
    w.server
        .codes
        .insert("12345678".into(), Some("ver1".into()));
    let t = w.add_tab(Kind::Local, 0.0);
    w.tabs[t].code = Some("12345678".into());
    w.feed(t, Input::Start);
    let ready = w.call(t, Call::Ready);
    w.run_for(2_000.0);
    assert_eq!(w.outcome(ready), Some(Outcome::Ready));
    assert_eq!(w.server.exchange_verifiers, [Some("ver1".to_owned())]);
    assert!(
        !w.shared.contains_key("verifier"),
        "the verifier is used once"
    );
    // Signed in before the first state; signedIn right after initialized.
    assert_eq!(
        w.tabs[t].event_kinds(),
        [AuthEventKind::Initialized, AuthEventKind::SignedIn]
    );
    assert!(w.tabs[t].events[0].2.is_authenticated);
    assert!(!w.tabs[t].events[0].2.is_loading);
    assert_eq!(w.shared.get("jwt").cloned(), w.token(t));
}

#[test]
fn a_rejected_url_code_is_an_invalid_code_error() {
    let mut w = World::new(14);
    let t = w.add_tab(Kind::Local, 0.0);
    w.tabs[t].code = Some("not-a-code".into());
    w.feed(t, Input::Start);
    w.run_for(2_000.0);
    assert!(!w.state(t).is_authenticated && !w.state(t).is_loading);
    assert_eq!(w.server.stats.exchanges, 1);
    assert_eq!(w.tabs[t].errors(), [ErrorCode::InvalidCode]);
    assert!(w.tabs[t]
        .event_kinds()
        .contains(&AuthEventKind::Initialized));
    assert!(!w.tabs[t].event_kinds().contains(&AuthEventKind::SignedIn));
}

#[test]
fn a_rejected_url_code_keeps_a_stored_session() {
    let mut w = World::new(15);
    let (token, _) = w.store_session(60_000.0);
    let t = w.add_tab(Kind::Local, 0.0);
    w.tabs[t].code = Some("foreign-code".into());
    w.feed(t, Input::Start);
    w.run_for(2_000.0);
    assert_eq!(w.token(t), Some(token));
    assert_eq!(w.tabs[t].errors(), [ErrorCode::InvalidCode]);
}

// ---------------------------------------------------------------------------------------------
// 3. Refresh timing
// ---------------------------------------------------------------------------------------------

#[test]
fn the_timer_refreshes_before_expiry() {
    let mut w = World::new(20);
    let t = w.open(Kind::Local, 0.0);
    w.sign_in(t);
    w.run_for(1_000.0);
    for round in 1..=3u64 {
        let exp = claims(&w.token(t).unwrap()).exp as f64 * 1000.0;
        w.run_until(exp - 1_000.0);
        assert_eq!(w.server.stats.rotations, round);
        let at = *w.server.rotation_times.last().unwrap();
        // In the last minute of the token's life, not before.
        assert!(at >= exp - 60_000.0 && at < exp - 58_000.0, "round {round}");
        assert!(exp < claims(&w.token(t).unwrap()).exp as f64 * 1000.0);
    }
    let refreshed = w.tabs[t]
        .event_kinds()
        .iter()
        .filter(|k| **k == AuthEventKind::TokenRefreshed)
        .count();
    assert_eq!(refreshed, 3);
}

#[test]
fn a_sleeping_timer_is_caught_up_by_token_reads_and_focus() {
    for wake in [Input::TokenRead, Input::Focused] {
        let mut w = World::new(21);
        let t = w.open(Kind::Local, 0.0);
        w.sign_in(t);
        w.run_for(1_000.0);
        let old = w.token(t).unwrap();
        // Two hours asleep: the token expired and its timer has not fired.
        w.sleep(2.0 * HOUR);
        w.run_for(10.0);
        assert_eq!(w.server.stats.rotations, 0);
        assert_eq!(w.token(t), Some(old.clone()));
        w.feed(t, wake.clone());
        w.run_for(1_000.0);
        assert_eq!(w.server.stats.rotations, 1, "{wake:?}");
        assert_ne!(w.token(t), Some(old));
        // A fresh token needs nothing.
        w.feed(t, wake);
        w.run_for(1_000.0);
        assert_eq!(w.server.stats.rotations, 1);
    }
}

#[test]
fn a_token_call_with_a_sleeping_timer_gets_a_fresh_token() {
    let mut w = World::new(22);
    let t = w.open(Kind::Local, 0.0);
    w.sign_in(t);
    w.run_for(1_000.0);
    w.sleep(2.0 * HOUR);
    let c = w.call(t, Call::Token { force: false });
    w.run_for(1_000.0);
    let token = w.token_outcome(c).unwrap();
    assert!(claims(&token).exp as f64 * 1000.0 > w.now + 50.0 * 60_000.0);
}

#[test]
fn device_clock_skew_changes_nothing() {
    let mut times: Vec<Vec<f64>> = Vec::new();
    for skew in [-HOUR, -90_000.0, 0.0, 37_000.0, HOUR] {
        let mut w = World::new(23);
        w.net_ms = (100.0, 100.0);
        let t = w.open(Kind::Local, skew);
        w.sign_in(t);
        w.run_for(10.0 * HOUR);
        assert_eq!(w.server.stats.rotations, 10, "skew {skew}");
        assert_eq!(w.server.stats.requests, 11);
        assert!(w.state(t).is_authenticated);
        times.push(w.server.rotation_times.clone());
    }
    for other in &times[1..] {
        for (a, b) in times[0].iter().zip(other) {
            assert!((a - b).abs() < 1_000.0, "{a} vs {b}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Failures
// ---------------------------------------------------------------------------------------------

#[test]
fn transient_failures_retry_with_backoff_and_never_sign_out() {
    let faults = [
        Fault::Status(503),
        Fault::Status(429),
        Fault::Lose,
        Fault::Timeout,
        Fault::Slow(16_000.0),
    ];
    for fault in faults {
        let mut w = tabs_with_session(30, Kind::Local, 1);
        let exp = claims(&w.token(0).unwrap()).exp as f64 * 1000.0;
        w.script.extend([fault; 4]);
        w.run_until(exp - 60_000.0 + 5.0 * 60_000.0);
        let t = &w.tabs[0];
        assert!(w.state(0).is_authenticated, "{fault:?}");
        let sent = t.refreshes_sent();
        assert_eq!(sent.len(), 5, "{fault:?}: four failures, then success");
        // Backoff: 250-500 ms, 500-1000, 1-2 s, 2-4 s after each failure.
        let took = if matches!(fault, Fault::Timeout | Fault::Slow(_)) {
            REQUEST_TIMEOUT_MS
        } else {
            300.0
        };
        for (i, pair) in sent.windows(2).enumerate() {
            let gap = pair[1] - pair[0];
            let base = 500.0 * f64::from(1u32 << i);
            assert!(
                gap >= base / 2.0 && gap <= base + took,
                "{fault:?} retry {i}: {gap} ms"
            );
        }
        let errors = t.errors();
        assert_eq!(errors.len(), 4, "{fault:?}: one error event per failure");
        assert!(errors.iter().all(|c| matches!(
            c,
            ErrorCode::Server | ErrorCode::Network | ErrorCode::Timeout
        )));
        assert!(!t.event_kinds().contains(&AuthEventKind::SignedOut));
        let token = w.token(0).unwrap();
        assert!(
            claims(&token).exp as f64 * 1000.0 > exp,
            "{fault:?}: refreshed"
        );
        assert_eq!(w.shared.get("jwt"), Some(&token));
        // A lost answer or timeout rotated on the server; the retry gets the same child back.
        let reaches = matches!(fault, Fault::Lose | Fault::Timeout | Fault::Slow(_));
        let expected_recoveries = if reaches { 4 } else { 0 };
        assert_eq!(w.server.stats.rotations, 1, "{fault:?}");
        assert_eq!(w.server.stats.recoveries, expected_recoveries, "{fault:?}");
        assert!(!w.allow_signout);
    }
}

#[test]
fn offline_longer_than_a_token_lifetime_then_online() {
    let mut w = tabs_with_session(31, Kind::Local, 2);
    let c_before = w.call(0, Call::Token { force: false });
    let held = w.token_outcome(c_before);
    w.set_offline(true);
    w.run_for(3.0 * HOUR);
    for t in 0..2 {
        assert!(w.state(t).is_authenticated, "tab {t}");
        assert!(!w.tabs[t].event_kinds().contains(&AuthEventKind::SignedOut));
    }
    // Callers wait while offline: no expired token is handed out.
    let waiting = w.call(1, Call::Token { force: false });
    w.run_for(60_000.0);
    assert_eq!(w.outcome(waiting), None);
    // Retries are spaced out (30 s at most, 15 s at least once backed off).
    let sent = w.tabs[0].refreshes_sent().len() + w.tabs[1].refreshes_sent().len();
    assert!((100..=1_000).contains(&sent), "{sent} attempts in 3 h");
    w.set_offline(false);
    w.run_for(2_000.0);
    let fresh = w.token_outcome(waiting).expect("a token");
    assert_ne!(Some(fresh.clone()), held);
    assert_eq!(w.server.stats.rotations, 1);
    for t in 0..2 {
        assert_eq!(w.token(t), Some(fresh.clone()));
    }
}

#[test]
fn a_definitive_rejection_signs_out() {
    for how in ["revoked", "reuse"] {
        let mut w = tabs_with_session(32, Kind::Local, 2);
        match how {
            "revoked" => w.server.revoke(0),
            // The stored refresh token was spent long ago: reuse detection ends the session.
            _ => {
                let rt = w.shared["rt"].clone();
                w.server.refresh(&rt, w.now - 60_000.0);
                w.server.refresh("rt2|s0", w.now - 30_000.0);
            }
        }
        w.allow_signout = true;
        let exp = claims(&w.token(0).unwrap()).exp as f64 * 1000.0;
        w.run_until(exp);
        for t in 0..2 {
            let s = w.state(t);
            assert!(!s.is_authenticated, "{how}: tab {t}");
            assert!(w.tabs[t].event_kinds().contains(&AuthEventKind::SignedOut));
        }
        assert!(!w.shared.contains_key("jwt") && !w.shared.contains_key("rt"));
        assert_eq!(w.copy, None);
        // Nothing more is sent.
        let sent = w.server.stats.requests;
        w.run_for(2.0 * HOUR);
        assert_eq!(w.server.stats.requests, sent);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Tabs
// ---------------------------------------------------------------------------------------------

fn expiries_across_tabs(kind: Kind, n: usize, never_lock: bool, seed: u64) -> World {
    let mut w = World::new(seed);
    w.random = true;
    w.lock.never = never_lock;
    w.check_double = !never_lock;
    w.store_session(0.0);
    for _ in 0..n {
        w.open(kind, 0.0);
        let d = w.rng.range(0.0, 3_000.0);
        w.run_for(d);
    }
    // Twenty expiries: the 59-minute cycle, plus the time the refreshes take.
    w.run_for(20.0 * 3_540_000.0 + 1_800_000.0);
    for t in 0..n {
        assert!(w.state(t).is_authenticated, "tab {t}");
        assert!(!w.tabs[t].event_kinds().contains(&AuthEventKind::SignedOut));
        assert_eq!(w.token(t).as_ref(), w.shared.get("jwt"), "tab {t} follows");
    }
    w
}

#[test]
fn tabs_sharing_local_storage_rotate_once_per_expiry() {
    for n in [2, 4, 8] {
        for seed in 0..3 {
            let w = expiries_across_tabs(Kind::Local, n, false, 100 + seed);
            assert_eq!(w.server.stats.rotations, 20, "{n} tabs, seed {seed}");
            assert_eq!(w.server.stats.recoveries, 0);
            assert_eq!(w.lock.timeouts, 0);
            assert_eq!(w.lock.bad_releases, 0);
        }
    }
}

#[test]
fn tabs_sharing_an_encrypted_store_rotate_once_per_expiry() {
    for n in [2, 4] {
        let w = expiries_across_tabs(Kind::Encrypted, n, false, 200);
        assert_eq!(w.server.stats.rotations, 20, "{n} tabs");
        assert_eq!(w.lock.bad_releases, 0);
    }
}

#[test]
fn tabs_without_the_lock_never_sign_out() {
    for n in [2, 4, 8] {
        let w = expiries_across_tabs(Kind::Local, n, true, 300);
        let s = w.server.stats;
        println!(
            "no lock, {n} tabs, 20 expiries: {} rotations, {} recoveries, {} lock timeouts",
            s.rotations, s.recoveries, w.lock.timeouts
        );
        assert!(s.rotations >= 20);
        assert_eq!(s.reuse_detected + s.unknown, 0);
        assert!(w.lock.timeouts >= 20);
    }
}

#[test]
fn sign_out_and_sign_in_follow_across_tabs() {
    let mut w = tabs_with_session(33, Kind::Local, 3);
    w.call(1, Call::SignOut);
    w.run_for(1_000.0);
    for t in 0..3 {
        assert!(!w.state(t).is_authenticated, "tab {t}");
        assert_eq!(
            w.tabs[t].event_kinds().last(),
            Some(&AuthEventKind::SignedOut)
        );
    }
    assert!(!w.server.sessions[0].alive, "the server session is deleted");
    w.sign_in(2);
    w.run_for(1_000.0);
    for t in 0..3 {
        assert!(w.state(t).is_authenticated, "tab {t}");
        assert_eq!(
            w.tabs[t].event_kinds().last(),
            Some(&AuthEventKind::SignedIn)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Forced refresh
// ---------------------------------------------------------------------------------------------

#[test]
fn a_forced_refresh_never_returns_the_token_held() {
    let mut w = World::new(40);
    let t = w.open(Kind::Local, 0.0);
    w.sign_in(t);
    w.run_for(300.0);
    let c = w.call(t, Call::Token { force: false });
    let held = w.token_outcome(c).unwrap();
    // Within the second the token was minted: the server would mint the same bytes.
    let forced = w.call(t, Call::Token { force: true });
    w.run_for(3_000.0);
    let got = w.token_outcome(forced).unwrap();
    assert_ne!(got, held);
    assert_eq!(w.server.stats.rotations, 1);
    // And again, now holding the new one.
    let again = w.call(t, Call::Token { force: true });
    w.run_for(3_000.0);
    let got2 = w.token_outcome(again).unwrap();
    assert_ne!(got2, got);
    assert_eq!(w.server.stats.rotations, 2);
}

#[test]
fn concurrent_forced_calls_share_one_rotation() {
    let mut w = tabs_with_session(41, Kind::Local, 2);
    w.run_for(5_000.0);
    let held: Vec<_> = (0..2)
        .map(|t| {
            let c = w.call(t, Call::Token { force: false });
            w.token_outcome(c)
        })
        .collect();
    let calls: Vec<_> = [0, 0, 0, 1, 1]
        .into_iter()
        .map(|t| (t, w.call(t, Call::Token { force: true })))
        .collect();
    w.run_for(3_000.0);
    assert_eq!(w.server.stats.rotations, 1);
    let first = w.token_outcome(calls[0].1);
    for (t, c) in calls {
        let got = w.token_outcome(c);
        assert!(got.is_some());
        assert_ne!(got, held[t]);
        assert_eq!(got, first);
    }
}

#[test]
fn a_forced_call_on_a_skewed_clock_with_a_stored_token() {
    // The tab never saw a token minted, so it does not know its clock's offset.
    for skew in [-HOUR, HOUR] {
        let mut w = World::new(42);
        let (stored, _) = w.store_session(5_000.0);
        let t = w.open(Kind::Local, skew);
        w.run_for(200.0);
        let c = w.call(t, Call::Token { force: false });
        let held = w.token_outcome(c);
        if skew > 0.0 {
            // +1 h: the stored token looks due: it is replaced at start-up.
            assert_ne!(held.as_deref(), Some(stored.as_str()));
        } else {
            assert_eq!(held.as_deref(), Some(stored.as_str()));
        }
        let forced = w.call(t, Call::Token { force: true });
        w.run_for(5_000.0);
        let got = w.token_outcome(forced);
        assert!(got.is_some(), "skew {skew}: answered within seconds");
        assert_ne!(got, held, "skew {skew}");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Storage failing
// ---------------------------------------------------------------------------------------------

#[test]
fn storage_failing_mid_session_goes_on_in_memory() {
    // Signed in by this tab, or loaded from storage at start-up.
    for loaded in [false, true] {
        let mut w = World::new(50);
        let t = if loaded {
            w.store_session(0.0);
            w.open(Kind::Local, 0.0)
        } else {
            let t = w.open(Kind::Local, 0.0);
            w.sign_in(t);
            t
        };
        w.run_for(60_000.0);
        assert!(w.state(t).is_authenticated);
        w.tabs[t].failing = true;
        let rotations = w.server.stats.rotations;
        w.run_for(3.0 * HOUR);
        assert!(w.state(t).is_authenticated, "loaded {loaded}");
        assert!(w.server.stats.rotations >= rotations + 2, "loaded {loaded}");
        assert_eq!(w.tabs[t].errors(), [ErrorCode::Storage], "loaded {loaded}");
        assert_eq!(w.tabs[t].use_memory.len(), 1);
        let memory = w.tabs[t].memory.clone().unwrap();
        assert_eq!(memory.get("jwt").cloned(), w.token(t));
        let c = w.call(t, Call::Token { force: true });
        w.run_for(2_000.0);
        assert!(w.token_outcome(c).is_some());
        w.call(t, Call::SignOut);
        w.run_for(1_000.0);
        assert!(!w.state(t).is_authenticated);
    }
}

#[test]
fn storage_broken_from_the_start_runs_in_memory() {
    let mut w = World::new(51);
    let t = w.tabs.len();
    let config = Config {
        storage_error: Some(Error::storage("SecurityError")),
        ..Kind::Local.config(9)
    };
    assert_eq!(w.add_tab_with(Kind::Local, 0.0, config), t);
    w.tabs[t].memory = Some(Map::new());
    w.tabs[t].failing = true;
    w.feed(t, Input::Start);
    w.sign_in(t);
    w.run_for(2.5 * HOUR);
    assert!(w.state(t).is_authenticated);
    assert_eq!(w.server.stats.rotations, 2);
    assert_eq!(w.tabs[t].errors(), [ErrorCode::Storage]);
    assert!(w.shared.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 8, 9. free() and sign-out during a refresh
// ---------------------------------------------------------------------------------------------

#[test]
fn free_mid_refresh_settles_callers_and_then_says_nothing() {
    for stage in 0..4 {
        let mut w = tabs_with_session(60, Kind::Local, 2);
        w.script.push_back(Fault::Slow(8_000.0));
        let exp = claims(&w.token(0).unwrap()).exp as f64 * 1000.0;
        // Both tabs' timers fire at the due time; stop at different points of the refresh.
        w.run_until(exp - 60_000.0 + [0.5, 50.0, 2_000.0, 7_000.0][stage]);
        let calls: Vec<_> = (0..3)
            .map(|i| w.call(0, Call::Token { force: i == 2 }))
            .collect();
        let ready = w.call(0, Call::Ready);
        w.free(0);
        for c in &calls {
            assert!(
                matches!(w.outcome(*c), Some(Outcome::Token(_))),
                "stage {stage}: caller {c} settled"
            );
        }
        assert_eq!(w.outcome(ready), Some(Outcome::Ready));
        assert!(w.tabs[0].timers.iter().all(Option::is_none));
        // Every later completion reaches the freed machine; `feed` checks it answers nothing.
        w.run_for(HOUR);
        w.feed(0, Input::Online);
        w.feed(0, Input::TimerFired(Timer::Due));
        w.feed(
            0,
            Input::Call {
                caller: 999,
                call: Call::Token { force: true },
            },
        );
        assert!(w.tabs[0].m.take_commands().is_empty());
        // The other tab goes on; the lock was not left held.
        assert!(w.state(1).is_authenticated, "stage {stage}");
        assert!(w.server.stats.rotations >= 1);
        assert_eq!(w.lock.timeouts, 0);
        assert_eq!(w.lock.bad_releases, 0);
    }
}

#[test]
fn free_during_start_up_settles_queued_calls() {
    let mut w = World::new(61);
    w.store_session(3_580_000.0);
    let t = w.open(Kind::Local, 0.0);
    let ready = w.call(t, Call::Ready);
    let token = w.call(t, Call::Token { force: false });
    let sign_out = w.call(t, Call::SignOut);
    w.run_for(5.0);
    w.free(t);
    assert_eq!(w.outcome(ready), Some(Outcome::Ready));
    assert_eq!(w.outcome(token), Some(Outcome::Token(None)));
    assert_eq!(w.outcome(sign_out), Some(Outcome::SignedOut));
    w.run_for(HOUR);
}

/// A tab waiting to retry a refresh (offline, backing off for seconds) when another tab signs
/// out: its callers get `None` as soon as it learns of the sign-out, not after the wait.
#[test]
fn a_sign_out_elsewhere_answers_callers_waiting_to_retry() {
    let mut w = tabs_with_session(66, Kind::Local, 2);
    w.offline = true;
    let waiting = w.call(0, Call::Token { force: true });
    // Four failures: the next try is 2 to 4 s away.
    assert!(w.run_until_cond(60_000.0, |w| w.tabs[0].errors().len() == 4));
    w.offline = false;
    let c = w.call(1, Call::SignOut);
    w.run_for(500.0);
    assert_eq!(w.outcome(waiting), Some(Outcome::Token(None)));
    assert!(!w.state(0).is_authenticated && !w.state(1).is_authenticated);
    w.run_for(30_000.0);
    assert_eq!(w.outcome(c), Some(Outcome::SignedOut));
}

#[test]
fn sign_out_during_a_refresh_ignores_its_late_answer() {
    for fault in [Fault::Slow(5_000.0), Fault::Slow(14_000.0), Fault::Lose] {
        let mut w = tabs_with_session(62, Kind::Local, 2);
        w.script.push_back(fault);
        let sent = |w: &World| w.tabs[0].refreshes_sent().len() + w.tabs[1].refreshes_sent().len();
        assert!(w.run_until_cond(2.0 * HOUR, |w| sent(w) == 1));
        // In flight, or (lost) backing off before its retry.
        let errors = |w: &World| w.tabs[0].errors().len() + w.tabs[1].errors().len();
        match fault {
            Fault::Lose => assert!(w.run_until_cond(1_000.0, |w| errors(w) == 1)),
            _ => w.run_for(100.0),
        }
        assert_eq!(sent(&w), 1);
        let waiting = w.call(0, Call::Token { force: false });
        let c = w.call(0, Call::SignOut);
        w.run_for(30_000.0);
        assert_eq!(w.outcome(c), Some(Outcome::SignedOut));
        assert_eq!(w.outcome(waiting), Some(Outcome::Token(None)), "{fault:?}");
        for t in 0..2 {
            assert!(!w.state(t).is_authenticated, "{fault:?} tab {t}");
            let kinds = w.tabs[t].event_kinds();
            assert_eq!(
                kinds
                    .iter()
                    .filter(|k| **k == AuthEventKind::SignedOut)
                    .count(),
                1
            );
            assert!(!kinds.contains(&AuthEventKind::SignedIn), "{fault:?}");
        }
        assert!(!w.shared.contains_key("jwt") && !w.shared.contains_key("rt"));
        w.run_for(2.0 * HOUR);
        assert!(!w.state(0).is_authenticated && !w.state(1).is_authenticated);
    }
}

#[test]
fn signing_in_again_during_a_refresh_keeps_the_new_session() {
    // Same user, new session (e.g. a second password sign-in) while a refresh of the old
    // session is in flight in the same tab and in another.
    for refreshing in [0usize, 1] {
        let mut w = tabs_with_session(63, Kind::Local, 2);
        w.script.push_back(Fault::Slow(6_000.0));
        let exp = claims(&w.token(0).unwrap()).exp as f64 * 1000.0;
        // Only tab `refreshing` is due (its timer), the other is told later by storage.
        let other = 1 - refreshing;
        w.tabs[other].timers = [None; 4];
        w.run_until(exp - 60_000.0 + 500.0);
        assert_eq!(w.tabs[refreshing].refreshes_sent().len(), 1);
        w.sign_in(0);
        w.run_for(20_000.0);
        let token = w.token(0).unwrap();
        assert_eq!(
            claims(&token).session_id,
            "s1",
            "refreshing tab {refreshing}: the new session stays"
        );
        assert_eq!(w.token(1), Some(token.clone()));
        assert_eq!(w.shared.get("jwt"), Some(&token));
    }
}

#[test]
fn a_refresh_answer_for_a_replaced_session_after_a_sleep() {
    // A forced refresh is on its way when the user signs in again; the device then sleeps past
    // the new token's life. The old refresh's answer is stale: the caller gets a fresh token of
    // the new session, not the new session's expired one.
    let mut w = tabs_with_session(65, Kind::Local, 1);
    w.run_for(5_000.0);
    w.script.push_back(Fault::Slow(4_000.0));
    let forced = w.call(0, Call::Token { force: true });
    w.run_for(500.0);
    assert_eq!(w.tabs[0].refreshes_sent().len(), 1);
    w.sign_in(0);
    w.run_for(500.0);
    assert_eq!(claims(&w.token(0).unwrap()).session_id, "s1");
    assert_eq!(w.outcome(forced), None);
    w.sleep(2.0 * HOUR);
    w.run_for(5_000.0);
    let token = w.token_outcome(forced).expect("a token");
    assert_eq!(claims(&token).session_id, "s1");
    assert!(claims(&token).exp as f64 * 1000.0 > w.now + 50.0 * 60_000.0);
}

#[test]
fn tabs_signing_in_at_once_end_on_the_stored_session() {
    for seed in 0..20 {
        let mut w = World::new(66 + seed);
        w.random = true;
        w.net_ms = (100.0, 100.0);
        for _ in 0..3 {
            w.open(Kind::Local, 0.0);
        }
        w.run_for(100.0);
        // Two sign-ins answered at the same moment: their `storage` events cross.
        w.sign_in(1);
        w.sign_in(2);
        w.run_for(2_000.0);
        let stored = w.shared.get("jwt").cloned();
        assert!(stored.is_some());
        for t in 0..3 {
            assert_eq!(w.token(t), stored, "seed {seed}, tab {t}");
        }
    }
}

/// Known race, not fixed: tab 1's refresh answer lands after tab 0's sign-out cleared the
/// storage but before the `storage` event tells tab 1 (a window of the event's latency). Tab 1
/// stores the rotated tokens again, and tab 0, the tab that signed out, follows them: both tabs
/// are signed in again, on a session the sign-out request deletes on the server (the next refresh
/// ends it, up to a token lifetime later). Fixing it takes a design choice: sign-out under the
/// refresh lock, or a check of the stored refresh token before a refresh is persisted.
#[test]
fn sign_out_racing_a_refresh_answer_in_another_tab() {
    let mut w = tabs_with_session(64, Kind::Local, 2);
    w.storage_ms = (0.0, 0.0);
    w.net_ms = (200.0, 200.0);
    let exp = claims(&w.token(0).unwrap()).exp as f64 * 1000.0;
    // Only tab 1 refreshes.
    w.tabs[0].timers = [None; 4];
    w.run_until(exp - 60_000.0);
    let answered = |w: &World| w.queue.iter().any(|q| matches!(q.ev, Ev::Minted(1, _)));
    assert!(w.run_until_cond(1_000.0, answered));
    let at = w
        .queue
        .iter()
        .find(|q| matches!(q.ev, Ev::Minted(1, _)))
        .map(|q| q.at)
        .unwrap();
    // Half a millisecond before the answer reaches tab 1.
    w.run_until(at - 0.5);
    w.call(0, Call::SignOut);
    w.run_for(60_000.0);
    assert!(!w.state(0).is_authenticated, "the tab that signed out");
    assert!(!w.state(1).is_authenticated);
    assert!(!w.shared.contains_key("jwt"));
}

/// 2,000 random worlds, each one interleaving. Checked at every step: (a) nobody is signed out
/// but by a sign-out call or a definitive server answer (a scripted one; or reuse detection where
/// the lock is missing or a request reached the server after its client gave up); (b) with the
/// lock, no refresh token is consumed before the JWT minted with it is due, unless a forced call
/// was waiting, the tab could not know its clock offset, or the request was a zombie; (c) no
/// forced `Token` outcome is the token its caller held; (d) no command after `Free`; (e) no
/// panic, no livelock; also every caller settled exactly once, no token handed out expired, no
/// `Release` without the lock, the lock never held for `LOCK_TIMEOUT_MS`, and after healing
/// every tab following the stored session.
#[test]
fn random_interleavings_keep_the_invariants() {
    sim::random_worlds::<Server>("machine", 2_000, &[120, 600, 3600]);
}

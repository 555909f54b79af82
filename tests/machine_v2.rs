//! Deterministic simulations of the session machine with the Convex Auth v2 backend
//! (`core::v2::ConvexAuthV2`, `@convex-dev/auth` 2.0.0) in the simulated browser of `tests/sim`,
//! against a fake v2 deployment that follows PROTOCOL-V2.md: public mutations answering values
//! (`{status: "complete", tokens}`, `{status: "error", userError}`, `{success, browserSecret}`),
//! 60-second JWTs whose `sub` is the session id, token bundles `{accessToken, refreshToken,
//! refreshTokenExpiresAt, userId}`, and the v2 rotation rules of §3 (the newest token is
//! redeemed; the redeemed parent presented again mints another child; 3 or more unredeemed
//! children with the oldest over 5 s revoke; a spent or dropped token revokes; an unknown one
//! answers `noSession`).
//!
//! `SIM_SEED=<n> SIM_TRACE=1 cargo test --test machine_v2 random -- --nocapture` replays one
//! world of the property test with a trace; `SIM_WORLDS=<n>` runs more (or fewer) than 300.
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

use convex_auth_wasm::core::json::{self, Json};
use convex_auth_wasm::core::machine::{
    Backend, Call, ConvexAuthV1, FunctionKind, Input, Outcome, Request, SignInOutcome,
};
use convex_auth_wasm::core::v2::ConvexAuthV2;
use convex_auth_wasm::{AuthEventKind, Error, ErrorCode};
use sim::{b64url, claims, session_of, Fault, Kind, Served, SimServer, HOUR};

/// The simulated browser with a Convex Auth v2 deployment.
type World = sim::World<Server>;

/// A world of `n` tabs of `kind` with a fresh stored session, all started and loaded.
fn tabs_with_session(seed: u64, kind: Kind, n: usize) -> World {
    sim::tabs_with_session(seed, kind, n)
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// An unsigned ES256-like v2 JWT: `sub` is the session id; a `jti` makes every one distinct.
fn make_jwt(session: usize, jti: u64, iat: i64, exp: i64) -> String {
    let payload = format!(
        r#"{{"sub":"s{session}","iat":{iat},"exp":{exp},"jti":"j{jti}","aud":"convex-auth","iss":"https://dep.example/components/auth"}}"#
    );
    format!(
        "{}.{}.sig",
        b64url(br#"{"alg":"ES256","kid":"k1"}"#),
        b64url(payload.as_bytes())
    )
}

/// A v1 JWT (`sub` = `userId|sessionId`), as a v1 client stored it.
fn make_v1_jwt(iat: i64, exp: i64) -> String {
    let payload = format!(r#"{{"sub":"u1|s0","iat":{iat},"exp":{exp}}}"#);
    format!(
        "{}.{}.sig",
        b64url(br#"{"alg":"RS256"}"#),
        b64url(payload.as_bytes())
    )
}

fn success(value: &str) -> String {
    format!(r#"{{"status":"success","value":{value}}}"#)
}

fn user_error(code: &str) -> String {
    format!(r#"{{"status":"error","userError":{{"error":"{code}"}}}}"#)
}

const NO_SESSION: &str = r#"{"kind":"noSession"}"#;

// ---------------------------------------------------------------------------------------------
// The fake v2 deployment
// ---------------------------------------------------------------------------------------------

/// How many issued, never-presented refresh tokens revoke a session presenting its redeemed one
/// (`STANDARD_ISSUED_REFRESH_TOKEN_LIMIT`), once the oldest is older than `REFRESH_GRACE_MS`.
const ISSUED_LIMIT: usize = 3;
const REFRESH_GRACE_MS: f64 = 5_000.0;

#[derive(Clone, Copy, Debug, PartialEq)]
enum RtState {
    Issued,
    Redeemed,
    Spent,
    Dropped,
}

struct RtRec {
    session: usize,
    state: RtState,
    created: f64,
    /// When the JWT minted with this token is due for a refresh (server time): redeeming the
    /// token before that is a second rotation within one token lifetime.
    due_ms: f64,
}

struct SessionRec {
    user: String,
    alive: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    requests: u64,
    refreshes: u64,
    /// Issued tokens redeemed: the rotations.
    rotations: u64,
    /// A redeemed token presented again: another child (a lost answer recovered).
    recoveries: u64,
    /// Sessions revoked for too many unredeemed children.
    limit_revocations: u64,
    /// Sessions revoked for a spent or dropped token.
    reuse_revocations: u64,
    /// `noSession` answers.
    no_session: u64,
    sign_ins: u64,
    sign_outs: u64,
}

/// What a password sign-in is answered with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reply {
    Tokens,
    Error(&'static str),
}

/// A browser secret the server handed out, with the email code it was sent.
struct Challenge {
    secret: String,
    code: String,
    email: String,
    recovery: bool,
}

struct Server {
    sessions: Vec<SessionRec>,
    rts: HashMap<String, RtRec>,
    next_rt: u64,
    next_jti: u64,
    lifetime_s: i64,
    stats: Stats,
    reply: Reply,
    /// The app's names of its functions (`functions` option) and the paths with no function.
    functions: Vec<(String, String)>,
    missing: Vec<String>,
    /// The clients speak v1 (a v1 client finding v2 tokens).
    v1_clients: bool,
    challenges: Vec<Challenge>,
    /// OAuth: `state` of every start, and the tickets (`convexAuthCode`) with their state.
    states: Vec<String>,
    tickets: HashMap<String, String>,
    /// Users with a passkey.
    passkeys: Vec<String>,
    /// Every request served, with the server time.
    log: Vec<Request>,
}

impl Default for Server {
    fn default() -> Server {
        Server {
            sessions: Vec::new(),
            rts: HashMap::new(),
            next_rt: 0,
            next_jti: 0,
            lifetime_s: 60,
            stats: Stats::default(),
            reply: Reply::Tokens,
            functions: Vec::new(),
            missing: Vec::new(),
            v1_clients: false,
            challenges: Vec::new(),
            states: Vec::new(),
            tickets: HashMap::new(),
            passkeys: Vec::new(),
            log: Vec::new(),
        }
    }
}

impl SimServer for Server {
    fn backend(&self) -> Box<dyn Backend> {
        if self.v1_clients {
            return Box::new(ConvexAuthV1);
        }
        Box::new(ConvexAuthV2 {
            functions: self.functions.clone(),
        })
    }
    fn serve(&mut self, request: &Request, now: f64) -> (u16, String, Served) {
        Server::serve(self, request, now)
    }
    fn is_refresh(&self, request: &Request) -> bool {
        self.name(&request.path) == "refreshSession"
    }
    fn create_session(&mut self, user: &str, now: f64) -> (String, String) {
        Server::create_session(self, user, now)
    }
    fn kept_beside(&self, token: &str) -> Option<(&'static str, String)> {
        let s = session_of(token);
        Some(("userId", format!("s{s}|{}", self.sessions[s].user)))
    }
    fn revoke(&mut self, s: usize) {
        self.sessions[s].alive = false;
    }
    fn set_lifetime_s(&mut self, seconds: i64) {
        self.lifetime_s = seconds;
    }
    fn excuses_definitive(&self) -> bool {
        // Lost answers each leave an unredeemed child: the server's limit on them is its rule.
        self.stats.limit_revocations > 0
    }
    fn rotations(&self) -> u64 {
        self.stats.rotations
    }
    fn recoveries(&self) -> u64 {
        self.stats.recoveries
    }
}

impl Server {
    /// The official name of the function at `path` (the app's `functions` names resolved).
    fn name(&self, path: &str) -> String {
        match self.functions.iter().find(|(_, p)| p == path) {
            Some((official, _)) => official.clone(),
            None => path.strip_prefix("auth:").unwrap_or("?").to_owned(),
        }
    }

    fn mint(&mut self, s: usize, now: f64) -> String {
        self.next_jti += 1;
        let iat = (now / 1000.0).floor() as i64;
        make_jwt(s, self.next_jti, iat, iat + self.lifetime_s)
    }

    fn issue(&mut self, s: usize, now: f64) -> String {
        self.next_rt += 1;
        // 43 characters, no `|`.
        let rt = format!("rt{:041}", self.next_rt);
        let exp_ms = ((now / 1000.0).floor() as i64 + self.lifetime_s) as f64 * 1000.0;
        let leeway_ms = ((self.lifetime_s * 1000) / 4).min(60_000) as f64;
        self.rts.insert(
            rt.clone(),
            RtRec {
                session: s,
                state: RtState::Issued,
                created: now,
                due_ms: exp_ms - leeway_ms,
            },
        );
        rt
    }

    /// A bundle for session `s`, with a new refresh token.
    fn bundle(&mut self, s: usize, now: f64) -> String {
        let token = self.mint(s, now);
        let rt = self.issue(s, now);
        let expires = now + 30.0 * 24.0 * HOUR + 0.25;
        let user = &self.sessions[s].user;
        format!(
            r#"{{"accessToken":"{token}","refreshToken":"{rt}","refreshTokenExpiresAt":{expires},"userId":"{user}"}}"#
        )
    }

    fn create_session(&mut self, user: &str, now: f64) -> (String, String) {
        let s = self.sessions.len();
        self.sessions.push(SessionRec {
            user: user.to_owned(),
            alive: true,
        });
        let rt = self.issue(s, now);
        (self.mint(s, now), rt)
    }

    /// A new session for `user`: the sign-in envelope.
    fn complete(&mut self, user: &str, now: f64) -> String {
        self.stats.sign_ins += 1;
        let s = self.sessions.len();
        self.sessions.push(SessionRec {
            user: user.to_owned(),
            alive: true,
        });
        let bundle = self.bundle(s, now);
        format!(r#"{{"status":"complete","tokens":{bundle}}}"#)
    }

    fn tokens_of_session(&self, s: usize, state: RtState) -> Vec<String> {
        let mut tokens: Vec<&String> = self
            .rts
            .iter()
            .filter(|(_, r)| r.session == s && r.state == state)
            .map(|(t, _)| t)
            .collect();
        tokens.sort_by(|a, b| self.rts[*a].created.total_cmp(&self.rts[*b].created));
        tokens.into_iter().cloned().collect()
    }

    /// `refreshSession` (`component/public.ts` `refresh`).
    fn refresh(&mut self, rt: &str, now: f64) -> (String, Served) {
        self.stats.refreshes += 1;
        let no_session = |stats: &mut Stats| {
            stats.no_session += 1;
            (NO_SESSION.to_owned(), Served::Definitive)
        };
        let Some(rec) = self.rts.get(rt) else {
            return no_session(&mut self.stats);
        };
        let (s, state, due_ms) = (rec.session, rec.state, rec.due_ms);
        if !self.sessions[s].alive {
            return no_session(&mut self.stats);
        }
        let served = match state {
            RtState::Spent | RtState::Dropped => {
                self.stats.reuse_revocations += 1;
                self.sessions[s].alive = false;
                return no_session(&mut self.stats);
            }
            RtState::Issued => {
                for t in self.tokens_of_session(s, RtState::Redeemed) {
                    self.rts.get_mut(&t).unwrap().state = RtState::Spent;
                }
                for t in self.tokens_of_session(s, RtState::Issued) {
                    self.rts.get_mut(&t).unwrap().state = RtState::Dropped;
                }
                self.rts.get_mut(rt).unwrap().state = RtState::Redeemed;
                self.stats.rotations += 1;
                Served::Rotation {
                    session: s,
                    early: now < due_ms,
                }
            }
            RtState::Redeemed => {
                let issued = self.tokens_of_session(s, RtState::Issued);
                if issued.len() >= ISSUED_LIMIT
                    && now - self.rts[&issued[0]].created > REFRESH_GRACE_MS
                {
                    self.stats.limit_revocations += 1;
                    self.sessions[s].alive = false;
                    return no_session(&mut self.stats);
                }
                self.stats.recoveries += 1;
                Served::Other
            }
        };
        let bundle = self.bundle(s, now);
        (format!(r#"{{"kind":"rotated","tokens":{bundle}}}"#), served)
    }

    /// The challenge of `secret`, answered with `code`.
    fn challenge(&mut self, secret: &str, code: &str, recovery: bool) -> Result<String, String> {
        let Some(i) = self
            .challenges
            .iter()
            .position(|c| c.secret == secret && c.recovery == recovery)
        else {
            return Err(user_error("INVALID_CHALLENGE"));
        };
        if self.challenges[i].code != code {
            return Err(user_error("INCORRECT_CODE"));
        }
        Ok(self.challenges.remove(i).email)
    }

    fn start_challenge(&mut self, email: &str, recovery: bool) -> String {
        let n = self.challenges.len() + 1;
        let secret = format!("bs{n}");
        self.challenges.push(Challenge {
            secret: secret.clone(),
            code: format!("code{n}"),
            email: email.to_owned(),
            recovery,
        });
        format!(r#"{{"success":true,"browserSecret":"{secret}","sentTo":"{email}"}}"#)
    }

    fn serve(&mut self, request: &Request, now: f64) -> (u16, String, Served) {
        self.stats.requests += 1;
        self.log.push(request.clone());
        if self.missing.contains(&request.path) || request.kind != FunctionKind::Mutation {
            let body = format!(
                r#"{{"status":"error","errorMessage":"Could not find public function for '{}'. Did you forget to run `npx convex dev`?"}}"#,
                request.path
            );
            return (560, body, Served::Other);
        }
        let arg = |k: &str| request.args.get(k).and_then(|v| v.string());
        let user_of = |email: Option<String>| {
            email
                .map(|e| e.split('@').next().unwrap_or("u1").to_owned())
                .unwrap_or_else(|| "u1".into())
        };
        let mut served = Served::Other;
        let value = match self.name(&request.path).as_str() {
            "refreshSession" => {
                let (value, s) = self.refresh(&arg("refreshToken").unwrap_or_default(), now);
                served = s;
                value
            }
            "signOut" => {
                self.stats.sign_outs += 1;
                if let Some(rec) = arg("refreshToken").and_then(|t| self.rts.get(&t)) {
                    let s = rec.session;
                    self.sessions[s].alive = false;
                }
                "null".to_owned()
            }
            name @ ("signInWithEmailPassword"
            | "signInWithUsernamePassword"
            | "signUpWithUsernamePassword") => match self.reply {
                Reply::Tokens => {
                    let user = match name {
                        "signInWithEmailPassword" => user_of(arg("email")),
                        _ => arg("username").unwrap_or_default(),
                    };
                    self.complete(&user, now)
                }
                Reply::Error(code) => user_error(code),
            },
            "signUpWithEmailPassword" => self.start_challenge(&arg("email").unwrap(), false),
            "startPasswordRecovery" => self.start_challenge(&arg("email").unwrap(), true),
            "completeSignUpWithEmailPassword" => {
                let secret = arg("browserSecret").unwrap_or_default();
                match self.challenge(&secret, &arg("emailCode").unwrap_or_default(), false) {
                    Ok(email) => self.complete(&user_of(Some(email)), now),
                    Err(e) => e,
                }
            }
            "completePasswordRecovery" => {
                let secret = arg("browserSecret").unwrap_or_default();
                match self.challenge(&secret, &arg("emailCode").unwrap_or_default(), true) {
                    Ok(email) => {
                        // Every other session of the user is revoked first.
                        let user = user_of(Some(email));
                        for s in &mut self.sessions {
                            if s.user == user {
                                s.alive = false;
                            }
                        }
                        self.complete(&user, now)
                    }
                    Err(e) => e,
                }
            }
            "startSignInWithUsernamePasskey" => {
                let username = arg("username").unwrap_or_default();
                let step = if self.passkeys.contains(&username) {
                    "authenticate"
                } else {
                    "register"
                };
                format!(
                    r#"{{"success":true,"step":"{step}","options":{{"challenge":"Y2hhbGxlbmdl","timeout":540000}}}}"#
                )
            }
            "finishSignUpWithUsernamePasskey" => {
                let username = arg("username").unwrap_or_default();
                self.passkeys.push(username.clone());
                self.complete(&username, now)
            }
            "finishSignInWithUsernamePasskey" => self.complete("u1", now),
            "signInAnonymously" => self.complete("anon", now),
            "startSignInWithGithub" | "startSignInWithGoogle" | "startSignInWithApple" => {
                let state = format!("st{}", self.states.len() + 1);
                self.states.push(state.clone());
                format!(
                    r#"{{"redirect":"https://idp.example/authorize?state={state}","state":"{state}"}}"#
                )
            }
            "completeSignInWithGithub" | "completeSignInWithGoogle" | "completeSignInWithApple" => {
                let code = arg("code").unwrap_or_default();
                match self.tickets.remove(&code) {
                    Some(state) if Some(&state) == arg("state").as_ref() => {
                        self.complete("u1", now)
                    }
                    _ => user_error("INVALID_CODE"),
                }
            }
            _ => {
                let body = format!(
                    r#"{{"status":"error","errorMessage":"Could not find public function for '{}'."}}"#,
                    request.path
                );
                return (560, body, Served::Other);
            }
        };
        (200, success(&value), served)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The page the calls are made from.
const PAGE: &str = "https://app.example/login";

fn sign_in_call(provider: &str, params: &[(&str, &str)]) -> Call {
    Call::SignIn {
        provider: Some(provider.into()),
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        page_url: Some(PAGE.into()),
    }
}

fn sign_in_with(w: &mut World, t: usize, provider: &str, params: &[(&str, &str)]) -> u32 {
    w.call(t, sign_in_call(provider, params))
}

/// A loaded tab with no session.
fn signed_out_world(seed: u64) -> World {
    let mut w = World::new(seed);
    w.open(Kind::Local, 0.0);
    w.run_for(100.0);
    assert!(!w.state(0).is_loading && !w.state(0).is_authenticated);
    w
}

/// The last request tab `t` sent, as `(kind, path, args as JSON, bearer)`.
fn last_sent(w: &World, t: usize) -> (FunctionKind, String, String, Option<String>) {
    let r = w.tabs[t].sent.last().expect("a request");
    (
        r.kind,
        r.path.clone(),
        r.args.to_json_string(),
        r.bearer.clone(),
    )
}

fn sign_in_error(w: &World, c: u32) -> Error {
    match w.outcome(c) {
        Some(Outcome::SignIn(Err(e))) => e,
        other => panic!("caller {c}: not a failed sign-in: {other:?}"),
    }
}

fn signed_in(w: &World, c: u32) -> bool {
    match w.outcome(c) {
        Some(Outcome::SignIn(Ok(o))) => o.signing_in,
        other => panic!("caller {c}: not a successful sign-in: {other:?}"),
    }
}

fn rt_of(w: &World) -> String {
    w.shared["rt"].clone()
}

// ---------------------------------------------------------------------------------------------
// 1. The mapping of signIn(provider, params) onto v2's functions
// ---------------------------------------------------------------------------------------------

#[test]
fn every_row_of_the_mapping_table() {
    let email = ("email", "u1@example.com");
    let password = ("password", "pw");
    // provider, params, a value kept in storage, the path, the arguments.
    type Row<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<(&'a str, &'a str)>,
        &'a str,
        &'a str,
    );
    let rows: Vec<Row> = vec![
        (
            "password",
            vec![email, password, ("flow", "signIn")],
            None,
            "auth:signInWithEmailPassword",
            r#"{"email":"u1@example.com","password":"pw"}"#,
        ),
        (
            "password",
            vec![email, password],
            None,
            "auth:signInWithEmailPassword",
            r#"{"email":"u1@example.com","password":"pw"}"#,
        ),
        (
            "password",
            vec![email, password, ("flow", "signUp")],
            None,
            "auth:signUpWithEmailPassword",
            r#"{"email":"u1@example.com","password":"pw"}"#,
        ),
        (
            "password",
            vec![("code", "code1"), ("flow", "email-verification")],
            Some(("signUpSecret", "bs9")),
            "auth:completeSignUpWithEmailPassword",
            r#"{"emailCode":"code1","browserSecret":"bs9"}"#,
        ),
        (
            "password",
            vec![email, ("flow", "reset")],
            None,
            "auth:startPasswordRecovery",
            r#"{"email":"u1@example.com"}"#,
        ),
        (
            "password",
            vec![
                ("code", "code1"),
                ("newPassword", "pw2"),
                ("flow", "reset-verification"),
            ],
            Some(("recoverySecret", "bs8")),
            "auth:completePasswordRecovery",
            r#"{"emailCode":"code1","browserSecret":"bs8","newPassword":"pw2"}"#,
        ),
        (
            "username-password",
            vec![("username", "alice"), password, ("flow", "signUp")],
            None,
            "auth:signUpWithUsernamePassword",
            r#"{"username":"alice","password":"pw"}"#,
        ),
        (
            "username-password",
            vec![("username", "alice"), password, ("flow", "signIn")],
            None,
            "auth:signInWithUsernamePassword",
            r#"{"username":"alice","password":"pw"}"#,
        ),
        (
            "passkey",
            vec![("username", "alice")],
            None,
            "auth:startSignInWithUsernamePasskey",
            r#"{"username":"alice"}"#,
        ),
        (
            "github",
            vec![("redirectTo", "https://app.example/after")],
            None,
            "auth:startSignInWithGithub",
            r#"{"redirectTo":"https://app.example/after"}"#,
        ),
        (
            "google",
            vec![],
            None,
            "auth:startSignInWithGoogle",
            r#"{"redirectTo":"https://app.example/login"}"#,
        ),
        (
            "apple",
            vec![],
            None,
            "auth:startSignInWithApple",
            r#"{"redirectTo":"https://app.example/login"}"#,
        ),
        ("anonymous", vec![], None, "auth:signInAnonymously", "{}"),
    ];
    for (i, (provider, params, kept, path, args)) in rows.into_iter().enumerate() {
        let mut w = signed_out_world(100 + i as u64);
        if let Some((key, value)) = kept {
            w.shared.insert(key, value.into());
        }
        sign_in_with(&mut w, 0, provider, &params);
        w.run_for(3_000.0);
        let sent = &w.tabs[0].sent;
        assert_eq!(sent.len(), 1, "row {i}: one request");
        let (kind, p, a, bearer) = last_sent(&w, 0);
        assert_eq!(kind, FunctionKind::Mutation, "row {i}");
        assert_eq!((p.as_str(), a.as_str()), (path, args), "row {i}");
        assert_eq!(bearer, None, "row {i}");
    }
}

#[test]
fn the_functions_option_renames_every_call() {
    let mut w = World::new(120);
    w.server.functions = [
        ("signInWithEmailPassword", "users:passwordSignIn"),
        ("refreshSession", "sessions:refresh"),
        ("signOut", "sessions:end"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    let t = w.open(Kind::Local, 0.0);
    w.run_for(100.0);
    let c = w.sign_in(t);
    w.run_for(1_000.0);
    assert!(signed_in(&w, c));
    assert_eq!(last_sent(&w, t).1, "users:passwordSignIn");
    w.run_for(60_000.0);
    assert_eq!(w.server.stats.rotations, 1);
    assert_eq!(last_sent(&w, t).1, "sessions:refresh");
    w.call(t, Call::SignOut);
    w.run_for(1_000.0);
    assert_eq!(last_sent(&w, t).1, "sessions:end");
    assert!(!w.server.sessions[0].alive);
}

#[test]
fn a_missing_function_is_an_invalid_options_error() {
    let mut w = signed_out_world(121);
    w.server.missing.push("auth:signInAnonymously".into());
    let c = sign_in_with(&mut w, 0, "anonymous", &[]);
    w.run_for(1_000.0);
    let e = sign_in_error(&w, c);
    assert_eq!(e.code(), ErrorCode::InvalidOptions);
    assert!(e.message().contains("auth:signInAnonymously"), "{e}");
    assert!(e.message().contains("version") && e.message().contains("functions"));
    assert!(!w.state(0).is_authenticated);
    assert_eq!(w.tabs[0].errors(), [] as [ErrorCode; 0]);
}

/// API.md: a call the deployment does not know, "a v1 client on a v2 deployment or the reverse",
/// rejects with `InvalidOptions` (both backends name the missing function).
#[test]
fn a_v1_client_on_a_v2_deployment_is_an_invalid_options_error() {
    let mut w = World::new(122);
    w.server.v1_clients = true;
    w.open(Kind::Local, 0.0);
    w.run_for(100.0);
    let c = w.sign_in(0);
    w.run_for(1_000.0);
    assert_eq!(sign_in_error(&w, c).code(), ErrorCode::InvalidOptions);
}

// ---------------------------------------------------------------------------------------------
// 2. Email links: the browser secret
// ---------------------------------------------------------------------------------------------

#[test]
fn sign_up_keeps_the_browser_secret_until_the_code_is_right() {
    let mut w = signed_out_world(130);
    let email = ("email", "ann@example.com");
    let c = sign_in_with(
        &mut w,
        0,
        "password",
        &[email, ("password", "pw"), ("flow", "signUp")],
    );
    w.run_for(1_000.0);
    assert_eq!(
        w.outcome(c),
        Some(Outcome::SignIn(Ok(SignInOutcome {
            signing_in: false,
            redirect: None
        })))
    );
    assert_eq!(
        w.shared.get("signUpSecret").map(String::as_str),
        Some("bs1")
    );
    assert!(!w.state(0).is_authenticated);
    // A mistyped code: rejected with the server's code, the secret kept.
    let verify = |code| [("code", code), ("flow", "email-verification")];
    let c = sign_in_with(&mut w, 0, "password", &verify("code9"));
    w.run_for(1_000.0);
    let e = sign_in_error(&w, c);
    assert_eq!(e.code(), ErrorCode::UserError);
    assert_eq!(e.code_name(), "INCORRECT_CODE");
    assert_eq!(
        last_sent(&w, 0).2,
        r#"{"emailCode":"code9","browserSecret":"bs1"}"#
    );
    assert_eq!(
        w.shared.get("signUpSecret").map(String::as_str),
        Some("bs1")
    );
    // The right one: signed in, the secret removed.
    let c = sign_in_with(&mut w, 0, "password", &verify("code1"));
    w.run_for(1_000.0);
    assert!(signed_in(&w, c));
    assert!(w.state(0).is_authenticated);
    assert_eq!(w.state(0).user_id.as_deref(), Some("ann"));
    assert!(!w.shared.contains_key("signUpSecret"));
    // With no secret kept, the verification cannot be sent.
    let sent = w.server.stats.requests;
    let c = sign_in_with(&mut w, 0, "password", &verify("code1"));
    w.run_for(1_000.0);
    assert_eq!(sign_in_error(&w, c).code_name(), "MISSING_SECRET");
    assert_eq!(w.server.stats.requests, sent);
    assert!(w.state(0).is_authenticated, "the session is kept");
}

#[test]
fn password_recovery_keeps_the_browser_secret_until_the_code_is_right() {
    let mut w = signed_out_world(131);
    let c = sign_in_with(
        &mut w,
        0,
        "password",
        &[("email", "u1@example.com"), ("flow", "reset")],
    );
    w.run_for(1_000.0);
    assert!(!signed_in(&w, c));
    assert_eq!(
        w.shared.get("recoverySecret").map(String::as_str),
        Some("bs1")
    );
    assert!(!w.shared.contains_key("signUpSecret"));
    let verify = |code| {
        [
            ("code", code),
            ("newPassword", "pw2"),
            ("flow", "reset-verification"),
        ]
    };
    let c = sign_in_with(&mut w, 0, "password", &verify("nope"));
    w.run_for(1_000.0);
    assert_eq!(sign_in_error(&w, c).code_name(), "INCORRECT_CODE");
    assert_eq!(
        w.shared.get("recoverySecret").map(String::as_str),
        Some("bs1")
    );
    let c = sign_in_with(&mut w, 0, "password", &verify("code1"));
    w.run_for(1_000.0);
    assert!(signed_in(&w, c));
    assert!(!w.shared.contains_key("recoverySecret"));
    assert_eq!(
        last_sent(&w, 0).2,
        r#"{"emailCode":"code1","browserSecret":"bs1","newPassword":"pw2"}"#
    );
}

// ---------------------------------------------------------------------------------------------
// 3. OAuth
// ---------------------------------------------------------------------------------------------

/// Starts a GitHub sign-in in a fresh world: the flow is stored, the window navigated.
fn oauth_started(seed: u64) -> World {
    let mut w = signed_out_world(seed);
    let c = sign_in_with(
        &mut w,
        0,
        "github",
        &[("redirectTo", "https://app.example/after")],
    );
    w.run_for(1_000.0);
    let url = "https://idp.example/authorize?state=st1".to_owned();
    assert_eq!(
        w.outcome(c),
        Some(Outcome::SignIn(Ok(SignInOutcome {
            signing_in: false,
            redirect: Some(url.clone()),
        })))
    );
    assert_eq!(w.tabs[0].navigations, [url]);
    let flow = json::parse(&w.shared["verifier"]).expect("the flow is JSON");
    let field = |k| flow.get(k).and_then(|v| v.string());
    assert_eq!(field("providerName").as_deref(), Some("github"));
    assert_eq!(field("state").as_deref(), Some("st1"));
    assert_eq!(
        field("completeSignIn").as_deref(),
        Some("auth:completeSignInWithGithub")
    );
    // The page leaves.
    w.free(0);
    w
}

#[test]
fn oauth_start_then_the_code_completes_before_the_first_state() {
    let mut w = oauth_started(140);
    w.server.tickets.insert("ticket1".into(), "st1".into());
    let t = w.add_tab(Kind::Local, 0.0);
    w.tabs[t].code = Some("ticket1".into());
    w.feed(t, Input::Start);
    let ready = w.call(t, Call::Ready);
    let token = w.call(t, Call::Token { force: false });
    w.run_for(2_000.0);
    assert_eq!(
        w.tabs[t].url_params,
        [("convexAuthCode", Some("convexAuthError"))]
    );
    assert_eq!(
        last_sent(&w, t),
        (
            FunctionKind::Mutation,
            "auth:completeSignInWithGithub".into(),
            r#"{"code":"ticket1","state":"st1"}"#.into(),
            None
        )
    );
    assert_eq!(w.outcome(ready), Some(Outcome::Ready));
    assert_eq!(w.token_outcome(token), w.token(t));
    // The first state is already signed in; then the signedIn event.
    let events = &w.tabs[t].events;
    assert_eq!(events[0].0, AuthEventKind::Initialized);
    assert!(events[0].2.is_authenticated);
    assert_eq!(w.tabs[t].event_kinds()[1..], [AuthEventKind::SignedIn]);
    assert_eq!(w.state(t).user_id.as_deref(), Some("u1"));
    assert!(!w.shared.contains_key("verifier"), "the flow is taken");
}

#[test]
fn oauth_access_denied_is_an_error_event_and_removes_the_flow() {
    let mut w = oauth_started(141);
    let t = w.add_tab(Kind::Local, 0.0);
    w.tabs[t].url_error = Some("access_denied".into());
    w.feed(t, Input::Start);
    w.run_for(2_000.0);
    assert_eq!(
        w.tabs[t].event_kinds(),
        [AuthEventKind::Error, AuthEventKind::Initialized]
    );
    assert_eq!(w.tabs[t].error_names, ["ACCESS_DENIED"]);
    assert_eq!(w.tabs[t].errors(), [ErrorCode::UserError]);
    assert!(w.tabs[t].sent.is_empty(), "nothing sent");
    assert!(!w.state(t).is_authenticated);
    assert!(!w.shared.contains_key("verifier"), "the flow is removed");
}

#[test]
fn an_oauth_code_with_no_flow_is_invalid_flow() {
    let mut w = signed_out_world(142);
    let t = w.add_tab(Kind::Local, 0.0);
    w.tabs[t].code = Some("ticket1".into());
    w.feed(t, Input::Start);
    w.run_for(2_000.0);
    assert_eq!(w.tabs[t].error_names, ["INVALID_FLOW"]);
    assert!(w.tabs[t].sent.is_empty());
    assert!(!w.state(t).is_authenticated && !w.state(t).is_loading);
}

// ---------------------------------------------------------------------------------------------
// 4. Passkeys
// ---------------------------------------------------------------------------------------------

fn credential() -> Json {
    json::parse(
        r#"{"id":"cred1","rawId":"cred1","type":"public-key","response":{"clientDataJSON":"e30"}}"#,
    )
    .unwrap()
}

#[test]
fn passkey_register_then_authenticate() {
    let mut w = signed_out_world(150);
    // Register: a new user.
    w.tabs[0].ceremony = Some(Ok(credential()));
    let c = sign_in_with(&mut w, 0, "passkey", &[("username", "alice")]);
    w.run_for(3_000.0);
    assert!(signed_in(&w, c));
    let (register, options) = w.tabs[0].ceremonies[0].clone();
    assert!(register);
    assert_eq!(
        options.get("challenge").and_then(|c| c.string()).as_deref(),
        Some("Y2hhbGxlbmdl")
    );
    let cred = credential().to_json_string();
    assert_eq!(
        last_sent(&w, 0),
        (
            FunctionKind::Mutation,
            "auth:finishSignUpWithUsernamePasskey".into(),
            format!(r#"{{"username":"alice","response":{cred}}}"#),
            None
        )
    );
    assert_eq!(w.state(0).user_id.as_deref(), Some("alice"));
    // Authenticate: a known user; the finish carries the response only.
    w.tabs[0].ceremony = Some(Ok(credential()));
    let c = sign_in_with(&mut w, 0, "passkey", &[("username", "alice")]);
    w.run_for(3_000.0);
    assert!(signed_in(&w, c));
    assert!(!w.tabs[0].ceremonies[1].0);
    let (_, path, args, _) = last_sent(&w, 0);
    assert_eq!(path, "auth:finishSignInWithUsernamePasskey");
    assert_eq!(args, format!(r#"{{"response":{cred}}}"#));
}

#[test]
fn a_cancelled_passkey_ceremony_settles_the_sign_in() {
    let mut w = signed_out_world(151);
    // No scripted result: the user cancels (NotAllowedError).
    let c = sign_in_with(&mut w, 0, "passkey", &[("username", "bob")]);
    w.run_for(3_000.0);
    assert_eq!(sign_in_error(&w, c).code(), ErrorCode::PasskeyCancelled);
    assert_eq!(w.tabs[0].ceremonies.len(), 1);
    assert_eq!(w.tabs[0].sent.len(), 1, "no finish request");
    assert!(!w.state(0).is_authenticated);
}

// ---------------------------------------------------------------------------------------------
// 5. userError answers
// ---------------------------------------------------------------------------------------------

#[test]
fn a_user_error_rejects_with_the_server_code_and_data() {
    for code in ["INVALID_CREDENTIALS", "USER_NOT_FOUND", "RATE_LIMITED"] {
        let mut w = tabs_with_session(160, Kind::Local, 1);
        let before = w.token(0);
        w.server.reply = Reply::Error(code);
        let c = w.sign_in(0);
        w.run_for(1_000.0);
        let e = sign_in_error(&w, c);
        assert_eq!(e.code(), ErrorCode::UserError);
        assert_eq!(e.code_name(), code);
        let data = json::parse(&format!(r#"{{"error":"{code}"}}"#));
        assert_eq!(e.data(), data.as_ref());
        assert_eq!(w.token(0), before, "the session is kept");
        assert!(w.tabs[0].errors().is_empty(), "no error event");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. The user id
// ---------------------------------------------------------------------------------------------

#[test]
fn the_user_id_comes_from_the_bundle_and_survives_a_reload() {
    let mut w = signed_out_world(170);
    let c = sign_in_with(
        &mut w,
        0,
        "password",
        &[("email", "ann@example.com"), ("password", "pw")],
    );
    w.run_for(1_000.0);
    assert!(signed_in(&w, c));
    let s = w.state(0);
    assert_eq!(s.user_id.as_deref(), Some("ann"));
    assert_eq!(s.session_id.as_deref(), Some("s0"));
    assert_eq!(w.shared.get("userId").map(String::as_str), Some("s0|ann"));
    // A refresh keeps it (and writes it again, bound to the same session).
    w.run_for(60_000.0);
    assert_eq!(w.server.stats.rotations, 1);
    assert_eq!(w.state(0).user_id.as_deref(), Some("ann"));
    assert_eq!(w.shared.get("userId").map(String::as_str), Some("s0|ann"));
    // Reload: a new client on the same storage knows the user with no request.
    w.free(0);
    let requests = w.server.stats.requests;
    let t = w.open(Kind::Local, 0.0);
    w.run_for(1_000.0);
    assert!(w.state(t).is_authenticated);
    assert_eq!(w.state(t).user_id.as_deref(), Some("ann"));
    assert_eq!(w.server.stats.requests, requests);
    // Signing out removes it.
    w.call(t, Call::SignOut);
    w.run_for(1_000.0);
    assert!(!w.shared.contains_key("userId"));
}

#[test]
fn a_session_with_no_bound_user_id_reports_none_never_the_sub() {
    for stored in [None, Some("s9|u7"), Some("s0|"), Some("u1")] {
        let mut w = World::new(171);
        w.store_session(0.0);
        match stored {
            Some(v) => w.shared.insert("userId", v.into()),
            None => w.shared.remove("userId"),
        };
        let t = w.open(Kind::Local, 0.0);
        w.run_for(1_000.0);
        let s = w.state(t);
        assert!(s.is_authenticated, "{stored:?}");
        assert_eq!(s.session_id.as_deref(), Some("s0"));
        assert_eq!(s.user_id, None, "{stored:?}");
        assert!(w.tabs[t].events.iter().all(|e| e.2.user_id.is_none()));
        // The next refresh's bundle names the user.
        w.run_for(60_000.0);
        assert_eq!(w.server.stats.rotations, 1);
        assert_eq!(w.state(t).user_id.as_deref(), Some("u1"), "{stored:?}");
        assert_eq!(w.shared.get("userId").map(String::as_str), Some("s0|u1"));
    }
}

/// A tab whose refresh finds, under the lock, the token another tab rotated adopts it with the
/// user id stored beside it (the read under the lock includes `Slot::UserId`): its state never
/// loses the user id.
#[test]
fn a_tab_adopting_another_tabs_rotation_keeps_the_user_id() {
    for kind in [Kind::Local, Kind::Encrypted] {
        let mut w = tabs_with_session(173, kind, 2);
        stays_signed_in_as(&mut w, 5.0 * 60_000.0, 0, true);
    }
}

#[test]
fn another_tab_signing_in_as_another_user_replaces_the_user_id() {
    let mut w = tabs_with_session(172, Kind::Local, 2);
    assert_eq!(w.state(1).user_id.as_deref(), Some("u1"));
    let c = sign_in_with(
        &mut w,
        0,
        "password",
        &[("email", "bea@example.com"), ("password", "pw")],
    );
    w.run_for(1_000.0);
    assert!(signed_in(&w, c));
    for t in 0..2 {
        assert_eq!(w.state(t).session_id.as_deref(), Some("s1"), "tab {t}");
        assert_eq!(w.state(t).user_id.as_deref(), Some("bea"), "tab {t}");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Generations
// ---------------------------------------------------------------------------------------------

#[test]
fn a_stored_v1_session_is_discarded_by_a_v2_client() {
    for age_ms in [0.0, 3_590_000.0] {
        let mut w = World::new(180);
        let iat = ((w.now - age_ms) / 1000.0).floor() as i64;
        w.shared.insert("jwt", make_v1_jwt(iat, iat + 3600));
        w.shared.insert("rt", "rt1|s0".into());
        let t = w.open(Kind::Local, 0.0);
        let c = w.call(t, Call::Token { force: true });
        w.run_for(5_000.0);
        assert_eq!(w.server.stats.requests, 0, "nothing sent");
        assert_eq!(w.tabs[t].event_kinds(), [AuthEventKind::Initialized]);
        assert!(!w.state(t).is_authenticated);
        assert_eq!(w.token_outcome(c), None);
    }
}

#[test]
fn stored_v2_tokens_are_discarded_by_a_v1_client() {
    for age_ms in [0.0, 59_000.0] {
        let mut w = World::new(181);
        w.store_session(age_ms);
        w.server.v1_clients = true;
        let t = w.open(Kind::Local, 0.0);
        let c = w.call(t, Call::Token { force: true });
        w.run_for(5_000.0);
        assert_eq!(w.server.stats.requests, 0, "nothing sent");
        assert_eq!(w.tabs[t].event_kinds(), [AuthEventKind::Initialized]);
        assert!(!w.state(t).is_authenticated);
        assert_eq!(w.token_outcome(c), None);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Faults
// ---------------------------------------------------------------------------------------------

/// Runs `w` for `ms`, checking that every tab holds a session of `session` all along (sampled
/// every second).
fn stays_signed_in(w: &mut World, ms: f64, session: usize) {
    stays_signed_in_as(w, ms, session, false);
}

/// [`stays_signed_in`], and, when `check_user`, with its user `u1` known.
fn stays_signed_in_as(w: &mut World, ms: f64, session: usize, check_user: bool) {
    let until = w.now + ms;
    while w.now < until {
        w.run_for(1_000.0);
        for t in w.live() {
            let token = w.token(t).unwrap_or_else(|| panic!("tab {t} signed out"));
            assert_eq!(session_of(&token), session);
            if check_user {
                let user = w.state(t).user_id;
                assert_eq!(user.as_deref(), Some("u1"), "tab {t}: the user id is kept");
            }
        }
    }
}

#[test]
fn transient_faults_retry_and_never_sign_out() {
    for fault in [
        Fault::Lose,
        Fault::Status(503),
        Fault::Status(502),
        Fault::Timeout,
        Fault::Slow(14_000.0),
    ] {
        let mut w = tabs_with_session(190, Kind::Local, 1);
        w.script.push_back(fault);
        w.script.push_back(fault);
        stays_signed_in(&mut w, 5.0 * 60_000.0, 0);
        let stats = w.server.stats;
        assert!(stats.rotations >= 5, "{fault:?}: {stats:?}");
        assert_eq!(stats.no_session, 0, "{fault:?}");
        assert!(w.tabs[0].errors().iter().all(|e| matches!(
            e,
            ErrorCode::Network | ErrorCode::Timeout | ErrorCode::Server
        )));
        assert!(w.token(0).is_some());
    }
}

/// The server applied the rotation but its answer never arrived: the client presents the
/// redeemed parent again, gets another child, and the next rotation redeems that child.
#[test]
fn a_lost_refresh_answer_is_recovered_with_the_redeemed_parent() {
    let mut w = tabs_with_session(191, Kind::Local, 1);
    let first = rt_of(&w);
    w.script.push_back(Fault::Lose);
    w.run_for(50_000.0);
    let refreshes: Vec<String> = w
        .server
        .log
        .iter()
        .filter(|r| r.path == "auth:refreshSession")
        .map(|r| r.args.get("refreshToken").unwrap().string().unwrap())
        .collect();
    assert_eq!(
        refreshes,
        [first.clone(), first],
        "the parent presented twice"
    );
    assert_eq!(w.server.stats.rotations, 1);
    assert_eq!(w.server.stats.recoveries, 1);
    assert_eq!(w.tabs[0].errors(), [ErrorCode::Network]);
    stays_signed_in(&mut w, 10.0 * 60_000.0, 0);
    assert_eq!(w.server.stats.no_session, 0);
    assert!(w.server.stats.rotations >= 10);
}

/// Two answers lost in a row are recovered too; a re-presentation finding three unredeemed
/// children, the oldest over 5 s old, is the server's limit (PROTOCOL-V2.md §7), a definitive
/// end.
#[test]
fn lost_answers_are_recovered_up_to_the_servers_limit() {
    let mut w = tabs_with_session(192, Kind::Local, 1);
    w.script.extend([Fault::Lose, Fault::Lose]);
    stays_signed_in(&mut w, 5.0 * 60_000.0, 0);
    assert_eq!(w.server.stats.recoveries, 2);
    assert_eq!(w.server.stats.limit_revocations, 0);
    let mut w = tabs_with_session(193, Kind::Local, 1);
    w.script.extend([Fault::Lose; 6]);
    w.allow_signout = true;
    w.run_for(2.0 * 60_000.0);
    let stats = w.server.stats;
    assert_eq!(stats.limit_revocations, 1, "{stats:?}");
    assert_eq!(stats.rotations, 1, "{stats:?}");
    assert!(stats.recoveries >= 2, "{stats:?}");
    assert!(!w.state(0).is_authenticated);
    assert!(!w.shared.contains_key("rt"));
}

#[test]
fn offline_longer_than_a_token_then_online() {
    let mut w = tabs_with_session(194, Kind::Local, 2);
    w.set_offline(true);
    stays_signed_in(&mut w, 5.0 * 60_000.0, 0);
    assert_eq!(w.server.stats.rotations, 0);
    w.set_offline(false);
    w.run_for(5_000.0);
    assert_eq!(w.server.stats.rotations, 1, "one rotation for both tabs");
    assert_eq!(w.server.stats.refreshes, 1);
    for t in 0..2 {
        let token = w.token(t).unwrap();
        assert!(claims(&token).exp as f64 * 1000.0 > w.now + 50_000.0);
    }
    stays_signed_in(&mut w, 5.0 * 60_000.0, 0);
}

#[test]
fn a_device_clock_an_hour_off_changes_nothing() {
    for skew in [HOUR, -HOUR] {
        let mut w = World::new(195);
        w.store_session(0.0);
        w.open(Kind::Local, skew);
        w.open(Kind::Local, 0.0);
        w.run_for(1_000.0);
        stays_signed_in(&mut w, 20.0 * 60_000.0, 0);
        let stats = w.server.stats;
        // 60-second tokens due 15 s before expiry: one rotation every 45 s or so.
        assert!((24..=28).contains(&stats.rotations), "{skew}: {stats:?}");
        assert_eq!(stats.refreshes, stats.rotations, "{skew}");
        assert_eq!(stats.recoveries, 0);
    }
}

/// 2, 4 and 8 tabs (of localStorage and of an encrypted store) × 20 rotations of 60-second
/// tokens: one `refreshSession` per rotation, nobody signed out.
#[test]
fn tabs_rotate_sixty_second_tokens_once_each() {
    for kind in [Kind::Local, Kind::Encrypted] {
        for n in [2, 4, 8] {
            let mut w = tabs_with_session(196 + n as u64, kind, n);
            let mut last = 0;
            while w.server.stats.rotations < 20 {
                stays_signed_in(&mut w, 5_000.0, 0);
                assert!(w.now - sim::T0 < 20.0 * 60_000.0, "{kind:?} {n}: too slow");
                last = w.server.stats.rotations;
            }
            stays_signed_in(&mut w, 1_000.0, 0);
            let stats = w.server.stats;
            assert_eq!(
                stats.refreshes, stats.rotations,
                "{kind:?} × {n}: {stats:?}"
            );
            assert_eq!(stats.recoveries + stats.no_session, 0, "{kind:?} × {n}");
            assert!(last >= 20);
            for t in 0..n {
                assert!(w.tabs[t].errors().is_empty(), "{kind:?} × {n}: tab {t}");
            }
        }
    }
}

#[test]
fn password_recovery_elsewhere_signs_out_at_the_next_refresh() {
    let mut w = tabs_with_session(200, Kind::Local, 2);
    let now = w.now;
    // Another device recovers the password of u1: the server revokes u1's sessions.
    let start = |name: &str, args: Vec<(&str, Option<Json>)>| Request {
        kind: FunctionKind::Mutation,
        path: format!("auth:{name}"),
        args: Json::object(args),
        bearer: None,
    };
    let text = |s: &str| Some(Json::from_string(s.into()));
    w.server.serve(
        &start(
            "startPasswordRecovery",
            vec![("email", text("u1@example.com"))],
        ),
        now,
    );
    let (status, _, _) = w.server.serve(
        &start(
            "completePasswordRecovery",
            vec![
                ("emailCode", text("code1")),
                ("browserSecret", text("bs1")),
                ("newPassword", text("pw2")),
            ],
        ),
        now,
    );
    assert_eq!(status, 200);
    assert!(!w.server.sessions[0].alive);
    w.allow_signout = true;
    // The JWT stays valid until its refresh, which answers noSession.
    w.run_for(30_000.0);
    assert!(w.state(0).is_authenticated && w.state(1).is_authenticated);
    w.run_for(30_000.0);
    assert_eq!(w.server.stats.no_session, 1, "one refresh, for both tabs");
    for t in 0..2 {
        assert!(!w.state(t).is_authenticated, "tab {t}");
        assert!(w.tabs[t].event_kinds().contains(&AuthEventKind::SignedOut));
    }
    assert!(!w.shared.contains_key("jwt") && !w.shared.contains_key("rt"));
    assert!(!w.shared.contains_key("userId"));
}

#[test]
fn sign_out_sends_the_refresh_token_and_no_bearer() {
    let mut w = tabs_with_session(201, Kind::Local, 2);
    let rt = rt_of(&w);
    let c = w.call(1, Call::SignOut);
    w.run_for(1_000.0);
    assert_eq!(w.outcome(c), Some(Outcome::SignedOut));
    assert_eq!(
        last_sent(&w, 1),
        (
            FunctionKind::Mutation,
            "auth:signOut".into(),
            format!(r#"{{"refreshToken":"{rt}"}}"#),
            None
        )
    );
    assert_eq!(w.server.stats.sign_outs, 1);
    assert!(!w.server.sessions[0].alive);
    for t in 0..2 {
        assert!(!w.state(t).is_authenticated, "tab {t}");
    }
    assert!(w.shared.is_empty(), "{:?}", w.shared);
}

// ---------------------------------------------------------------------------------------------
// 9. Random interleavings
// ---------------------------------------------------------------------------------------------

/// 300 random worlds of the v2 deployment (tokens of 1, 1 and 5 minutes), with the invariants
/// of `tests/machine.rs`'s property test (`sim::random_world`), v2's limit of unredeemed
/// children counting as a definitive answer of the server.
#[test]
fn random_interleavings_keep_the_invariants() {
    sim::random_worlds::<Server>("machine_v2", 300, &[60, 60, 300]);
}

//! Deterministic simulations of the session machine (`core::machine`) on a fake clock.
//!
//! A [`World`] is a browser as the executor sees it: tabs (each a [`Machine`]), one shared
//! key-value storage with its `storage` events, the hand-over copy, a FIFO Web Lock that may
//! never be granted, per-tab timers, per-tab device clocks (skew), and a fake Convex Auth v1
//! server that mints JWTs with its own clock and rotates refresh tokens as `@convex-dev/auth`
//! 0.0.x does (a reused parent of the active token is answered with the active child; another
//! reuse within 10 s mints a sibling; later reuse ends the session). The network can lose
//! answers, answer 5xx, be slow, time out, or be offline.
//!
//! Every completion is an event with a delivery time; the scheduler moves the clock to the next
//! one. In random mode it picks among the events that are ready in a random order (storage and
//! event deliveries stay FIFO per tab, as in a browser), which gives one interleaving per seed.
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

use std::collections::{BTreeMap, HashMap, VecDeque};

use convex_auth_wasm::core::json;
use convex_auth_wasm::core::jwt;
use convex_auth_wasm::core::machine::{
    Call, CallerId, Command, Config, Input, Machine, Op, Outcome, Request, SignInOutcome, Slot,
    Stored, Timer, LOCK_TIMEOUT_MS, REQUEST_TIMEOUT_MS,
};
use convex_auth_wasm::{AuthEventKind, AuthState, Error, ErrorCode};

// ---------------------------------------------------------------------------------------------
// Randomness and tokens
// ---------------------------------------------------------------------------------------------

/// SplitMix64: small, seeded, good enough for schedules and faults.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x9E37_79B9_7F4A_7C15)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// Unpadded base64url.
fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
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
}

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

fn claims(token: &str) -> jwt::Claims {
    jwt::decode(token).expect("a Convex Auth JWT")
}

/// The session index of a token minted by [`Server`].
fn session_of(token: &str) -> usize {
    claims(token)
        .session_id
        .trim_start_matches('s')
        .parse()
        .expect("s<n>")
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
/// Server (true) time at the start of every world: 2023-11-14.
const T0: f64 = 1_700_000_000_000.0;
const HOUR: f64 = 3_600_000.0;

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

/// What serving a request did.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Served {
    /// A refresh token was consumed; `early`: before the JWT minted with it was due (or a
    /// second child of one token), i.e. a second rotation within one token lifetime.
    Rotation {
        session: usize,
        early: bool,
    },
    Definitive,
    Other,
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
        let params = request.params.clone().unwrap_or_default();
        let param = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        match request.path {
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
                if let Some(rt) = &request.refresh_token {
                    let (body, served) = self.refresh(rt, now);
                    let status = if body.contains(r#""status":"error""#) {
                        560
                    } else {
                        200
                    };
                    return (status, body, served);
                }
                if request.provider.is_none() {
                    self.stats.exchanges += 1;
                    self.exchange_verifiers.push(request.verifier.clone());
                    let code = param("code").unwrap_or_default();
                    return match self.codes.get(&code) {
                        Some(v) if *v == request.verifier => {
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
// The world
// ---------------------------------------------------------------------------------------------

/// The storage a tab's client is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `localStorage`: shared, `storage` events, the hand-over copy, the lock.
    Local,
    /// `sessionStorage` or memory: one tab's own.
    Private,
    /// An encrypted IndexedDB store: shared, the lock, writes announced (no `storage` events).
    Encrypted,
}

impl Kind {
    fn config(self, seed: u64) -> Config {
        let base = Config {
            seed,
            ..Config::local_storage()
        };
        match self {
            Kind::Local => base,
            Kind::Private => Config {
                shared: false,
                handover: false,
                ..base
            },
            Kind::Encrypted => Config {
                shared: true,
                handover: false,
                announce: true,
                ..base
            },
        }
    }
}

/// What happens to the next request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// Reaches the server; the answer is lost (a `Network` error).
    Lose,
    /// A proxy answers this status; the server never sees the request.
    Status(u16),
    /// Reaches the server; no answer within `REQUEST_TIMEOUT_MS`.
    Timeout,
    /// Reaches the server; the answer takes this long (a `Timeout` beyond the limit).
    Slow(f64),
}

type Map = BTreeMap<&'static str, String>;

fn key(slot: Slot) -> &'static str {
    match slot {
        Slot::Jwt => "jwt",
        Slot::RefreshToken => "rt",
        Slot::Verifier => "verifier",
    }
}

/// A write command as the slots it writes, in order (`None` removes), and the hand-over copy.
type Writes = (Op, Vec<(Slot, Option<String>)>, Option<Option<String>>);

fn writes(command: &Command) -> Option<Writes> {
    match command {
        Command::Persist {
            op,
            jwt,
            refresh_token,
            copy,
        } => Some((
            *op,
            vec![
                (Slot::Jwt, jwt.clone()),
                (Slot::RefreshToken, refresh_token.clone()),
            ],
            copy.then(|| jwt.clone()),
        )),
        Command::WriteVerifier { op, verifier } => {
            Some((*op, vec![(Slot::Verifier, verifier.clone())], None))
        }
        _ => None,
    }
}

fn timer_index(t: Timer) -> usize {
    match t {
        Timer::Due => 0,
        Timer::Backoff => 1,
        Timer::Distinct => 2,
    }
}

struct Tab {
    m: Machine,
    kind: Kind,
    /// Device clock minus server clock.
    skew: f64,
    /// Armed timers: deadline (world time) and arming sequence.
    timers: [Option<(f64, u64)>; 3],
    /// A `Private` tab's own storage.
    own: Option<Map>,
    /// The private map after `UseMemory`.
    memory: Option<Map>,
    /// Every storage operation fails (until `UseMemory`).
    failing: bool,
    /// What the next `TakeCode` finds in the URL.
    code: Option<String>,
    /// `(kind, error code, state after)` of every `Notify` with an event.
    events: Vec<(AuthEventKind, Option<ErrorCode>, AuthState)>,
    navigations: Vec<String>,
    /// The token of this tab's last `Token` outcome (what its Convex client holds).
    last_token: Option<String>,
    /// The token of a minting answer (to a sign-in or refresh) being handed to the machine.
    minting: Option<String>,
    /// The write that stores such a token: once done, the token is current, measured.
    minted_write: Option<Op>,
    /// Whether the machine made a token minted for it current: then it knows the clock's
    /// offset. (A token equal to one minted for it but read from storage does not count.)
    measured: bool,
    /// Its last wait for the lock timed out: it refreshes without the lock.
    unlocked: bool,
    /// It could not know its clock's offset when its last refresh attempt began (took the lock).
    blind: bool,
    /// World time and whether it was a refresh, of every request sent.
    requests: Vec<(f64, bool)>,
    use_memory: Vec<(Option<String>, Option<String>)>,
}

impl Tab {
    fn freed(&self) -> bool {
        self.m.is_freed()
    }
    fn event_kinds(&self) -> Vec<AuthEventKind> {
        self.events.iter().map(|e| e.0).collect()
    }
    fn errors(&self) -> Vec<ErrorCode> {
        self.events.iter().filter_map(|e| e.1).collect()
    }
    fn refreshes_sent(&self) -> Vec<f64> {
        self.requests.iter().filter(|r| r.1).map(|r| r.0).collect()
    }
}

struct CallerRec {
    tab: usize,
    call: Call,
    /// The tab's last `Token` outcome when the call was made.
    held: Option<String>,
    outcome: Option<Outcome>,
    settles: u32,
}

enum Ev {
    Input(usize, Input),
    /// An answer that carries freshly minted tokens.
    Minted(usize, Input),
    Storage(usize, Command),
    Server {
        tab: usize,
        op: Op,
        request: Request,
        /// When the answer arrives, and whether it is lost; `None`: timed out already.
        reply: Option<(f64, bool)>,
        /// A rotation by this request may come early: sent with a forced call waiting, by a tab
        /// that could not know its clock's offset when it decided to refresh or that waited for
        /// the lock in vain, or a zombie.
        excused: bool,
        /// The request reaches the server after its client gave up on it (timed out, or freed):
        /// the lock was released meanwhile and its answer goes nowhere.
        zombie: bool,
    },
    LockTimeout(usize, Op),
}

struct Queued {
    at: f64,
    seq: u64,
    /// Events of one channel are delivered in order.
    chan: Option<(usize, u8)>,
    ev: Ev,
}

const CHAN_STORAGE: u8 = 0;
const CHAN_EVENTS: u8 = 1;

#[derive(Default)]
struct Lock {
    /// The tab holding the lock, the operation it was granted to, and since when.
    holder: Option<(usize, Op, f64)>,
    queue: VecDeque<(usize, Op)>,
    /// Never granted: every request times out.
    never: bool,
    grants: u64,
    timeouts: u64,
    bad_releases: u64,
    max_hold_ms: f64,
}

struct World {
    seed: u64,
    now: f64,
    /// Total time slept (clock jumps).
    slept: f64,
    seq: u64,
    rng: Rng,
    /// Pick among ready events at random.
    random: bool,
    tabs: Vec<Tab>,
    queue: Vec<Queued>,
    chan_at: HashMap<(usize, u8), f64>,
    shared: Map,
    copy: Option<String>,
    /// Every write to the shared storage: tab, key, value.
    writes: Vec<(usize, &'static str, Option<String>)>,
    lock: Lock,
    server: Server,
    offline: bool,
    script: VecDeque<Fault>,
    /// Probability of a random fault per request.
    p_fault: f64,
    net_ms: (f64, f64),
    storage_ms: (f64, f64),
    callers: HashMap<CallerId, CallerRec>,
    next_caller: CallerId,
    /// A sign-out call or a scripted definitive rejection happened: users may be signed out.
    allow_signout: bool,
    /// Check invariant (b) at every rotation.
    check_double: bool,
    steps: u64,
    trace: bool,
}

impl World {
    fn new(seed: u64) -> World {
        World {
            seed,
            now: T0,
            slept: 0.0,
            seq: 0,
            rng: Rng::new(seed),
            random: false,
            tabs: Vec::new(),
            queue: Vec::new(),
            chan_at: HashMap::new(),
            shared: Map::new(),
            copy: None,
            writes: Vec::new(),
            lock: Lock::default(),
            server: Server::new(),
            offline: false,
            script: VecDeque::new(),
            p_fault: 0.0,
            net_ms: (30.0, 250.0),
            storage_ms: (0.0, 4.0),
            callers: HashMap::new(),
            next_caller: 0,
            allow_signout: false,
            check_double: true,
            steps: 0,
            trace: std::env::var("SIM_TRACE").is_ok(),
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "seed {}: {what} (at {:.3} s; replay: SIM_SEED={} SIM_TRACE=1)",
            self.seed,
            (self.now - T0) / 1000.0,
            self.seed
        )
    }

    fn log(&self, line: impl FnOnce() -> String) {
        if self.trace {
            println!("{:>12.3} {}", (self.now - T0) / 1000.0, line());
        }
    }

    // ---- tabs ----

    fn add_tab(&mut self, kind: Kind, skew: f64) -> usize {
        let i = self.tabs.len();
        let config = kind.config(self.seed.wrapping_mul(31).wrapping_add(i as u64));
        self.tabs.push(Tab {
            m: Machine::new(config),
            kind,
            skew,
            timers: [None; 3],
            own: (kind == Kind::Private).then(Map::new),
            memory: None,
            failing: false,
            code: None,
            events: Vec::new(),
            navigations: Vec::new(),
            last_token: None,
            minting: None,
            minted_write: None,
            measured: false,
            unlocked: false,
            blind: false,
            requests: Vec::new(),
            use_memory: Vec::new(),
        });
        i
    }

    fn open(&mut self, kind: Kind, skew: f64) -> usize {
        let i = self.add_tab(kind, skew);
        self.feed(i, Input::Start);
        i
    }

    fn live(&self) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&i| !self.tabs[i].freed())
            .collect()
    }

    fn state(&self, tab: usize) -> AuthState {
        self.tabs[tab].m.state()
    }

    fn token(&self, tab: usize) -> Option<String> {
        self.tabs[tab].m.token().map(str::to_owned)
    }

    fn call(&mut self, tab: usize, call: Call) -> CallerId {
        self.next_caller += 1;
        let id = self.next_caller;
        if call == Call::SignOut {
            self.allow_signout = true;
        }
        self.callers.insert(
            id,
            CallerRec {
                tab,
                call: call.clone(),
                held: self.tabs[tab].last_token.clone(),
                outcome: None,
                settles: 0,
            },
        );
        self.log(|| format!("tab {tab} call {id}: {call:?}"));
        self.feed(tab, Input::Call { caller: id, call });
        id
    }

    fn sign_in(&mut self, tab: usize) -> CallerId {
        self.call(
            tab,
            Call::SignIn {
                provider: Some("password".into()),
                params: vec![
                    ("email".into(), "u1@example.com".into()),
                    ("password".into(), "hunter2".into()),
                    ("flow".into(), "signIn".into()),
                ],
            },
        )
    }

    fn outcome(&self, caller: CallerId) -> Option<Outcome> {
        self.callers[&caller].outcome.clone()
    }

    fn token_outcome(&self, caller: CallerId) -> Option<String> {
        match self.outcome(caller) {
            Some(Outcome::Token(t)) => t,
            other => panic!("caller {caller}: not a token outcome: {other:?}"),
        }
    }

    fn free(&mut self, tab: usize) {
        self.feed(tab, Input::Free);
        // The executor releases what the machine can no longer release: a grant still on its
        // way, and the queued lock requests.
        self.lock.queue.retain(|(t, _)| *t != tab);
        if self.lock.holder.is_some_and(|(t, _, _)| t == tab) {
            self.lock.holder = None;
            self.pump_lock();
        }
    }

    /// Creates a session on the server and stores it, as an earlier page load would have.
    fn store_session(&mut self, age_ms: f64) -> (String, String) {
        let (token, rt) = self.server.create_session("u1", self.now - age_ms);
        self.shared.insert("jwt", token.clone());
        self.shared.insert("rt", rt.clone());
        (token, rt)
    }

    fn set_offline(&mut self, offline: bool) {
        self.offline = offline;
        if !offline {
            for t in self.live() {
                let d = self.rng.range(0.0, 5.0);
                self.schedule(d, None, Ev::Input(t, Input::Online));
            }
        }
    }

    /// The device sleeps: the clock jumps, nothing runs meanwhile (timers resume late).
    /// Requests in flight fail on wake-up (an answer minted before the sleep and read
    /// after it would look minted at wake-up time); those still on their way never arrive.
    fn sleep(&mut self, ms: f64) {
        // Storage operations under way end first: localStorage is synchronous, and an answer is
        // stored in the task that reads it.
        let mut guard = 0;
        while self.queue.iter().any(|q| matches!(q.ev, Ev::Storage(..))) && guard < 1_000 {
            self.step(f64::INFINITY);
            guard += 1;
        }
        self.log(|| format!("sleep {:.1} s", ms / 1000.0));
        self.now += ms;
        self.slept += ms;
        // A request that timed out already has its `Unreachable` queued.
        self.queue
            .retain(|q| !matches!(q.ev, Ev::Server { reply: None, .. }));
        for q in &mut self.queue {
            q.at += ms;
            let failed = match &q.ev {
                Ev::Minted(tab, Input::Answered { op, .. })
                | Ev::Input(tab, Input::Answered { op, .. })
                | Ev::Server { tab, op, .. } => Some((*tab, *op)),
                _ => None,
            };
            if let Some((tab, op)) = failed {
                let error = Error::new(ErrorCode::Network, "Failed to fetch");
                q.ev = Ev::Input(tab, Input::Unreachable { op, error });
            }
        }
        for at in self.chan_at.values_mut() {
            *at += ms;
        }
        for t in &mut self.tabs {
            for (deadline, _) in t.timers.iter_mut().flatten() {
                *deadline += ms;
            }
        }
    }

    // ---- the machine ----

    fn feed(&mut self, tab: usize, input: Input) {
        self.steps += 1;
        self.log(|| format!("tab {tab} <- {input:?}"));
        let t = &mut self.tabs[tab];
        let was_freed = t.m.is_freed();
        let was_authenticated = t.m.state().is_authenticated;
        t.m.handle(self.now + t.skew, input);
        let commands = t.m.take_commands();
        if was_freed && !commands.is_empty() {
            self.fail(format!("(d) tab {tab}: commands after Free: {commands:?}"));
        }
        for c in commands {
            self.exec(tab, c);
        }
        if was_authenticated && !self.state(tab).is_authenticated && !self.allow_signout {
            self.fail(format!(
                "(a) tab {tab} signed out with no definitive answer and no sign-out call"
            ));
        }
    }

    fn exec(&mut self, tab: usize, command: Command) {
        self.log(|| format!("tab {tab} -> {command:?}"));
        match command {
            Command::Read { .. } | Command::Persist { .. } | Command::WriteVerifier { .. } => {
                if let Some((op, entries, _)) = writes(&command) {
                    let t = &mut self.tabs[tab];
                    if t.minting.is_some() && entries.contains(&(Slot::Jwt, t.minting.clone())) {
                        t.minted_write = Some(op);
                    }
                }
                let d = self.rng.range(self.storage_ms.0, self.storage_ms.1);
                self.schedule(d, Some((tab, CHAN_STORAGE)), Ev::Storage(tab, command));
            }
            Command::UseMemory {
                jwt,
                refresh_token,
                verifier,
            } => {
                let mut map = Map::new();
                if let Some(v) = &verifier {
                    map.insert("verifier", v.clone());
                }
                if let Some(v) = &jwt {
                    map.insert("jwt", v.clone());
                }
                if let Some(v) = &refresh_token {
                    map.insert("rt", v.clone());
                }
                let t = &mut self.tabs[tab];
                t.memory = Some(map);
                t.use_memory.push((jwt, refresh_token));
            }
            Command::Announce => {
                for o in self.live() {
                    if o != tab && self.tabs[o].kind == Kind::Encrypted {
                        let d = self.rng.range(1.0, 20.0);
                        self.schedule(d, Some((o, CHAN_EVENTS)), Ev::Input(o, Input::TabAnnounced));
                    }
                }
            }
            Command::Request { op, request } => self.send(tab, op, request),
            Command::TakeCode { op } => {
                let code = self.tabs[tab].code.take();
                self.schedule(
                    0.0,
                    Some((tab, CHAN_STORAGE)),
                    Ev::Input(tab, Input::CodeTaken { op, code }),
                );
            }
            Command::Lock { op } => {
                let t = &mut self.tabs[tab];
                t.blind = t.skew != 0.0 && !t.measured;
                self.lock.queue.push_back((tab, op));
                self.schedule(LOCK_TIMEOUT_MS, None, Ev::LockTimeout(tab, op));
                self.pump_lock();
            }
            Command::Release { op } => match self.lock.holder {
                Some((t, held, since)) if t == tab && held == op => {
                    let held = (self.now - self.slept) - since;
                    self.lock.max_hold_ms = self.lock.max_hold_ms.max(held);
                    self.lock.holder = None;
                    self.pump_lock();
                }
                _ => self.lock.bad_releases += 1,
            },
            Command::SetTimer { timer, ms } => {
                if !(ms.is_finite() && ms >= 0.0) {
                    self.fail(format!("tab {tab}: timer {timer:?} armed for {ms} ms"));
                }
                self.seq += 1;
                self.tabs[tab].timers[timer_index(timer)] = Some((self.now + ms, self.seq));
            }
            Command::ClearTimer(timer) => self.tabs[tab].timers[timer_index(timer)] = None,
            Command::Navigate(url) => self.tabs[tab].navigations.push(url),
            Command::Notify { event, error, .. } => {
                if let Some(kind) = event {
                    let state = self.state(tab);
                    self.tabs[tab]
                        .events
                        .push((kind, error.map(|e| e.code()), state));
                }
            }
            Command::Settle { caller, outcome } => self.settle(tab, caller, outcome),
            Command::Trace(_) => {}
        }
    }

    fn settle(&mut self, tab: usize, caller: CallerId, outcome: Outcome) {
        let freed = self.tabs[tab].freed();
        let skew_unknown = self.tabs[tab].skew != 0.0 && !self.tabs[tab].measured;
        let now = self.now;
        let Some(c) = self.callers.get_mut(&caller) else {
            self.fail(format!("tab {tab}: settled unknown caller {caller}"));
        };
        c.settles += 1;
        let (settles, ctab, call, held) = (c.settles, c.tab, c.call.clone(), c.held.clone());
        c.outcome = Some(outcome.clone());
        if ctab != tab || settles > 1 {
            self.fail(format!(
                "caller {caller} of tab {ctab} settled {settles} times (now by tab {tab})"
            ));
        }
        if let (Call::Token { force: true }, Outcome::Token(Some(t))) = (&call, &outcome) {
            if held.as_ref() == Some(t) {
                self.fail(format!(
                    "(c) tab {tab}: forced Token call {caller} answered with the token it held"
                ));
            }
        }
        if let Outcome::Token(token) = &outcome {
            if !freed {
                if let Some(t) = token {
                    if (claims(t).exp as f64) * 1000.0 <= now && !skew_unknown {
                        self.fail(format!("tab {tab}: caller {caller} given an expired token"));
                    }
                }
                self.tabs[tab].last_token.clone_from(token);
            }
        }
    }

    // ---- executor ----

    fn schedule(&mut self, delay: f64, chan: Option<(usize, u8)>, ev: Ev) {
        let mut at = self.now + delay.max(0.0);
        if let Some(c) = chan {
            let last = self.chan_at.entry(c).or_insert(f64::MIN);
            at = at.max(*last);
            *last = at;
        }
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            chan,
            ev,
        });
    }

    fn pump_lock(&mut self) {
        if self.lock.never || self.lock.holder.is_some() {
            return;
        }
        if let Some((tab, op)) = self.lock.queue.pop_front() {
            self.lock.grants += 1;
            self.lock.holder = Some((tab, op, self.now - self.slept));
            self.tabs[tab].unlocked = false;
            let d = self.rng.range(0.0, 2.0);
            self.schedule(d, None, Ev::Input(tab, Input::Locked { op, granted: true }));
        }
    }

    fn send(&mut self, tab: usize, op: Op, request: Request) {
        self.tabs[tab]
            .requests
            .push((self.now, request.refresh_token.is_some()));
        let forced = self
            .callers
            .values()
            .any(|c| c.tab == tab && c.outcome.is_none() && c.call == Call::Token { force: true });
        let t = &self.tabs[tab];
        let excused = forced || (t.skew != 0.0 && !t.measured) || t.blind || t.unlocked;
        let lat = self.rng.range(self.net_ms.0, self.net_ms.1);
        if self.offline {
            let error = Error::new(ErrorCode::Network, "Failed to fetch");
            self.schedule(
                lat / 10.0,
                None,
                Ev::Input(tab, Input::Unreachable { op, error }),
            );
            return;
        }
        let fault = match self.script.pop_front() {
            Some(f) => Some(f),
            None if self.p_fault > 0.0 && self.rng.chance(self.p_fault) => {
                Some(match self.rng.below(5) {
                    0 => Fault::Lose,
                    1 => Fault::Status(503),
                    2 => Fault::Timeout,
                    3 => Fault::Slow(self.rng.range(1_000.0, 14_000.0)),
                    _ => Fault::Status(502),
                })
            }
            None => None,
        };
        let (total, lost) = match fault {
            Some(Fault::Status(status)) => {
                let input = Input::Answered {
                    op,
                    status,
                    body: None,
                };
                self.schedule(lat, None, Ev::Input(tab, input));
                return;
            }
            Some(Fault::Lose) => (lat, true),
            Some(Fault::Timeout) => (REQUEST_TIMEOUT_MS * 3.0, false),
            Some(Fault::Slow(ms)) => (ms, false),
            None => (lat, false),
        };
        let zombie = total / 2.0 > REQUEST_TIMEOUT_MS;
        let excused = excused || zombie;
        let reply = if total > REQUEST_TIMEOUT_MS {
            let error = Error::new(ErrorCode::Timeout, "The request timed out");
            self.schedule(
                REQUEST_TIMEOUT_MS,
                None,
                Ev::Input(tab, Input::Unreachable { op, error }),
            );
            None
        } else {
            Some((self.now + total, lost))
        };
        self.schedule(
            total / 2.0,
            None,
            Ev::Server {
                tab,
                op,
                request,
                reply,
                excused,
                zombie,
            },
        );
    }

    fn serve(
        &mut self,
        tab: usize,
        op: Op,
        request: Request,
        reply: Option<(f64, bool)>,
        excused: bool,
        zombie: bool,
    ) {
        let (status, body, served) = self.server.serve(&request, self.now);
        self.log(|| {
            let rt = request.refresh_token.as_deref().unwrap_or("-");
            format!(
                "server <- tab {tab} {} {rt}: {status} {served:?}",
                request.path
            )
        });
        match served {
            Served::Rotation {
                session,
                early: true,
            } if self.check_double && !excused => {
                self.fail(format!(
                    "(b) tab {tab} rotated session {session} twice within one token lifetime"
                ));
            }
            Served::Definitive
                if self.lock.never
                    || self.lock.timeouts > 0
                    || zombie
                    || self.server.stats.reuse_mints > 0 =>
            {
                // Without the lock (never granted, or not within `LOCK_TIMEOUT_MS`), tabs racing
                // may present a spent refresh token; a request that reaches the server after its
                // client gave up may present one too, or mint a second child after which the
                // first child's parent counts as reused. The server's reuse detection ends the
                // session: a definitive answer, as documented.
                self.allow_signout = true;
            }
            _ => {}
        }
        let Some((at, lost)) = reply else { return };
        let delay = at - self.now;
        if lost {
            let error = Error::new(ErrorCode::Network, "Failed to fetch");
            self.schedule(
                delay,
                None,
                Ev::Input(tab, Input::Unreachable { op, error }),
            );
        } else {
            let minted = body.contains("refreshToken");
            let input = Input::Answered {
                op,
                status,
                body: json::parse(&body),
            };
            let ev = if minted {
                Ev::Minted(tab, input)
            } else {
                Ev::Input(tab, input)
            };
            self.schedule(delay, None, ev);
        }
    }

    fn storage(&mut self, tab: usize, command: Command) -> Input {
        let t = &mut self.tabs[tab];
        let on_shared = t.memory.is_none() && t.own.is_none();
        let (op, failing) = match &command {
            Command::Read { op, .. }
            | Command::Persist { op, .. }
            | Command::WriteVerifier { op, .. } => (*op, t.failing && t.memory.is_none()),
            other => panic!("not a storage command: {other:?}"),
        };
        if failing {
            return Input::StorageFailed {
                op,
                message: "QuotaExceededError: the storage is gone".into(),
            };
        }
        let map = match (&mut t.memory, &mut t.own) {
            (Some(m), _) | (None, Some(m)) => m,
            (None, None) => &mut self.shared,
        };
        match command {
            Command::Read { slots, copy, .. } => {
                let get = |s: Slot| {
                    if slots.contains(&s) {
                        map.get(key(s)).cloned()
                    } else {
                        None
                    }
                };
                let values = Stored {
                    jwt: get(Slot::Jwt),
                    refresh_token: get(Slot::RefreshToken),
                    verifier: get(Slot::Verifier),
                    copy: if copy && on_shared {
                        self.copy.clone()
                    } else {
                        None
                    },
                };
                Input::Stored { op, values }
            }
            write @ (Command::Persist { .. } | Command::WriteVerifier { .. }) => {
                let Some((_, entries, copy)) = writes(&write) else {
                    unreachable!()
                };
                let mut changed = Vec::new();
                for (slot, value) in entries {
                    let old = match &value {
                        Some(v) => map.insert(key(slot), v.clone()),
                        None => map.remove(key(slot)),
                    };
                    if on_shared {
                        self.writes.push((tab, key(slot), value.clone()));
                        if slot == Slot::Jwt && old != value {
                            changed.push(value);
                        }
                    }
                }
                if on_shared {
                    if let Some(c) = copy {
                        self.copy = c;
                    }
                }
                if self.tabs[tab].kind == Kind::Local {
                    for value in changed {
                        for o in 0..self.tabs.len() {
                            if o != tab && self.tabs[o].kind == Kind::Local {
                                let d = self.rng.range(1.0, 30.0);
                                let input = Input::TabWrote(value.clone());
                                self.schedule(d, Some((o, CHAN_EVENTS)), Ev::Input(o, input));
                            }
                        }
                    }
                }
                Input::Written { op }
            }
            _ => unreachable!(),
        }
    }

    // ---- the scheduler ----

    fn next_at(&self) -> Option<f64> {
        let events = self.queue.iter().map(|q| q.at);
        let timers = self
            .tabs
            .iter()
            .flat_map(|t| t.timers.iter().flatten().map(|(at, _)| *at));
        events.chain(timers).min_by(f64::total_cmp)
    }

    /// Handles the next event due no later than `until`; `false` when there is none.
    fn step(&mut self, until: f64) -> bool {
        let Some(at) = self.next_at() else {
            return false;
        };
        if at > until {
            return false;
        }
        self.now = self.now.max(at);
        // Ready: events (the first of each channel) and timers.
        let mut ready: Vec<(f64, u64, Option<usize>, usize)> = Vec::new();
        for (i, q) in self.queue.iter().enumerate() {
            if q.at > self.now {
                continue;
            }
            let first = match q.chan {
                None => true,
                Some(c) => !self
                    .queue
                    .iter()
                    .any(|o| o.chan == Some(c) && (o.at, o.seq) < (q.at, q.seq)),
            };
            if first {
                ready.push((q.at, q.seq, None, i));
            }
        }
        for (ti, t) in self.tabs.iter().enumerate() {
            for (k, slot) in t.timers.iter().enumerate() {
                if let Some((deadline, seq)) = slot {
                    if *deadline <= self.now {
                        ready.push((*deadline, *seq, Some(ti), k));
                    }
                }
            }
        }
        let pick = if self.random {
            self.rng.below(ready.len() as u64) as usize
        } else {
            (0..ready.len())
                .min_by(|&a, &b| {
                    (ready[a].0, ready[a].1)
                        .partial_cmp(&(ready[b].0, ready[b].1))
                        .unwrap()
                })
                .unwrap()
        };
        let (_, _, timer_tab, index) = ready[pick];
        match timer_tab {
            Some(tab) => {
                self.tabs[tab].timers[index] = None;
                self.feed(tab, Input::TimerFired(Timer::ALL[index]));
            }
            None => {
                let q = self.queue.swap_remove(index);
                self.handle(q.ev);
            }
        }
        true
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Input(tab, input) => self.feed(tab, input),
            Ev::Minted(tab, input) => {
                if let Input::Answered { body: Some(b), .. } = &input {
                    self.tabs[tab].minting = b
                        .get("value")
                        .and_then(|v| v.get("tokens")?.get("token")?.string());
                }
                self.feed(tab, input);
                self.tabs[tab].minting = None;
            }
            Ev::Storage(tab, command) => {
                let input = self.storage(tab, command);
                let done = match input {
                    Input::Written { op } => self.tabs[tab].minted_write == Some(op),
                    _ => false,
                };
                self.feed(tab, input);
                if done {
                    let t = &mut self.tabs[tab];
                    t.minted_write = None;
                    t.measured = true;
                }
            }
            Ev::Server {
                tab,
                op,
                request,
                reply,
                excused,
                zombie,
            } => {
                // A freed client's request goes on without it (its lock released): a zombie.
                let zombie = zombie || self.tabs[tab].freed();
                self.serve(tab, op, request, reply, excused || zombie, zombie)
            }
            Ev::LockTimeout(tab, op) => {
                if let Some(i) = self.lock.queue.iter().position(|e| *e == (tab, op)) {
                    self.lock.queue.remove(i);
                    self.lock.timeouts += 1;
                    self.tabs[tab].unlocked = true;
                    self.feed(tab, Input::Locked { op, granted: false });
                }
            }
        }
    }

    fn run_until(&mut self, until: f64) {
        let mut at_same = 0u32;
        let mut last = self.now;
        while self.step(until) {
            if self.now == last {
                at_same += 1;
                if at_same > 50_000 {
                    self.fail("livelock: 50,000 events without the clock moving".into());
                }
            } else {
                at_same = 0;
                last = self.now;
            }
        }
        self.now = self.now.max(until);
    }

    fn run_for(&mut self, ms: f64) {
        self.run_until(self.now + ms);
    }

    /// Runs until `cond` holds (checked between events), at most `max_ms`.
    fn run_until_cond(&mut self, max_ms: f64, mut cond: impl FnMut(&World) -> bool) -> bool {
        let until = self.now + max_ms;
        loop {
            if cond(self) {
                return true;
            }
            if !self.step(until) {
                self.now = until;
                return cond(self);
            }
        }
    }
}

/// A world of `n` tabs of `kind` with a fresh stored session, all started and loaded.
fn tabs_with_session(seed: u64, kind: Kind, n: usize) -> World {
    let mut w = World::new(seed);
    w.store_session(0.0);
    for _ in 0..n {
        w.open(kind, 0.0);
    }
    w.run_for(1_000.0);
    for t in 0..n {
        assert!(w.state(t).is_authenticated && !w.state(t).is_loading);
    }
    w
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
    w.tabs.push(Tab {
        m: Machine::new(Config {
            storage_error: Some(Error::storage("SecurityError")),
            ..Kind::Local.config(9)
        }),
        kind: Kind::Local,
        skew: 0.0,
        timers: [None; 3],
        own: None,
        memory: Some(Map::new()),
        failing: true,
        code: None,
        events: Vec::new(),
        navigations: Vec::new(),
        last_token: None,
        minting: None,
        minted_write: None,
        measured: false,
        unlocked: false,
        blind: false,
        requests: Vec::new(),
        use_memory: Vec::new(),
    });
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
        w.tabs[other].timers = [None; 3];
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
    w.tabs[0].timers = [None; 3];
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

// ---------------------------------------------------------------------------------------------
// 10. Random interleavings
// ---------------------------------------------------------------------------------------------

#[derive(Default, Debug)]
struct Totals {
    worlds: u64,
    tabs: u64,
    events: u64,
    calls: u64,
    forced: u64,
    rotations: u64,
    recoveries: u64,
    lock_timeouts: u64,
    sign_outs: u64,
    storage_breaks: u64,
    sleeps: u64,
}

/// One random world: 1-4 tabs of one storage kind (some with a device clock up to an hour off),
/// maybe no lock at all, random faults, token lifetimes of 2 min to 1 h, 40 random actions (calls,
/// wake-ups, sign-outs and sign-ins, network loss, sleeps, tabs opened and freed, storage
/// breaking, the server ending the session) with random pauses; then the network heals.
fn random_world(seed: u64, totals: &mut Totals) {
    let mut r = Rng::new(seed.wrapping_add(7));
    let mut w = World::new(seed);
    w.random = true;
    let kind = match r.below(10) {
        0 => Kind::Private,
        1 | 2 => Kind::Encrypted,
        _ => Kind::Local,
    };
    let mut n = if kind == Kind::Private {
        1
    } else {
        1 + r.below(4) as usize
    };
    w.lock.never = kind != Kind::Private && r.chance(0.15);
    w.check_double = !w.lock.never;
    w.p_fault = if r.chance(0.4) {
        0.0
    } else {
        r.range(0.0, 0.5)
    };
    w.server.lifetime_s = [120, 600, 3600][r.below(3) as usize];
    let lifetime = w.server.lifetime_s as f64 * 1000.0;
    if r.chance(0.3) {
        w.net_ms = (20.0, r.range(100.0, 3_000.0));
    }
    let skew = |r: &mut Rng| match r.below(6) {
        0 => HOUR,
        1 => -HOUR,
        2 => r.range(-HOUR, HOUR),
        _ => 0.0,
    };
    // Start signed in (stored session, maybe due), or signed out.
    if r.chance(0.7) && kind != Kind::Private {
        let age = r.range(0.0, lifetime * 1.5);
        w.store_session(age);
    }
    for _ in 0..n {
        let s = skew(&mut r);
        w.open(kind, s);
        let d = r.range(0.0, 500.0);
        w.run_for(d);
    }
    if !w.state(0).is_authenticated || kind == Kind::Private {
        w.sign_in(0);
    }
    let actions = 40;
    // Storage breaks only in one-tab worlds: tabs of a shared session each on its own memory
    // present refresh tokens their peers spent.
    let mut broken = false;
    for _ in 0..actions {
        let live = w.live();
        let tab = live[r.below(live.len() as u64) as usize];
        match r.below(100) {
            0..=19 => {
                w.call(tab, Call::Token { force: false });
                totals.calls += 1;
            }
            20..=34 => {
                w.call(tab, Call::Token { force: true });
                totals.calls += 1;
                totals.forced += 1;
            }
            35..=41 => w.feed(tab, Input::TokenRead),
            42..=48 => w.feed(tab, Input::Focused),
            49..=51 => w.feed(tab, Input::Online),
            52..=53 => {
                w.call(tab, Call::SignOut);
                totals.sign_outs += 1;
            }
            54..=56 => {
                w.sign_in(tab);
            }
            57..=61 => {
                let off = !w.offline;
                w.set_offline(off);
            }
            62..=65 => {
                let ms = r.range(1_000.0, lifetime * 2.0);
                w.sleep(ms);
                totals.sleeps += 1;
            }
            66 if live.len() > 1 => w.free(tab),
            67..=68 if w.tabs.len() < 6 && kind != Kind::Private && !broken => {
                let s = skew(&mut r);
                w.open(kind, s);
                n += 1;
            }
            69 if n == 1 => {
                broken = true;
                w.tabs[tab].failing = true;
                totals.storage_breaks += 1;
            }
            70 => {
                // The server ends the session (an admin, another device signing out).
                if let Some(t) = w.token(tab) {
                    w.log(|| format!("server: session {} revoked", session_of(&t)));
                    w.server.revoke(session_of(&t));
                    w.allow_signout = true;
                }
            }
            _ => {}
        }
        let dt = match r.below(10) {
            0..=5 => r.range(0.0, 2_000.0),
            6..=8 => r.range(0.0, 30_000.0),
            _ => r.range(0.0, lifetime),
        };
        w.run_for(dt);
    }
    // Heal: the network comes back; every call is answered, every tab agrees.
    w.script.clear();
    w.p_fault = 0.0;
    w.set_offline(false);
    w.run_for(5.0 * 60_000.0);
    // Every tab holds the stored session; a tab may hold an older (valid) token of it: a
    // `storage` event carries the value of its own write, and two writes racing (no lock, or a
    // forced rotation right after another tab's) can reach a tab in the other order.
    let agree = |w: &World| {
        let stored = w.shared.get("jwt");
        w.live().iter().all(|&t| {
            let tab = &w.tabs[t];
            let same = match (tab.m.token(), stored) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    a == b
                        || (claims(a).session_id == claims(b).session_id
                            && claims(a).exp as f64 * 1000.0 > w.now)
                }
                _ => false,
            };
            tab.kind == Kind::Private || tab.memory.is_some() || same
        })
    };
    if !w.run_until_cond(60_000.0, agree) {
        let show = |t: Option<&String>| t.map(|t| (claims(t).session_id, claims(t).iat));
        let tabs: Vec<_> = (0..w.tabs.len())
            .map(|t| (t, w.tabs[t].freed(), show(w.token(t).as_ref())))
            .collect();
        w.fail(format!(
            "tabs disagree with the storage after healing: {tabs:?}, stored {:?}",
            show(w.shared.get("jwt"))
        ));
    }
    for (id, c) in &w.callers {
        if c.settles != 1 {
            w.fail(format!(
                "caller {id} of tab {} ({:?}) settled {} times",
                c.tab, c.call, c.settles
            ));
        }
    }
    if w.lock.bad_releases > 0 {
        w.fail("a Release without holding the lock".into());
    }
    if !w.lock.never && w.lock.max_hold_ms >= LOCK_TIMEOUT_MS {
        w.fail(format!("the lock was held {} ms", w.lock.max_hold_ms));
    }
    totals.worlds += 1;
    totals.tabs += w.tabs.len() as u64;
    totals.events += w.steps;
    totals.rotations += w.server.stats.rotations;
    totals.recoveries += w.server.stats.recoveries;
    totals.lock_timeouts += w.lock.timeouts;
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
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let worlds = std::env::var("SIM_WORLDS").map_or(2_000, |n| n.parse().unwrap());
            (0..worlds).collect()
        }
    };
    let mut totals = Totals::default();
    for seed in seeds {
        random_world(seed, &mut totals);
    }
    println!(
        "machine simulation: {} random interleavings (worlds) of {} tabs, {} events, {} calls \
         ({} forced), {} sign-outs, {} sleeps, {} storage breaks; server: {} rotations, {} \
         recoveries; {} lock timeouts; {:.2} s",
        totals.worlds,
        totals.tabs,
        totals.events,
        totals.calls,
        totals.forced,
        totals.sign_outs,
        totals.sleeps,
        totals.storage_breaks,
        totals.rotations,
        totals.recoveries,
        totals.lock_timeouts,
        started.elapsed().as_secs_f64()
    );
}

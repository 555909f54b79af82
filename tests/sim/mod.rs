//! The simulated browser shared by the session-machine simulations (`tests/machine.rs` for
//! Convex Auth v1, `tests/machine_v2.rs` for v2).
//!
//! A [`World`] is a browser as the executor sees it: tabs (each a [`Machine`]), one shared
//! key-value storage with its `storage` events, the hand-over copy, a FIFO Web Lock that may
//! never be granted, per-tab timers, per-tab device clocks (skew), and a fake server (a
//! [`SimServer`]: each test file has its own, of its server generation). The network can lose
//! answers, answer 5xx, be slow, time out, or be offline.
//!
//! Every completion is an event with a delivery time; the scheduler moves the clock to the next
//! one. In random mode it picks among the events that are ready in a random order (storage and
//! event deliveries stay FIFO per tab, as in a browser), which gives one interleaving per seed.
// Shared by several test crates: each uses a part.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};

use convex_auth_wasm::core::json::{self, Json};
use convex_auth_wasm::core::jwt;
use convex_auth_wasm::core::machine::{
    Backend, Call, CallerId, Command, Config, Input, Machine, Op, Outcome, Request, Slot, Stored,
    Timer, LOCK_TIMEOUT_MS, REQUEST_TIMEOUT_MS,
};
use convex_auth_wasm::{AuthEventKind, AuthState, Error, ErrorCode};

// ---------------------------------------------------------------------------------------------
// Randomness and tokens
// ---------------------------------------------------------------------------------------------

/// SplitMix64: small, seeded, good enough for schedules and faults.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// Unpadded base64url.
pub fn b64url(data: &[u8]) -> String {
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

pub fn claims(token: &str) -> jwt::Claims {
    jwt::decode(token).expect("a Convex Auth JWT")
}

/// The session index of a token minted by a [`SimServer`] (session ids `s<n>`).
pub fn session_of(token: &str) -> usize {
    claims(token)
        .session_id
        .trim_start_matches('s')
        .parse()
        .expect("s<n>")
}

/// Server (true) time at the start of every world: 2023-11-14.
pub const T0: f64 = 1_700_000_000_000.0;
pub const HOUR: f64 = 3_600_000.0;

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// A fake deployment of one Convex Auth generation, with the server's clock.
pub trait SimServer {
    /// The session backend of the clients that talk to it.
    fn backend(&self) -> Box<dyn Backend>;
    /// Serves `request` at server time `now`: status, body, and what it did.
    fn serve(&mut self, request: &Request, now: f64) -> (u16, String, Served);
    /// Whether `request` is a refresh.
    fn is_refresh(&self, request: &Request) -> bool;
    /// Starts a session for `user` at server time `now`: its JWT and refresh token.
    fn create_session(&mut self, user: &str, now: f64) -> (String, String);
    /// What a client keeps beside the JWT `token` of a session it was given (v2: the user id
    /// bound to the session), as `(storage key, value)`.
    fn kept_beside(&self, token: &str) -> Option<(&'static str, String)>;
    /// Ends session `s` server-side: its refresh tokens no longer refresh.
    fn revoke(&mut self, s: usize);
    /// The lifetime of the JWTs it mints, in seconds.
    fn set_lifetime_s(&mut self, seconds: i64);
    /// A definitive answer (a session ended by reuse detection) that the rules of the server
    /// make legitimate although the lock was held: v1 after a second child of one token, v2
    /// after its limit of unredeemed children.
    fn excuses_definitive(&self) -> bool;
    /// Refresh tokens consumed (rotations) and lost answers recovered, for the totals.
    fn rotations(&self) -> u64;
    /// See [`SimServer::rotations`].
    fn recoveries(&self) -> u64;
}

/// What serving a request did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Served {
    /// A refresh token was consumed; `early`: before the JWT minted with it was due (or a
    /// second child of one token), i.e. a second rotation within one token lifetime.
    Rotation {
        session: usize,
        early: bool,
    },
    Definitive,
    Other,
}

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------

/// The storage a tab's client is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `localStorage`: shared, `storage` events, the hand-over copy, the lock.
    Local,
    /// `sessionStorage` or memory: one tab's own.
    Private,
    /// An encrypted IndexedDB store: shared, the lock, writes announced (no `storage` events).
    Encrypted,
}

impl Kind {
    pub fn config(self, seed: u64) -> Config {
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
pub enum Fault {
    /// Reaches the server; the answer is lost (a `Network` error).
    Lose,
    /// A proxy answers this status; the server never sees the request.
    Status(u16),
    /// Reaches the server; no answer within `REQUEST_TIMEOUT_MS`.
    Timeout,
    /// Reaches the server; the answer takes this long (a `Timeout` beyond the limit).
    Slow(f64),
}

pub type Map = BTreeMap<&'static str, String>;

pub fn key(slot: Slot) -> &'static str {
    match slot {
        Slot::Jwt => "jwt",
        Slot::RefreshToken => "rt",
        Slot::Verifier => "verifier",
        Slot::UserId => "userId",
        Slot::SignUpSecret => "signUpSecret",
        Slot::RecoverySecret => "recoverySecret",
    }
}

/// A write command as the slots it writes, in order (`None` removes), and the hand-over copy.
pub type Writes = (Op, Vec<(Slot, Option<String>)>, Option<Option<String>>);

pub fn writes(command: &Command) -> Option<Writes> {
    match command {
        Command::Write { op, values, copy } => {
            let jwt = || {
                values
                    .iter()
                    .find(|(s, _)| *s == Slot::Jwt)
                    .map(|(_, v)| v.clone())
            };
            // The copy is the JWT written; a write with no JWT has none to copy.
            Some((*op, values.clone(), if *copy { jwt() } else { None }))
        }
        _ => None,
    }
}

pub fn timer_index(t: Timer) -> usize {
    match t {
        Timer::Due => 0,
        Timer::Backoff => 1,
        Timer::Distinct => 2,
        Timer::Users => 3,
    }
}

pub struct Tab {
    pub m: Machine<Box<dyn Backend>>,
    pub kind: Kind,
    /// Device clock minus server clock.
    pub skew: f64,
    /// Armed timers: deadline (world time) and arming sequence.
    pub timers: [Option<(f64, u64)>; 4],
    /// A `Private` tab's own storage.
    pub own: Option<Map>,
    /// The private map after `UseMemory`.
    pub memory: Option<Map>,
    /// Every storage operation fails (until `UseMemory`).
    pub failing: bool,
    /// What the next `TakeCode` finds in the URL.
    pub code: Option<String>,
    /// What the next `TakeCode` finds as the provider's error.
    pub url_error: Option<String>,
    /// The parameter names of every `TakeCode`.
    pub url_params: Vec<(&'static str, Option<&'static str>)>,
    /// What the next `Ceremony` ends with (`None`: cancelled, `PasskeyCancelled`).
    pub ceremony: Option<Result<Json, Error>>,
    /// `(register, options)` of every `Ceremony`.
    pub ceremonies: Vec<(bool, Json)>,
    /// `(kind, error code, state after)` of every `Notify` with an event.
    pub events: Vec<(AuthEventKind, Option<ErrorCode>, AuthState)>,
    pub navigations: Vec<String>,
    /// The JS code (`code_name`) of every error event.
    pub error_names: Vec<String>,
    /// The token of this tab's last `Token` outcome (what its Convex client holds).
    pub last_token: Option<String>,
    /// The token of a minting answer (to a sign-in or refresh) being handed to the machine.
    pub minting: Option<String>,
    /// The write that stores such a token: once done, the token is current, measured.
    pub minted_write: Option<Op>,
    /// Whether the machine made a token minted for it current: then it knows the clock's
    /// offset. (A token equal to one minted for it but read from storage does not count.)
    pub measured: bool,
    /// Its last wait for the lock timed out: it refreshes without the lock.
    pub unlocked: bool,
    /// It could not know its clock's offset when its last refresh attempt began (took the lock).
    pub blind: bool,
    /// World time and whether it was a refresh, of every request sent.
    pub requests: Vec<(f64, bool)>,
    pub use_memory: Vec<(Option<String>, Option<String>)>,
    /// The values of every `UseMemory`.
    pub memory_values: Vec<Vec<(Slot, Option<String>)>>,
    /// Every request sent.
    pub sent: Vec<Request>,
}

impl Tab {
    pub fn freed(&self) -> bool {
        self.m.is_freed()
    }
    pub fn event_kinds(&self) -> Vec<AuthEventKind> {
        self.events.iter().map(|e| e.0).collect()
    }
    pub fn errors(&self) -> Vec<ErrorCode> {
        self.events.iter().filter_map(|e| e.1).collect()
    }
    pub fn refreshes_sent(&self) -> Vec<f64> {
        self.requests.iter().filter(|r| r.1).map(|r| r.0).collect()
    }
}

pub struct CallerRec {
    pub tab: usize,
    pub call: Call,
    /// The tab's last `Token` outcome when the call was made.
    pub held: Option<String>,
    pub outcome: Option<Outcome>,
    pub settles: u32,
}

pub enum Ev {
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

pub struct Queued {
    pub at: f64,
    pub seq: u64,
    /// Events of one channel are delivered in order.
    pub chan: Option<(usize, u8)>,
    pub ev: Ev,
}

pub const CHAN_STORAGE: u8 = 0;
pub const CHAN_EVENTS: u8 = 1;

#[derive(Default)]
pub struct Lock {
    /// The tab holding the lock, the operation it was granted to, and since when.
    pub holder: Option<(usize, Op, f64)>,
    pub queue: VecDeque<(usize, Op)>,
    /// Never granted: every request times out.
    pub never: bool,
    pub grants: u64,
    pub timeouts: u64,
    pub bad_releases: u64,
    pub max_hold_ms: f64,
}

pub struct World<S: SimServer> {
    pub seed: u64,
    pub now: f64,
    /// Total time slept (clock jumps).
    pub slept: f64,
    pub seq: u64,
    pub rng: Rng,
    /// Pick among ready events at random.
    pub random: bool,
    pub tabs: Vec<Tab>,
    pub queue: Vec<Queued>,
    pub chan_at: HashMap<(usize, u8), f64>,
    pub shared: Map,
    pub copy: Option<String>,
    /// Every write to the shared storage: tab, key, value.
    pub writes: Vec<(usize, &'static str, Option<String>)>,
    pub lock: Lock,
    pub server: S,
    pub offline: bool,
    pub script: VecDeque<Fault>,
    /// Probability of a random fault per request.
    pub p_fault: f64,
    pub net_ms: (f64, f64),
    pub storage_ms: (f64, f64),
    pub callers: HashMap<CallerId, CallerRec>,
    pub next_caller: CallerId,
    /// A sign-out call or a scripted definitive rejection happened: users may be signed out.
    pub allow_signout: bool,
    /// Check invariant (b) at every rotation.
    pub check_double: bool,
    pub steps: u64,
    pub trace: bool,
}

impl<S: SimServer + Default> World<S> {
    pub fn new(seed: u64) -> World<S> {
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
            server: S::default(),
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

    pub fn fail(&self, what: String) -> ! {
        panic!(
            "seed {}: {what} (at {:.3} s; replay: SIM_SEED={} SIM_TRACE=1)",
            self.seed,
            (self.now - T0) / 1000.0,
            self.seed
        )
    }

    pub fn log(&self, line: impl FnOnce() -> String) {
        if self.trace {
            println!("{:>12.3} {}", (self.now - T0) / 1000.0, line());
        }
    }

    // ---- tabs ----

    pub fn add_tab(&mut self, kind: Kind, skew: f64) -> usize {
        let i = self.tabs.len();
        let config = kind.config(self.seed.wrapping_mul(31).wrapping_add(i as u64));
        self.add_tab_with(kind, skew, config)
    }

    /// A tab of `kind` whose client has `config` (not started).
    pub fn add_tab_with(&mut self, kind: Kind, skew: f64, config: Config) -> usize {
        let i = self.tabs.len();
        self.tabs.push(Tab {
            m: Machine::with_backend(self.server.backend(), config),
            kind,
            skew,
            timers: [None; 4],
            own: (kind == Kind::Private).then(Map::new),
            memory: None,
            failing: false,
            code: None,
            url_error: None,
            url_params: Vec::new(),
            ceremony: None,
            ceremonies: Vec::new(),
            events: Vec::new(),
            navigations: Vec::new(),
            error_names: Vec::new(),
            last_token: None,
            minting: None,
            minted_write: None,
            measured: false,
            unlocked: false,
            blind: false,
            requests: Vec::new(),
            use_memory: Vec::new(),
            memory_values: Vec::new(),
            sent: Vec::new(),
        });
        i
    }

    pub fn open(&mut self, kind: Kind, skew: f64) -> usize {
        let i = self.add_tab(kind, skew);
        self.feed(i, Input::Start);
        i
    }

    pub fn live(&self) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&i| !self.tabs[i].freed())
            .collect()
    }

    pub fn state(&self, tab: usize) -> AuthState {
        self.tabs[tab].m.state()
    }

    pub fn token(&self, tab: usize) -> Option<String> {
        self.tabs[tab].m.token().map(str::to_owned)
    }

    pub fn call(&mut self, tab: usize, call: Call) -> CallerId {
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

    pub fn sign_in(&mut self, tab: usize) -> CallerId {
        self.call(
            tab,
            Call::SignIn {
                provider: Some("password".into()),
                params: vec![
                    ("email".into(), "u1@example.com".into()),
                    ("password".into(), "hunter2".into()),
                    ("flow".into(), "signIn".into()),
                ],
                page_url: None,
            },
        )
    }

    pub fn outcome(&self, caller: CallerId) -> Option<Outcome> {
        self.callers[&caller].outcome.clone()
    }

    pub fn token_outcome(&self, caller: CallerId) -> Option<String> {
        match self.outcome(caller) {
            Some(Outcome::Token(t)) => t,
            other => panic!("caller {caller}: not a token outcome: {other:?}"),
        }
    }

    pub fn free(&mut self, tab: usize) {
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
    pub fn store_session(&mut self, age_ms: f64) -> (String, String) {
        let (token, rt) = self.server.create_session("u1", self.now - age_ms);
        self.shared.insert("jwt", token.clone());
        self.shared.insert("rt", rt.clone());
        if let Some((key, value)) = self.server.kept_beside(&token) {
            self.shared.insert(key, value);
        }
        (token, rt)
    }

    pub fn set_offline(&mut self, offline: bool) {
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
    pub fn sleep(&mut self, ms: f64) {
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

    pub fn feed(&mut self, tab: usize, input: Input) {
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

    pub fn exec(&mut self, tab: usize, command: Command) {
        self.log(|| format!("tab {tab} -> {command:?}"));
        match command {
            Command::Read { .. } | Command::Write { .. } => {
                if let Some((op, entries, _)) = writes(&command) {
                    let t = &mut self.tabs[tab];
                    if t.minting.is_some() && entries.contains(&(Slot::Jwt, t.minting.clone())) {
                        t.minted_write = Some(op);
                    }
                }
                let d = self.rng.range(self.storage_ms.0, self.storage_ms.1);
                self.schedule(d, Some((tab, CHAN_STORAGE)), Ev::Storage(tab, command));
            }
            Command::UseMemory { values } => {
                let mut map = Map::new();
                for (slot, value) in &values {
                    if let Some(v) = value {
                        map.insert(key(*slot), v.clone());
                    }
                }
                let get = |slot| {
                    values
                        .iter()
                        .find(|(s, _)| *s == slot)
                        .and_then(|(_, v)| v.clone())
                };
                let t = &mut self.tabs[tab];
                t.memory = Some(map);
                t.use_memory.push((get(Slot::Jwt), get(Slot::RefreshToken)));
                t.memory_values.push(values);
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
            Command::Reauthenticate(_) | Command::Watch { .. } => {}
            Command::Source { .. } => self.fail(format!(
                "tab {tab}: a token source call from a Convex Auth client"
            )),
            Command::TakeCode { op, code, error } => {
                let t = &mut self.tabs[tab];
                t.url_params.push((code, error));
                let (code, error) = (t.code.take(), t.url_error.take());
                self.schedule(
                    0.0,
                    Some((tab, CHAN_STORAGE)),
                    Ev::Input(tab, Input::CodeTaken { op, code, error }),
                );
            }
            Command::Ceremony { op, ceremony } => {
                let t = &mut self.tabs[tab];
                t.ceremonies.push((ceremony.register, ceremony.options));
                let result = t.ceremony.take().unwrap_or_else(|| {
                    Err(Error::new(ErrorCode::PasskeyCancelled, "NotAllowedError"))
                });
                let input = Input::CeremonyDone { op, result };
                self.schedule(1_000.0, None, Ev::Input(tab, input));
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
                    if let Some(e) = &error {
                        self.tabs[tab].error_names.push(e.code_name());
                    }
                    self.tabs[tab]
                        .events
                        .push((kind, error.map(|e| e.code()), state));
                }
            }
            Command::Settle { caller, outcome } => self.settle(tab, caller, outcome),
            Command::Trace(_) => {}
        }
    }

    pub fn settle(&mut self, tab: usize, caller: CallerId, outcome: Outcome) {
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

    pub fn schedule(&mut self, delay: f64, chan: Option<(usize, u8)>, ev: Ev) {
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

    pub fn pump_lock(&mut self) {
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

    pub fn send(&mut self, tab: usize, op: Op, request: Request) {
        self.tabs[tab]
            .requests
            .push((self.now, self.server.is_refresh(&request)));
        self.tabs[tab].sent.push(request.clone());
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

    pub fn serve(
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
            let rt = request.args.get("refreshToken").and_then(|t| t.string());
            let rt = rt.as_deref().unwrap_or("-");
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
                    || self.server.excuses_definitive() =>
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

    pub fn storage(&mut self, tab: usize, command: Command) -> Input {
        let t = &mut self.tabs[tab];
        let on_shared = t.memory.is_none() && t.own.is_none();
        let (op, failing) = match &command {
            Command::Read { op, .. } | Command::Write { op, .. } => {
                (*op, t.failing && t.memory.is_none())
            }
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
                let values = Stored {
                    values: slots
                        .iter()
                        .filter_map(|s| Some((*s, map.get(key(*s))?.clone())))
                        .collect(),
                    copy: if copy && on_shared {
                        self.copy.clone()
                    } else {
                        None
                    },
                };
                Input::Stored { op, values }
            }
            write @ Command::Write { .. } => {
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

    pub fn next_at(&self) -> Option<f64> {
        let events = self.queue.iter().map(|q| q.at);
        let timers = self
            .tabs
            .iter()
            .flat_map(|t| t.timers.iter().flatten().map(|(at, _)| *at));
        events.chain(timers).min_by(f64::total_cmp)
    }

    /// Handles the next event due no later than `until`; `false` when there is none.
    pub fn step(&mut self, until: f64) -> bool {
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

    pub fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Input(tab, input) => self.feed(tab, input),
            Ev::Minted(tab, input) => {
                if let Input::Answered { body: Some(b), .. } = &input {
                    self.tabs[tab].minting = b
                        .get("value")
                        .and_then(|v| v.get("tokens"))
                        .and_then(|t| t.get("token").or_else(|| t.get("accessToken"))?.string());
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

    pub fn run_until(&mut self, until: f64) {
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

    pub fn run_for(&mut self, ms: f64) {
        self.run_until(self.now + ms);
    }

    /// Runs until `cond` holds (checked between events), at most `max_ms`.
    pub fn run_until_cond(&mut self, max_ms: f64, mut cond: impl FnMut(&World<S>) -> bool) -> bool {
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
pub fn tabs_with_session<S: SimServer + Default>(seed: u64, kind: Kind, n: usize) -> World<S> {
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
// Random interleavings
// ---------------------------------------------------------------------------------------------

#[derive(Default, Debug)]
pub struct Totals {
    pub worlds: u64,
    pub tabs: u64,
    pub events: u64,
    pub calls: u64,
    pub forced: u64,
    pub rotations: u64,
    pub recoveries: u64,
    pub lock_timeouts: u64,
    pub sign_outs: u64,
    pub storage_breaks: u64,
    pub sleeps: u64,
}

/// One random world: 1-4 tabs of one storage kind (some with a device clock up to an hour off),
/// maybe no lock at all, random faults, token lifetimes picked from `lifetimes_s` (v1: 2 min to
/// 1 h; v2: 1 to 5 min), 40 random actions (calls,
/// wake-ups, sign-outs and sign-ins, network loss, sleeps, tabs opened and freed, storage
/// breaking, the server ending the session) with random pauses; then the network heals.
pub fn random_world<S: SimServer + Default>(seed: u64, lifetimes_s: &[i64], totals: &mut Totals) {
    let mut r = Rng::new(seed.wrapping_add(7));
    let mut w = World::<S>::new(seed);
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
    let lifetime_s = lifetimes_s[r.below(lifetimes_s.len() as u64) as usize];
    w.server.set_lifetime_s(lifetime_s);
    let lifetime = lifetime_s as f64 * 1000.0;
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
    let agree = |w: &World<S>| {
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
    totals.rotations += w.server.rotations();
    totals.recoveries += w.server.recoveries();
    totals.lock_timeouts += w.lock.timeouts;
}

/// Runs the random worlds of the property test of one server generation: `default_worlds`
/// seeds, `SIM_WORLDS=<n>` others, `SIM_SEED=<n>` one (with `SIM_TRACE=1`, traced).
pub fn random_worlds<S: SimServer + Default>(name: &str, default_worlds: u64, lifetimes_s: &[i64]) {
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let worlds = std::env::var("SIM_WORLDS").map_or(default_worlds, |n| n.parse().unwrap());
            (0..worlds).collect()
        }
    };
    let mut totals = Totals::default();
    for seed in seeds {
        random_world::<S>(seed, lifetimes_s, &mut totals);
    }
    println!(
        "{name} simulation: {} random interleavings (worlds) of {} tabs, {} events, {} calls \
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

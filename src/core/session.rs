//! Session state, the public snapshot, auth events and refresh timing: pure data and decisions,
//! no I/O. Times are milliseconds; "local" times come from the device clock, server times from
//! the token's claims.

use super::error::Error;
use super::json::Json;
use super::jwt::{self, Claims};

/// The session the client holds.
#[derive(Clone, PartialEq)]
pub struct Session {
    /// The access JWT.
    pub token: String,
    /// The claims of `token`.
    pub claims: Claims,
    /// Device clock minus server clock, estimated when the token arrived: the local time of
    /// receipt minus `iat`. It makes every decision independent of a wrong device clock.
    pub skew_ms: f64,
    /// Device time at which the token arrived.
    pub received_ms: f64,
    /// The user: from a v1 token's `sub`; for v2, from the token bundle (kept in storage beside
    /// the session, bound to its id). `None` while unknown (a v2 session adopted from a client
    /// that does not keep it).
    pub user_id: Option<String>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("token", &"<redacted>")
            .field("claims", &self.claims)
            .field("skew_ms", &self.skew_ms)
            .field("user_id", &self.user_id)
            .finish()
    }
}

impl Session {
    /// A session for `token`, received now (`now_ms`, device clock). `fallback_skew_ms` is
    /// used when the token has no `iat` (then the skew cannot be measured) or was not freshly
    /// minted (`fresh == false`: read from storage or another tab). `None` if the token is not
    /// a Convex Auth JWT.
    pub fn new(token: String, now_ms: f64, fresh: bool, fallback_skew_ms: f64) -> Option<Session> {
        let claims = jwt::decode(&token)?;
        Some(Session::with_claims(
            token,
            claims,
            now_ms,
            fresh,
            fallback_skew_ms,
        ))
    }

    /// [`Session::new`] with the claims already decoded.
    pub fn with_claims(
        token: String,
        claims: Claims,
        now_ms: f64,
        fresh: bool,
        fallback_skew_ms: f64,
    ) -> Session {
        let skew_ms = match (fresh, claims.iat) {
            (true, Some(iat)) => now_ms - (iat as f64) * 1000.0,
            _ => fallback_skew_ms,
        };
        Session {
            user_id: claims.user_id.clone(),
            token,
            claims,
            skew_ms,
            received_ms: now_ms,
        }
    }

    /// The session id the state shows: none for an identity platform's token.
    pub fn session_id(&self) -> Option<&str> {
        (!self.claims.sessionless).then_some(self.claims.session_id.as_str())
    }

    /// How long before `exp` the client refreshes: a quarter of the token's lifetime, at most
    /// one minute. For the default one-hour token that is 60 s, far more than a late timer or a
    /// slow request; for test tokens of a few seconds it still leaves most of the lifetime.
    pub fn leeway_ms(&self) -> f64 {
        let lifetime = self.claims.lifetime_ms().unwrap_or(3_600_000);
        (lifetime / 4).min(60_000) as f64
    }

    /// Device time at which the token should be replaced.
    pub fn refresh_due_ms(&self) -> f64 {
        self.claims.expires_at_ms() as f64 + self.skew_ms - self.leeway_ms()
    }

    /// Whether the token is still good to hand out at device time `now_ms`.
    pub fn is_fresh(&self, now_ms: f64) -> bool {
        now_ms < self.refresh_due_ms()
    }

    /// The earliest device time at which a forced rotation can produce a JWT different from
    /// this one: JWTs of one session minted within the same second are byte-identical, so wait
    /// until the server's clock has left the second of `iat`.
    pub fn distinct_rotation_at_ms(&self) -> f64 {
        match self.claims.iat {
            Some(iat) => (iat as f64 + 1.0) * 1000.0 + self.skew_ms,
            None => self.received_ms,
        }
    }
}

/// The public state, as `getSnapshot()` returns it.
#[derive(Clone, Default, PartialEq)]
pub struct AuthState {
    /// `true` until the first state is known.
    pub is_loading: bool,
    /// Whether a session is held.
    pub is_authenticated: bool,
    /// The current JWT.
    pub token: Option<String>,
    /// The user id (v1: from `sub`; v2: from the token bundle, `None` while unknown).
    pub user_id: Option<String>,
    /// The session id, from `sub`.
    pub session_id: Option<String>,
    /// `exp` in epoch milliseconds (server clock).
    pub expires_at: Option<f64>,
    /// What `storeUser`'s mutation returned for the session's identity (the user's id).
    pub stored_user_id: Option<Json>,
    /// `currentUser`'s query for the session's identity (the user document).
    pub user: Option<Json>,
}

impl core::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthState")
            .field("is_loading", &self.is_loading)
            .field("is_authenticated", &self.is_authenticated)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("user_id", &self.user_id)
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .field("stored_user_id", &self.stored_user_id)
            .field("user", &self.user)
            .finish()
    }
}

impl AuthState {
    /// The state for a loading flag and an optional session.
    pub fn of(is_loading: bool, session: Option<&Session>) -> AuthState {
        match session {
            Some(s) => AuthState {
                is_loading,
                is_authenticated: true,
                token: Some(s.token.clone()),
                user_id: s.user_id.clone(),
                session_id: s.session_id().map(str::to_owned),
                expires_at: Some(s.claims.expires_at_ms() as f64),
                ..AuthState::default()
            },
            None => AuthState {
                is_loading,
                ..AuthState::default()
            },
        }
    }
}

/// The kind of an auth event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthEventKind {
    /// Once, when `ready()` resolves.
    Initialized,
    /// A session started (sign-in, code exchange, another tab signed in).
    SignedIn,
    /// The session ended.
    SignedOut,
    /// The session's token was replaced.
    TokenRefreshed,
    /// A failure that did not sign the user out.
    Error,
}

impl AuthEventKind {
    /// Every kind.
    pub const ALL: [AuthEventKind; 5] = [
        AuthEventKind::Initialized,
        AuthEventKind::SignedIn,
        AuthEventKind::SignedOut,
        AuthEventKind::TokenRefreshed,
        AuthEventKind::Error,
    ];

    /// The JS `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthEventKind::Initialized => "initialized",
            AuthEventKind::SignedIn => "signedIn",
            AuthEventKind::SignedOut => "signedOut",
            AuthEventKind::TokenRefreshed => "tokenRefreshed",
            AuthEventKind::Error => "error",
        }
    }
}

/// An auth event: what happened, the state after it, and the error for `Error` events.
#[derive(Clone, Debug)]
pub struct AuthEvent {
    /// What happened.
    pub kind: AuthEventKind,
    /// The state after the event.
    pub state: AuthState,
    /// The failure, for [`AuthEventKind::Error`].
    pub error: Option<Error>,
}

/// The event a change of session produces, if any: no event when nothing a user can see changed
/// (the same token adopted twice).
pub fn transition(before: Option<&Session>, after: Option<&Session>) -> Option<AuthEventKind> {
    match (before, after) {
        (None, None) => None,
        (None, Some(_)) => Some(AuthEventKind::SignedIn),
        (Some(_), None) => Some(AuthEventKind::SignedOut),
        (Some(a), Some(b)) if a.token == b.token => None,
        (Some(a), Some(b)) if !same_user(a, b) => Some(AuthEventKind::SignedIn),
        (Some(_), Some(_)) => Some(AuthEventKind::TokenRefreshed),
    }
}

/// Whether two sessions are of one user: their user ids when both are known, else (v2 sessions
/// whose user is not known yet) their session ids.
fn same_user(a: &Session, b: &Session) -> bool {
    match (&a.user_id, &b.user_id) {
        (Some(x), Some(y)) => x == y,
        _ => a.claims.session_id == b.claims.session_id,
    }
}

/// At a refresh, the token that another tab (or an earlier caller) stored meanwhile, to use
/// instead of rotating again: the newer (by `iat`) of the stored JWT and its hand-over copy,
/// when it is not the token `held` as the refresh began and is still fresh at `now_ms`.
pub fn adopt<'a>(
    stored: Option<&'a Session>,
    copy: Option<&'a Session>,
    held: Option<&str>,
    now_ms: f64,
) -> Option<&'a Session> {
    let newest = match (stored, copy) {
        (Some(s), Some(c)) if s.claims.iat > c.claims.iat => stored,
        // Minted in the same second: the copy wins ties (it is ordered with the lock), unless
        // it is the token held, which a client that keeps no copy (the official one) replaced.
        (Some(s), Some(c)) if s.claims.iat == c.claims.iat && Some(c.token.as_str()) == held => {
            stored
        }
        _ => copy.or(stored),
    };
    newest.filter(|s| Some(s.token.as_str()) != held && s.is_fresh(now_ms))
}

/// Delay before retry number `attempt` (0-based) of a transient failure: exponential from
/// 500 ms, capped at 30 s, with "equal jitter" (`rand01` in `[0, 1)`) so tabs do not retry in
/// lockstep.
pub fn backoff_ms(attempt: u32, rand01: f64) -> f64 {
    let base = (500.0 * f64::from(1u32 << attempt.min(16))).min(30_000.0);
    base / 2.0 + base / 2.0 * rand01.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::jwt::tests::jwt;

    fn token(user: &str, iat: i64, exp: i64) -> String {
        jwt(&format!(r#"{{"sub":"{user}|s","iat":{iat},"exp":{exp}}}"#))
    }

    #[test]
    fn a_tie_goes_to_the_copy_unless_the_copy_is_the_token_held() {
        let stored = Session::new(token("u", 100, 4_000_000_000), 0.0, false, 0.0).unwrap();
        let copy = Session::new(token("v", 100, 4_000_000_000), 0.0, false, 0.0).unwrap();
        let pick = |held: Option<&str>| {
            adopt(Some(&stored), Some(&copy), held, 1.0).map(|s| s.token.clone())
        };
        assert_eq!(pick(None), Some(copy.token.clone()));
        // The copy is this tab's own token; a client without copies (the official one) stored
        // another in the same second.
        assert_eq!(pick(Some(&copy.token)), Some(stored.token.clone()));
        assert_eq!(pick(Some(&stored.token)), Some(copy.token.clone()));
    }

    #[test]
    fn refresh_timing_from_lifetime_and_receipt() {
        // One-hour token received 200 ms after it was minted, on a correct clock.
        let s = Session::new(token("u", 1000, 4600), 1_000_200.0, true, 0.0).expect("session");
        assert_eq!(s.skew_ms, 200.0);
        assert_eq!(s.leeway_ms(), 60_000.0);
        assert_eq!(s.refresh_due_ms(), 4_600_000.0 + 200.0 - 60_000.0);
        assert!(s.is_fresh(4_540_000.0));
        assert!(!s.is_fresh(4_540_200.0));
    }

    #[test]
    fn device_clock_an_hour_off_changes_nothing() {
        for offset in [-3_600_000.0, 0.0, 3_600_000.0] {
            let s = Session::new(token("u", 1000, 4600), 1_000_100.0 + offset, true, 0.0)
                .expect("session");
            // Due 3540 s after receipt, whatever the clock says.
            assert_eq!(s.refresh_due_ms() - s.received_ms, 3_600_000.0 - 60_000.0);
        }
    }

    #[test]
    fn short_tokens_get_proportional_leeway() {
        let s = Session::new(token("u", 0, 4), 0.0, true, 0.0).expect("session");
        assert_eq!(s.leeway_ms(), 1000.0);
        let s = Session::new(token("u", 0, 120), 0.0, true, 0.0).expect("session");
        assert_eq!(s.leeway_ms(), 30_000.0);
    }

    #[test]
    fn stored_tokens_use_the_known_skew() {
        let s = Session::new(token("u", 1000, 4600), 9e9, false, 500.0).expect("session");
        assert_eq!(s.skew_ms, 500.0);
        assert_eq!(s.distinct_rotation_at_ms(), 1_001_000.0 + 500.0);
        assert!(Session::new("garbage".into(), 0.0, true, 0.0).is_none());
    }

    #[test]
    fn transitions() {
        let a = Session::new(token("u", 0, 60), 0.0, true, 0.0);
        let a2 = Session::new(token("u", 1, 61), 0.0, true, 0.0);
        let b = Session::new(token("v", 0, 60), 0.0, true, 0.0);
        assert_eq!(transition(None, None), None);
        assert_eq!(transition(None, a.as_ref()), Some(AuthEventKind::SignedIn));
        assert_eq!(transition(a.as_ref(), None), Some(AuthEventKind::SignedOut));
        assert_eq!(transition(a.as_ref(), a.as_ref()), None);
        assert_eq!(
            transition(a.as_ref(), a2.as_ref()),
            Some(AuthEventKind::TokenRefreshed)
        );
        assert_eq!(
            transition(a.as_ref(), b.as_ref()),
            Some(AuthEventKind::SignedIn)
        );
    }

    #[test]
    fn snapshot_fields_and_redacted_debug() {
        let s = Session::new(token("u1", 0, 60), 0.0, true, 0.0).expect("session");
        let st = AuthState::of(false, Some(&s));
        assert!(st.is_authenticated && !st.is_loading);
        assert_eq!(st.user_id.as_deref(), Some("u1"));
        assert_eq!(st.session_id.as_deref(), Some("s"));
        assert_eq!(st.expires_at, Some(60_000.0));
        assert!(!format!("{st:?}{s:?}").contains(&s.token));
        assert_eq!(
            AuthState::of(true, None),
            AuthState {
                is_loading: true,
                ..AuthState::default()
            }
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(0, 0.0), 250.0);
        assert_eq!(backoff_ms(0, 1.0), 500.0);
        assert_eq!(backoff_ms(3, 1.0), 4000.0);
        assert_eq!(backoff_ms(10, 1.0), 30_000.0);
        assert_eq!(backoff_ms(u32::MAX, 0.5), 22_500.0);
    }

    #[test]
    fn adopting_another_tabs_token() {
        let at = |iat| Session::new(token("u", iat, iat + 60), iat as f64 * 1000.0, false, 0.0);
        let (old, new) = (at(0), at(10));
        let (old, new) = (old.as_ref(), new.as_ref());
        let held = old.map(|s| s.token.as_str());
        let now = 11_000.0;
        let iat = |s: Option<&Session>| s.map(|s| s.claims.iat);
        // The newer of the stored JWT and the hand-over copy, either way round.
        assert_eq!(iat(adopt(old, new, held, now)), Some(Some(10)));
        assert_eq!(iat(adopt(new, old, held, now)), Some(Some(10)));
        assert_eq!(iat(adopt(None, new, held, now)), Some(Some(10)));
        // Not the token held, nor a stale one.
        assert_eq!(adopt(old, None, held, now), None);
        assert_eq!(adopt(new, None, held, 70_000.0), None);
        assert_eq!(adopt(None, None, held, now), None);
    }
}

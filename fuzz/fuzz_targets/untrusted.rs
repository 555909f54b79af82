//! Feeds arbitrary bytes to every part of the core that reads untrusted input (server answers,
//! JWTs, stored values, namespaces, v2's answers and the OAuth flow it keeps) and to the session
//! machine with either backend, Convex Auth v1 and v2 (a script of inputs in any order, with
//! completions carrying the input as stored values, answers, URL parameters and WebAuthn
//! credentials) to show that none of them can panic.
//!
//! The only assertions are invariants that must hold for every input: a parsed JSON document
//! serialises to text that parses back to the same value, and base64url decoding undoes
//! encoding. Everything that is allowed to fail (`None`, `Err`) is only exercised.
//!
//! Run with `scripts/fuzz.sh [SECONDS]`.

#![no_main]

use convex_auth_wasm::core::error::{Error, ErrorCode};
use convex_auth_wasm::core::json::{self, Json};
use convex_auth_wasm::core::machine::{
    Backend, Call, Command, Config, ConvexAuthV1, Input, Machine, Slot, Stored, Timer,
};
use convex_auth_wasm::core::protocol::{self, SignInResult};
use convex_auth_wasm::core::session::{self, AuthState, Session};
use convex_auth_wasm::core::source::TokenSource;
use convex_auth_wasm::core::v2::ConvexAuthV2;
use convex_auth_wasm::core::{error, jwt, keys};
use libfuzzer_sys::fuzz_target;

/// Device clocks to try, picked by the first byte: ordinary ones and the edge cases a broken
/// `Date.now()` or a hostile stored value could produce.
const NOWS: [f64; 8] = [
    1_700_000_000_000.0,
    0.0,
    -1.0,
    9.007_199_254_740_993e15,
    f64::MAX,
    f64::MIN,
    f64::NAN,
    f64::INFINITY,
];

/// Fallback skews to try, picked by the second byte.
const SKEWS: [f64; 6] = [
    0.0,
    500.0,
    -3_600_000.0,
    f64::MAX,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// The HTTP statuses whose answers the client reads.
const STATUSES: [u16; 7] = [200, 400, 401, 403, 429, 500, 560];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text: &str = &text;
    let now = NOWS[usize::from(data.first().copied().unwrap_or(0)) % NOWS.len()];
    let skew = SKEWS[usize::from(data.get(1).copied().unwrap_or(0)) % SKEWS.len()];

    // Storage keys from a namespace (deployment url or `storageNamespace`).
    let k = keys::Keys::new(text);
    std::hint::black_box(&k);

    // base64url: arbitrary text, and a round trip of the raw bytes.
    std::hint::black_box(jwt::base64url_decode(text));
    let encoded = b64url(data);
    assert_eq!(
        jwt::base64url_decode(&encoded).as_deref(),
        Some(data),
        "base64url round trip"
    );

    // JSON: parse, then the round trip, then every accessor on every node.
    if let Some(v) = json::parse(text) {
        let out = v.to_json_string();
        let again = json::parse(&out);
        assert!(again.is_some(), "serialised JSON does not parse: {out:?}");
        assert_eq!(
            again.as_ref(),
            Some(&v),
            "JSON round trip changed the value"
        );
        walk(&v);
        // The parsed value as an `auth:signIn` result and as a `ConvexError` payload.
        exercise_sign_in(&v, now, skew);
        let e = error::from_function_error(text, Some(v));
        std::hint::black_box(e.to_string());
    }
    let e = error::from_function_error(text, None);
    std::hint::black_box(e.to_string());

    // The HTTP answer to an action call, for every status the client distinguishes.
    for status in STATUSES {
        match protocol::parse_response(status, text) {
            Ok(value) => exercise_sign_in(&value, now, skew),
            Err(e) => {
                std::hint::black_box(e.to_string());
                std::hint::black_box(format!("{e:?}"));
            }
        }
    }

    // The input as an access token, and as the claims (payload) of an otherwise valid token.
    exercise_token(text.to_owned(), now, skew);
    let wrapped = format!("eyJhbGciOiJSUzI1NiJ9.{encoded}.c2ln");
    exercise_token(wrapped.clone(), now, skew);

    // Convex Auth v2's reading of the same answers, for every sign-in it maps.
    exercise_v2(text, data.get(2).copied().unwrap_or(0));

    // The session machine, driven by a script read from the bytes, with each backend (v2 with
    // a function renamed to the input, as the `functions` option allows).
    exercise_machine(ConvexAuthV1, data, text, &wrapped);
    let v2 = ConvexAuthV2 {
        functions: vec![("refreshSession".to_owned(), text.to_owned())],
    };
    exercise_machine(v2, data, text, &wrapped);
    // An identity platform's token source, with the user's functions and an attached client.
    exercise_machine(TokenSource { signs_out: true }, data, text, &wrapped);
});

/// The providers and `flow`s of the sign-ins v2 maps (and one it does not).
const PROVIDERS: [&str; 8] = [
    "password",
    "username-password",
    "passkey",
    "github",
    "google",
    "apple",
    "anonymous",
    "saml",
];
const FLOWS: [&str; 6] = [
    "signIn",
    "signUp",
    "email-verification",
    "reset",
    "reset-verification",
    "other",
];

/// Every param a v2 sign-in reads, each with the value `text`, and `flow`.
fn v2_params(text: &str, flow: &str) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        "code",
        "email",
        "password",
        "username",
        "newPassword",
        "redirectTo",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), text.to_owned()))
    .collect();
    params.push(("flow".to_owned(), flow.to_owned()));
    params
}

/// The input as v2's answers (sign-in values, refresh, the HTTP envelope) and as the OAuth flow
/// a code exchange reads back, for the sign-in (provider and `flow`) that `pick` selects.
fn exercise_v2(text: &str, pick: u8) {
    let b = ConvexAuthV2::default();
    let provider = PROVIDERS[usize::from(pick) % PROVIDERS.len()];
    let params = v2_params(text, FLOWS[usize::from(pick >> 3) % FLOWS.len()]);
    let body = json::parse(text);
    for status in STATUSES {
        let refreshed = b.refresh_answer(status, body.clone(), "rt");
        std::hint::black_box(format!("{refreshed:?}"));
        let answer = b.sign_in_answer(Some(provider), &params, status, body.clone());
        std::hint::black_box(format!("{answer:?}"));
    }
    // The request, with the input as the value kept for it; the code exchange, with the input
    // as the kept flow.
    let request = b.sign_in(Some(provider), &params, Some(text), Some(text));
    std::hint::black_box(format!("{request:?}"));
    let code = vec![("code".to_owned(), text.to_owned())];
    std::hint::black_box(format!("{:?}", b.sign_in(None, &code, Some(text), None)));
    std::hint::black_box(format!("{:?}", b.url_error(text)));
}

/// Runs the session machine through the inputs the bytes pick, in their order: completions of
/// the operations it asked for (with the input text as stored values and server answers),
/// calls, timers, tab events, clock jumps and `free()`. After `free()` no command may come.
fn exercise_machine<B: Backend>(backend: B, data: &[u8], text: &str, token: &str) {
    let config = Config {
        seed: u64::from(data.first().copied().unwrap_or(0)),
        verbose: true,
        store_user: Some("users:store".to_owned()),
        current_user: Some(text.to_owned()),
        ..Config::local_storage()
    };
    let mut m = Machine::with_backend(backend, config);
    let mut now = 1_700_000_000_000.0;
    let mut ops = Vec::new();
    let mut freed = false;
    let value = |b: u8| match b % 4 {
        0 => None,
        1 => Some(text.to_owned()),
        2 => Some(token.to_owned()),
        _ => Some(String::new()),
    };
    m.handle(now, Input::Start);
    for (i, pair) in data.chunks(2).enumerate() {
        let (a, b) = (pair[0], pair.get(1).copied().unwrap_or(0));
        for c in m.take_commands() {
            assert!(!freed, "a command after free(): {c:?}");
            match c {
                Command::Read { op, .. }
                | Command::Write { op, .. }
                | Command::Request { op, .. }
                | Command::TakeCode { op, .. }
                | Command::Ceremony { op, .. }
                | Command::Source { op, .. }
                | Command::Lock { op } => ops.push(op),
                _ => {}
            }
        }
        let op = if ops.is_empty() {
            0
        } else {
            ops.swap_remove(usize::from(b) % ops.len())
        };
        let input = match a % 22 {
            0 => Input::Stored {
                op,
                values: Stored {
                    values: Slot::ALL
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| Some((*s, value(b.rotate_right(i as u32))?)))
                        .collect(),
                    copy: value(b >> 6),
                },
            },
            1 => Input::Written { op },
            2 => Input::StorageFailed {
                op,
                message: text.to_owned(),
            },
            3 => Input::CodeTaken {
                op,
                code: value(b),
                error: value(b >> 2),
            },
            4 => Input::Answered {
                op,
                status: STATUSES[usize::from(b) % STATUSES.len()],
                body: json::parse(text),
            },
            5 => Input::Unreachable {
                op,
                error: Error::new(ErrorCode::Network, text),
            },
            6 => Input::Locked {
                op,
                granted: b % 2 == 0,
            },
            7 => Input::TimerFired(Timer::ALL[usize::from(b) % Timer::ALL.len()]),
            8 => Input::Online,
            9 => Input::Focused,
            10 => Input::TabWrote(value(b)),
            11 => Input::TabAnnounced,
            12 => Input::TokenRead,
            13 => Input::Call {
                caller: i as u32,
                call: match b % 5 {
                    0 => Call::Ready,
                    1 => Call::SignOut,
                    2 => Call::Token { force: b % 8 > 3 },
                    3 => Call::Changed,
                    _ => Call::SignIn {
                        provider: value(b >> 2),
                        params: vec![("code".to_owned(), text.to_owned())],
                        page_url: value(b >> 4),
                    },
                },
            },
            16 => Input::CeremonyDone {
                op,
                result: match b % 4 {
                    0 => Err(Error::new(ErrorCode::PasskeyCancelled, text)),
                    1 => Err(Error::new(ErrorCode::PasskeyUnsupported, text)),
                    _ => Ok(json::parse(text).unwrap_or_default()),
                },
            },
            17 => Input::Call {
                // A sign-in of every kind v2 maps.
                caller: i as u32,
                call: Call::SignIn {
                    provider: Some(PROVIDERS[usize::from(b) % PROVIDERS.len()].to_owned()),
                    params: v2_params(text, FLOWS[usize::from(b >> 3) % FLOWS.len()]),
                    page_url: value(b >> 6),
                },
            },
            18 => Input::SourceAnswered {
                op,
                result: match b % 3 {
                    0 => Ok(value(b >> 2)),
                    1 => Err(Error::new(ErrorCode::Network, text)),
                    _ => Err(Error::new(ErrorCode::Timeout, text)),
                },
            },
            19 => Input::SourceChanged,
            20 => Input::Attached(u32::from(b % 3)),
            21 => match b % 5 {
                0 => Input::Detached(u32::from(b >> 2) % 3),
                1 => Input::Watched {
                    attachment: u32::from(b >> 2) % 3,
                    value: json::parse(text).unwrap_or_default(),
                },
                _ => Input::Verdict {
                    attachment: u32::from(b >> 2) % 3,
                    accepted: b % 2 == 0,
                },
            },
            14 => {
                // The clock jumps, forwards or back.
                now += (f64::from(b) - 128.0) * 60_000.0;
                Input::Focused
            }
            _ => {
                freed = b % 8 == 0;
                if freed {
                    Input::Free
                } else {
                    Input::Online
                }
            }
        };
        m.handle(now, input);
        std::hint::black_box((m.state(), m.token()));
        if freed {
            // free() settles what waits, then nothing more.
            m.take_commands();
            m.handle(now, Input::Online);
            assert!(m.take_commands().is_empty(), "a command after free()");
            return;
        }
    }
}

/// Runs a token through claims decoding, session construction, refresh timing and the public
/// snapshot.
fn exercise_token(token: String, now: f64, skew: f64) {
    if let Some(c) = jwt::decode(&token) {
        std::hint::black_box((c.lifetime_ms(), c.expires_at_ms()));
    }
    let mut sessions = Vec::new();
    for fresh in [true, false] {
        let s = Session::new(token.clone(), now, fresh, skew);
        if let Some(s) = &s {
            std::hint::black_box((
                s.refresh_due_ms(),
                s.is_fresh(now),
                s.is_fresh(0.0),
                s.distinct_rotation_at_ms(),
                s.leeway_ms(),
            ));
            std::hint::black_box(format!("{s:?}"));
        }
        for loading in [true, false] {
            let st = AuthState::of(loading, s.as_ref());
            std::hint::black_box(format!("{st:?}"));
        }
        sessions.push(s);
    }
    if let [a, b] = &sessions[..] {
        std::hint::black_box(session::transition(a.as_ref(), b.as_ref()));
        std::hint::black_box(session::transition(None, b.as_ref()));
    }
}

/// Interprets a value as an `auth:signIn` result and follows the tokens it carries.
fn exercise_sign_in(value: &Json, now: f64, skew: f64) {
    match protocol::interpret_sign_in(value) {
        Ok(SignInResult::Tokens(t)) => {
            std::hint::black_box(format!("{t:?}"));
            exercise_token(t.token, now, skew);
        }
        Ok(SignInResult::Redirect { url, verifier }) => {
            std::hint::black_box(verifier);
            std::hint::black_box(keys::Keys::new(&url));
        }
        Ok(other) => {
            std::hint::black_box(other);
        }
        Err(e) => {
            std::hint::black_box(e.to_string());
        }
    }
}

/// Calls every accessor on every node (numbers are where the integer conversion lives).
fn walk(v: &Json) {
    std::hint::black_box((v.as_i64(), v.string(), v.is_null()));
    std::hint::black_box(v.get("sub"));
    match v {
        Json::Arr(items) => items.iter().for_each(walk),
        Json::Obj(fields) => fields.iter().for_each(|(_, i)| walk(i)),
        _ => {}
    }
}

/// Unpadded base64url.
fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

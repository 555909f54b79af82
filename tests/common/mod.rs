//! Helpers shared by the browser test files (`tests/web_*.rs`): the backend's URL, fetch calls to
//! it and its `/_test/` endpoints, client constructors, waiting helpers, a base64url encoder.
//! Each file includes this module with `mod common;`; it is only compiled inside those files,
//! which are gated on `target_arch = "wasm32"`.
// Each test file is its own binary and uses a subset of these helpers: the rest would be dead
// code in that binary.
#![allow(dead_code)]
// Tests fail loudly: unwrap is the assertion (the helpers of every file share these allowances).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;

use convex_auth_wasm::{AuthEventKind, ConvexAuthClient, Options, ShouldHandleCode, Storage};
use js_sys::{Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The local backend (`make test` starts it and passes its URL at compile time; it runs with
/// 20 s JWTs).
pub const URL: &str = match option_env!("CONVEX_AUTH_TEST_URL") {
    Some(u) => u,
    None => "http://127.0.0.1:3210",
};

// ---- requests to the backend and its `/_test/` endpoints ----

pub async fn http(
    method: &str,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> (u16, JsValue) {
    http_at(URL, method, path, body, bearer).await
}

/// [`http`] to the backend at `base`.
pub async fn http_at(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> (u16, JsValue) {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().unwrap();
    if let Some(b) = body {
        init.set_body(&JsValue::from_str(b));
        headers.set("Content-Type", "application/json").unwrap();
    }
    if let Some(t) = bearer {
        headers
            .set("Authorization", &format!("Bearer {t}"))
            .unwrap();
    }
    init.set_headers(&headers);
    let window = web_sys::window().unwrap();
    let resp: web_sys::Response =
        JsFuture::from(window.fetch_with_str_and_init(&format!("{base}{path}"), &init))
            .await
            .unwrap()
            .unchecked_into();
    let text = JsFuture::from(resp.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap();
    (resp.status(), JSON::parse(&text).unwrap_or(JsValue::NULL))
}

pub fn get(v: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(v.clone(), |v, k| {
        Reflect::get(&v, &k.into()).unwrap_or(JsValue::UNDEFINED)
    })
}

/// The newest outbox message for `to`.
pub async fn outbox(to: &str) -> JsValue {
    let (_, v) = http(
        "GET",
        &format!("/_test/outbox?to={}", js_sys::encode_uri_component(to)),
        None,
        None,
    )
    .await;
    let msgs: js_sys::Array = get(&v, "messages").unchecked_into();
    msgs.get(msgs.length().saturating_sub(1))
}

pub async fn requests() -> js_sys::Array {
    http("GET", "/_test/requests", None, None)
        .await
        .1
        .unchecked_into()
}

pub async fn count_kind(kind: &str, since: u32) -> usize {
    let all = requests().await;
    (since..all.length())
        .filter(|i| get(&all.get(*i), "kind").as_string().as_deref() == Some(kind))
        .count()
}

pub async fn fault(path: &str, kind: &str, count: u32) {
    let body = format!(r#"{{"path":"{path}","kind":"{kind}","count":{count}}}"#);
    http("POST", "/_test/faults", Some(&body), None).await;
}

pub async fn viewer_email(token: &str) -> JsValue {
    let (status, v) = http(
        "POST",
        "/api/query",
        Some(r#"{"path":"users:viewer","args":{},"format":"json"}"#),
        Some(token),
    )
    .await;
    assert_eq!(status, 200);
    get(&v, "value.email")
}

// ---- clients and sessions ----

pub fn client(storage: Storage) -> ConvexAuthClient {
    ConvexAuthClient::new(
        Options::new(URL)
            .storage(storage)
            .navigate(false)
            .should_handle_code(ShouldHandleCode::Never),
    )
    .unwrap()
}

pub async fn memory_client() -> ConvexAuthClient {
    let c = client(Storage::Memory);
    c.ready().await;
    c
}

/// A client standing for one tab: its own instance over a shared storage namespace.
pub async fn tab(storage: Storage, ns: &str) -> ConvexAuthClient {
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage(storage)
            .storage_namespace(ns)
            .navigate(false)
            .should_handle_code(ShouldHandleCode::Never),
    )
    .unwrap();
    c.ready().await;
    c
}

pub fn unique_email(tag: &str) -> String {
    format!(
        "{tag}-{}@example.com",
        (js_sys::Math::random() * 1e12) as u64
    )
}

pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub async fn sign_up(c: &ConvexAuthClient, email: &str) {
    let out = c
        .sign_in(
            Some("password"),
            params(&[
                ("email", email),
                ("password", "s3cret-pass"),
                ("flow", "signUp"),
            ]),
        )
        .await
        .unwrap();
    assert!(out.signing_in);
}

pub fn event_log(
    c: &ConvexAuthClient,
) -> (
    Rc<RefCell<Vec<AuthEventKind>>>,
    convex_auth_wasm::Subscription,
) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let sub = c.on_change(move |e| l.borrow_mut().push(e.kind));
    (log, sub)
}

// ---- waiting and concurrency ----

pub async fn sleep_ms(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

/// Waits (up to 5 s) until `f` holds.
pub async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        sleep_ms(50).await;
    }
    panic!("timed out waiting until {what}");
}

/// Polls three futures concurrently on this thread.
pub async fn futures_join3<A: Future, B: Future, C: Future>(
    a: A,
    b: B,
    c: C,
) -> (A::Output, B::Output, C::Output) {
    let (mut a, mut b, mut c) = (Box::pin(a), Box::pin(b), Box::pin(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if rc.is_none() {
            if let Poll::Ready(v) = c.as_mut().poll(cx) {
                rc = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() && rc.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap(), rc.unwrap())
}

// ---- the page: Web Storage, JS that web-sys does not bind here ----

pub fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

/// Runs a JS function body with arguments `a`, `b` (for what web-sys does not bind here).
pub fn js(body: &str, a: &JsValue, b: &JsValue) -> JsValue {
    js_sys::Function::new_with_args("a, b", body)
        .call2(&JsValue::NULL, a, b)
        .unwrap()
}

pub async fn js_async(body: &str, a: &JsValue, b: &JsValue) -> JsValue {
    JsFuture::from(js_sys::Promise::resolve(&js(body, a, b)))
        .await
        .unwrap()
}

// ---- encoding ----

/// Unpadded base64url of `s`.
pub fn b64url(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

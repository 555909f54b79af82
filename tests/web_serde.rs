//! Browser tests of the `serde` feature: sign-in params of any `Serialize` type, typed Convex
//! calls (`query`, `mutation`, `action`) with the session's token, a 401 refreshed and retried
//! once, ConvexError data read as a type, and the state, events and errors serialized as the JS
//! API shows them. Against the local backend (`common::URL`); run with `--features serde`.
#![cfg(all(target_arch = "wasm32", feature = "serde"))]
// Tests fail loudly: unwrap is the assertion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{count_kind, http, memory_client, requests, unique_email};
use convex_auth_wasm::ErrorCode;
use serde::{Deserialize, Serialize};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Serialize)]
struct PasswordSignUp<'a> {
    email: &'a str,
    password: &'a str,
    flow: &'a str,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct User {
    #[serde(rename = "_id")]
    id: String,
    email: Option<String>,
}

#[derive(Deserialize, Debug)]
struct Message {
    body: String,
}

#[derive(Serialize)]
struct Send<'a> {
    body: &'a str,
}

#[derive(Deserialize, Debug, PartialEq)]
struct AppError {
    code: String,
}

#[wasm_bindgen_test]
async fn typed_sign_in_calls_and_errors() {
    let c = memory_client().await;
    // Signed out: the mutation's ConvexError, its data read as a type.
    let e = c
        .mutation::<String>("messages:send", &Send { body: "hi" })
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ConvexError);
    assert_eq!(
        e.data_as::<AppError>().unwrap(),
        AppError {
            code: "NOT_AUTHENTICATED".into()
        }
    );
    let shown = serde_json::to_value(&e).unwrap();
    assert_eq!(shown["code"], "ConvexError");
    assert_eq!(shown["data"]["code"], "NOT_AUTHENTICATED");

    // Sign-up with params of a struct.
    let email = unique_email("serde");
    let params = PasswordSignUp {
        email: &email,
        password: "correct horse battery",
        flow: "signUp",
    };
    assert!(
        c.sign_in_with(Some("password"), &params)
            .await
            .unwrap()
            .signing_in
    );
    let state = serde_json::to_value(c.state()).unwrap();
    assert_eq!(state["isAuthenticated"], true);
    assert!(state["sessionId"].as_str().is_some_and(|s| !s.is_empty()));

    // Typed calls as the signed-in user.
    let viewer: Option<User> = c
        .query("users:viewer", &serde_json::json!({}))
        .await
        .unwrap();
    let viewer = viewer.unwrap();
    assert_eq!(viewer.email.as_deref(), Some(email.as_str()));
    assert_eq!(Some(viewer.id.as_str()), c.state().user_id.as_deref());
    let id: String = c
        .mutation(
            "messages:send",
            &Send {
                body: "typed hello",
            },
        )
        .await
        .unwrap();
    assert!(!id.is_empty());
    let messages: Vec<Message> = c
        .query("messages:list", &serde_json::json!({}))
        .await
        .unwrap();
    assert!(messages.iter().any(|m| m.body == "typed hello"));

    // A result of another shape, arguments that are not an object, a function that does not
    // exist: typed errors.
    let e = c
        .query::<Vec<Message>>("users:viewer", &serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidResponse);
    let e = c.query::<()>("users:viewer", &42).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidParams);
    assert!(c
        .action::<()>("nothing:here", &serde_json::json!({}))
        .await
        .is_err());
    let e = c
        .sign_in_with(Some("password"), &serde_json::json!({"remember": true}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidParams);
}

#[wasm_bindgen_test]
async fn a_401_refreshes_once_and_retries_once() {
    let c = memory_client().await;
    c.sign_in(Some("anonymous"), vec![]).await.unwrap();
    let since = requests().await.length();
    let body = r#"{"path":"users:viewer","kind":"status","status":401,"count":1}"#;
    http("POST", "/_test/faults", Some(body), None).await;
    let viewer: Option<serde_json::Value> = c
        .query("users:viewer", &serde_json::json!({}))
        .await
        .unwrap();
    assert!(viewer.is_some());
    assert_eq!(count_kind("refresh", since).await, 1);
    // Two 401s: the second is the answer (no loop).
    let body = r#"{"path":"users:viewer","kind":"status","status":401,"count":2}"#;
    http("POST", "/_test/faults", Some(body), None).await;
    let e = c
        .query::<serde_json::Value>("users:viewer", &serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Unauthenticated);
}

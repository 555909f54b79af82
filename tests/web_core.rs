//! The core on its browser backend (`core::json` over `JSON.parse`, `atob` and `TextDecoder`):
//! the same answers as the native parser gives in `cargo test`, for the inputs the client meets.
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::b64url;
use convex_auth_wasm::core::json::{parse, parse_base64url};
use convex_auth_wasm::core::jwt;
use convex_auth_wasm::core::protocol::{interpret_sign_in, parse_response, SignInResult};
use convex_auth_wasm::ErrorCode;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn fields_strings_numbers_and_null() {
    let v =
        parse(r#" {"s":"é😀\n","n":-3.9,"e":1.7e9,"big":1e18,"z":null,"a":[1],"o":{"k":"v"}} "#)
            .expect("valid");
    assert_eq!(v.get("s").unwrap().string().as_deref(), Some("é😀\n"));
    assert_eq!(v.get("n").unwrap().as_i64(), Some(-3));
    assert_eq!(v.get("e").unwrap().as_i64(), Some(1_700_000_000));
    assert_eq!(v.get("big").unwrap().as_i64(), None);
    assert_eq!(v.get("s").unwrap().as_i64(), None);
    assert!(v.get("z").unwrap().is_null());
    assert_eq!(
        v.get("o").unwrap().get("k").unwrap().string().as_deref(),
        Some("v")
    );
    assert_eq!(v.get("missing"), None);
    // Only own fields of objects: no array indexes, nothing inherited from Object.prototype.
    assert_eq!(v.get("a").unwrap().get("0"), None);
    assert_eq!(v.get("constructor"), None);
    assert_eq!(v.get("s").unwrap().get("length"), None);
    // Values are JS objects: compared through their serialisation.
    let text = v.to_json_string();
    assert_eq!(parse(&text).unwrap().to_json_string(), text);
    assert!(text.starts_with(r#"{"s":"é😀\n","n":-3.9,"e":1700000000,"big":1000000000000000000,"#));
}

#[wasm_bindgen_test]
fn malformed_text_is_none() {
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\":}",
        "tru",
        "\"abc",
        "01",
        "{} {}",
        "undefined",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
    assert!(parse("null").unwrap().is_null());
}

#[wasm_bindgen_test]
fn base64url_segments() {
    let json = r#"{"sub":"ü|s","x":"?>?"}"#;
    let unpadded = b64url(json);
    let v = parse_base64url(&unpadded).expect("unpadded");
    assert_eq!(v.get("sub").unwrap().string().as_deref(), Some("ü|s"));
    let padded = unpadded.clone() + &"=".repeat((4 - unpadded.len() % 4) % 4);
    assert_eq!(
        parse_base64url(&padded).unwrap().to_json_string(),
        v.to_json_string()
    );
    // Not base64, a dangling bit group, not UTF-8 (0xff), not JSON.
    for bad in ["*", "e30=x", "A", "_w", "bm90IGpzb24"] {
        assert_eq!(parse_base64url(bad), None, "{bad:?}");
    }
}

#[wasm_bindgen_test]
fn jwt_claims_and_answers() {
    let payload = b64url(r#"{"sub":"user1|session1","iat":1700000000,"exp":1700003600.5}"#);
    let claims = jwt::decode(&format!("h.{payload}.sig")).expect("a Convex Auth JWT");
    assert_eq!(
        (
            claims.user_id.as_deref().unwrap_or_default(),
            claims.session_id.as_str()
        ),
        ("user1", "session1")
    );
    assert_eq!(
        (claims.iat, claims.exp),
        (Some(1_700_000_000), 1_700_003_600)
    );
    assert_eq!(jwt::decode(&format!("h.{payload}")), None);
    assert_eq!(
        jwt::decode(&format!("h.{}.s", b64url(r#"{"sub":"","exp":1}"#))),
        None
    );
    // A v2 subject (the session id alone) has no user.
    let v2 = jwt::decode(&format!("h.{}.s", b64url(r#"{"sub":"s2","exp":1}"#))).unwrap();
    assert_eq!((v2.user_id, v2.session_id.as_str()), (None, "s2"));

    let ok = parse_response(
        200,
        r#"{"status":"success","value":{"tokens":{"token":"t","refreshToken":"r"}}}"#,
    )
    .expect("success");
    assert!(
        matches!(interpret_sign_in(&ok), Ok(SignInResult::Tokens(t)) if t.refresh_token == "r")
    );
    let ended = parse_response(200, r#"{"status":"success","value":{"tokens":null}}"#).unwrap();
    assert_eq!(interpret_sign_in(&ended), Ok(SignInResult::NoTokens));
    let e = parse_response(
        560,
        r#"{"status":"error","errorMessage":"x","errorData":{"code":"C"}}"#,
    )
    .expect_err("a ConvexError");
    assert_eq!(e.code(), ErrorCode::ConvexError);
    assert_eq!(
        e.data().unwrap().get("code").unwrap().string().as_deref(),
        Some("C")
    );
    assert_eq!(
        parse_response(200, "<html>").expect_err("not JSON").code(),
        ErrorCode::InvalidResponse
    );
    let redirect = parse_response(
        200,
        r#"{"status":"success","value":{"redirect":"https://x","verifier":7}}"#,
    )
    .unwrap();
    assert_eq!(
        interpret_sign_in(&redirect)
            .expect_err("bad verifier")
            .code(),
        ErrorCode::InvalidResponse
    );
}

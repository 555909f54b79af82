//! Smoke tests of the browser test pipeline itself (`scripts/wasm-test.sh ENGINE`): they need no
//! backend and prove that each engine loads the test page from the runner's local server, runs
//! sync and async tests, and offers the web platform pieces the client relies on.
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use js_sys::{Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn page_is_a_secure_local_origin() {
    let window = web_sys::window().expect("a browser page has a window");
    let location = window.location();
    assert_eq!(location.protocol().unwrap(), "http:");
    assert_eq!(location.hostname().unwrap(), "127.0.0.1");
    // http://127.0.0.1 counts as a secure context, which gates crypto.subtle and navigator.locks.
    assert!(window.is_secure_context());
    for api in ["BroadcastChannel", "indexedDB", "crypto", "fetch"] {
        assert!(
            Reflect::has(&window, &JsValue::from_str(api)).unwrap(),
            "window.{api} is missing"
        );
    }
    let crypto = Reflect::get(&window, &JsValue::from_str("crypto")).unwrap();
    assert!(Reflect::get(&crypto, &JsValue::from_str("subtle"))
        .unwrap()
        .is_object());
    let navigator = window.navigator();
    assert!(Reflect::get(&navigator, &JsValue::from_str("locks"))
        .unwrap()
        .is_object());
}

#[wasm_bindgen_test]
fn local_storage_round_trips_a_raw_string() {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let key = "__web_pipeline_test";
    let value = r#"{"quoted":"é ✓"}"#;
    storage.set_item(key, value).unwrap();
    assert_eq!(storage.get_item(key).unwrap().as_deref(), Some(value));
    storage.remove_item(key).unwrap();
    assert_eq!(storage.get_item(key).unwrap(), None);
}

#[wasm_bindgen_test]
async fn json_parses_after_an_awaited_timer() {
    // A real macrotask: the harness must keep polling async tests across event-loop turns.
    let promise = Promise::new(&mut |resolve, _reject| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 10)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();

    let parsed = JSON::parse(r#"{"a":[1,2,{"b":null}],"s":"x"}"#).unwrap();
    let a = Reflect::get(&parsed, &JsValue::from_str("a")).unwrap();
    assert!(js_sys::Array::is_array(&a));
    assert_eq!(
        JSON::stringify(&parsed).unwrap().as_string().unwrap(),
        r#"{"a":[1,2,{"b":null}],"s":"x"}"#
    );
    assert!(JSON::parse("{not json").is_err());
}

//! Browser tests of several tabs (clients) sharing one session: Web Locks, `storage` events from
//! another document, `BroadcastChannel`, and the encrypted store (IndexedDB, WebCrypto). Against
//! the local backend (see `common::URL`).
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{
    count_kind, event_log, eventually, futures_join3, js, js_async, local_storage, memory_client,
    requests, sign_up, tab, unique_email,
};
use convex_auth_wasm::core::keys::Keys;
use convex_auth_wasm::{AuthEventKind, Storage};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn tabs_sharing_local_storage_rotate_once_under_the_lock() {
    let ns = unique_email("locks");
    let a = tab(Storage::LocalStorage, &ns).await;
    sign_up(&a, &unique_email("locks")).await;
    let t0 = a.token();
    let since = requests().await.length();
    let (b, c) = (
        tab(Storage::LocalStorage, &ns).await,
        tab(Storage::LocalStorage, &ns).await,
    );
    assert_eq!(b.token(), t0, "a second tab loads the stored session");
    assert_eq!(requests().await.length(), since, "with no request");
    let (x, y, z) = futures_join3(
        a.fetch_access_token(true),
        b.fetch_access_token(true),
        c.fetch_access_token(true),
    )
    .await;
    assert!(x.is_some() && x != t0);
    assert_eq!(
        (&x, &x),
        (&y, &z),
        "the waiting tabs reuse the stored token"
    );
    assert_eq!(
        count_kind("refresh", since).await,
        1,
        "one rotation for three tabs"
    );
}

#[wasm_bindgen_test]
async fn a_stuck_lock_is_passed_over() {
    let ns = unique_email("stuck");
    let a = tab(Storage::LocalStorage, &ns).await;
    sign_up(&a, &unique_email("stuck")).await;
    let t0 = a.token();
    let name = JsValue::from_str(&Keys::new(&ns).refresh_token);
    // Another "tab" takes the refresh lock and never lets it go.
    js(
        "navigator.locks.request(a, () => new Promise(() => {}))",
        &name,
        &JsValue::NULL,
    );
    let held = js_async(
        "return navigator.locks.query().then(s => s.held.some(l => l.name === a))",
        &name,
        &JsValue::NULL,
    )
    .await;
    assert_eq!(held, JsValue::TRUE);
    let t1 = a.fetch_access_token(true).await;
    assert!(t1.is_some() && t1 != t0, "refreshed without the lock");
}

#[wasm_bindgen_test]
async fn storage_events_from_another_document_are_followed() {
    let ns = unique_email("events");
    let a = tab(Storage::LocalStorage, &ns).await;
    let other = memory_client().await;
    sign_up(&other, &unique_email("events")).await;
    let (log, _sub) = event_log(&a);
    // A same-origin frame is another document: its writes reach this one as `storage` events.
    let frame_storage = js(
        "const f = document.createElement('iframe'); document.body.appendChild(f); return f.contentWindow.localStorage;",
        &JsValue::NULL,
        &JsValue::NULL,
    );
    let key = JsValue::from_str(&Keys::new(&ns).jwt);
    let token = JsValue::from_str(&other.token().unwrap());
    js(
        "a.setItem(b[0], b[1])",
        &frame_storage,
        &js_sys::Array::of2(&key, &token),
    );
    eventually("the other document's sign-in is followed", || {
        a.token() == other.token()
    })
    .await;
    // The same value again is no change, so no event.
    js(
        "a.setItem(b[0], b[1])",
        &frame_storage,
        &js_sys::Array::of2(&key, &token),
    );
    js("a.removeItem(b)", &frame_storage, &key);
    eventually("the other document's sign-out is followed", || {
        a.token().is_none()
    })
    .await;
    assert_eq!(
        *log.borrow(),
        vec![AuthEventKind::SignedIn, AuthEventKind::SignedOut]
    );
}

#[wasm_bindgen_test]
async fn encrypted_storage_persists_hides_tokens_and_broadcasts() {
    let ns = unique_email("enc");
    let a = tab(Storage::Encrypted, &ns).await;
    assert!(!a.state().is_authenticated);
    sign_up(&a, &unique_email("enc")).await;
    let token = a.token().unwrap();
    // Nothing token-like in Web Storage.
    for storage in [
        local_storage(),
        web_sys::window()
            .unwrap()
            .session_storage()
            .unwrap()
            .unwrap(),
    ] {
        for i in 0..storage.length().unwrap() {
            let k = storage.key(i).unwrap().unwrap();
            let v = storage.get_item(&k).unwrap().unwrap_or_default();
            assert!(!v.contains(&token) && k != Keys::new(&ns).jwt);
        }
    }
    // The IndexedDB record is ciphertext.
    let key = JsValue::from_str(&Keys::new(&ns).jwt);
    let record = js_async(
        "return new Promise((ok, no) => { const r = indexedDB.open('convex-auth-wasm'); r.onerror = no;
           r.onsuccess = () => { const g = r.result.transaction('kv').objectStore('kv').get('encrypted:' + a);
             g.onsuccess = () => { ok(g.result); r.result.close(); }; g.onerror = no; }; })",
        &key,
        &JsValue::NULL,
    )
    .await;
    let bytes = record.dyn_into::<js_sys::Uint8Array>().unwrap().to_vec();
    assert!(bytes.len() > token.len());
    assert!(!String::from_utf8_lossy(&bytes).contains(&token[..20]));
    // Another tab (a reload) finds the session, with no request.
    let since = requests().await.length();
    let b = tab(Storage::Encrypted, &ns).await;
    assert_eq!(b.token().as_deref(), Some(token.as_str()));
    assert_eq!(requests().await.length(), since);
    // Sign-out and sign-in reach the other tab through the BroadcastChannel.
    let (log, _sub) = event_log(&b);
    a.sign_out().await;
    eventually("the other tab signs out", || b.token().is_none()).await;
    sign_up(&a, &unique_email("enc2")).await;
    eventually("the other tab signs in", || b.token() == a.token()).await;
    assert_eq!(
        *log.borrow(),
        vec![AuthEventKind::SignedOut, AuthEventKind::SignedIn]
    );
}

#[wasm_bindgen_test]
async fn encrypted_storage_survives_its_database_being_deleted() {
    let ns = unique_email("encdel");
    let a = tab(Storage::Encrypted, &ns).await;
    sign_up(&a, &unique_email("encdel")).await;
    // Clearing site data deletes the database: the open connection must not block that.
    let outcome = js_async(
        "return new Promise((ok, no) => { const r = indexedDB.deleteDatabase('convex-auth-wasm');
           r.onsuccess = () => ok('deleted'); r.onerror = no; r.onblocked = () => ok('blocked'); })",
        &JsValue::NULL,
        &JsValue::NULL,
    )
    .await;
    assert_eq!(outcome.as_string().as_deref(), Some("deleted"));
    // The client goes on: its next writes recreate the database and a new key, and another tab
    // reads what it stored.
    sign_up(&a, &unique_email("encdel2")).await;
    let b = tab(Storage::Encrypted, &ns).await;
    assert!(b.token().is_some());
    assert_eq!(b.token(), a.token());
    // The key they share is the one stored in the new database (not a copy cached from the old).
    let stored_key = js_async(
        "return new Promise((ok, no) => { const r = indexedDB.open('convex-auth-wasm'); r.onerror = no;
           r.onsuccess = () => { const g = r.result.transaction('kv').objectStore('kv').get(a);
             g.onsuccess = () => { ok(g.result instanceof CryptoKey); r.result.close(); };
             g.onerror = no; }; })",
        &JsValue::from_str("__convexAuthWasmKey"),
        &JsValue::NULL,
    )
    .await;
    assert_eq!(stored_key.as_bool(), Some(true));
}

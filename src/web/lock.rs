//! The Web Locks API (`navigator.locks`): one refresh at a time across the tabs of an origin.
//! A lock is waited for at most a bounded time, and the browser releases the locks of a tab that
//! closes, so a stuck or vanished holder can delay a refresh but never hang it.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::platform::{deferred, Timeout};

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`.
    type LockManager;
    #[wasm_bindgen(method, catch)]
    fn request(
        this: &LockManager,
        name: &str,
        options: &Object,
        callback: &Function,
    ) -> Result<Promise, JsValue>;
}

/// A held lock; dropping it releases the lock.
pub(crate) struct LockGuard {
    release: Function,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::UNDEFINED);
    }
}

/// `navigator.locks` of the window or worker, when the browser has it (secure contexts only).
fn lock_manager() -> Option<LockManager> {
    let navigator = Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).ok()?;
    let locks = Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
    locks
        .is_object()
        .then(|| locks.unchecked_into::<LockManager>())
}

/// Takes the exclusive lock `name`, waiting at most `timeout_ms` for it. `None` when Web Locks
/// are missing or the wait timed out: the caller goes on without the lock (the in-tab single
/// flight and the server's reuse window still prevent a lost session).
pub(crate) async fn acquire(name: &str, timeout_ms: f64) -> Option<LockGuard> {
    let locks = lock_manager()?;
    let controller = web_sys::AbortController::new().ok()?;
    let options = Object::new();
    Reflect::set(&options, &JsValue::from_str("signal"), &controller.signal()).ok()?;
    let (granted, grant) = deferred();
    let (released, release) = deferred();
    // The browser calls this when the lock is granted and holds the lock until `released`
    // settles.
    let callback = Closure::once(move |_lock: JsValue| -> JsValue {
        let _ = grant.call0(&JsValue::UNDEFINED);
        released.into()
    });
    let request = locks
        .request(name, &options, callback.as_ref().unchecked_ref())
        .ok()?;
    let _timer = Timeout::new(timeout_ms, move || controller.abort());
    // `request` settles only after the release, or rejects when the wait was aborted: whichever
    // of the two comes first tells whether the lock was granted.
    let outcome = JsFuture::from(Promise::race(&js_sys::Array::of2(&granted, &request))).await;
    drop(callback);
    outcome.ok().map(|_| LockGuard { release })
}

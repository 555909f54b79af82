//! The smallest useful Leptos app on `convex-auth-wasm`: the auth state as a signal, sign-in
//! anonymously, sign-out. The deployment URL comes from `?convex=<url>`.

use convex_auth_wasm::{AuthState, ConvexAuthClient, Options};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::rc::Rc;

fn deployment_url() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
        .and_then(|p| p.get("convex"))
        .unwrap_or_else(|| "http://127.0.0.1:3210".to_owned())
}

#[component]
fn App(auth: Rc<ConvexAuthClient>) -> impl IntoView {
    // The client's state as a signal; the subscription lives as long as the app.
    let state = RwSignal::new(auth.state());
    auth.subscribe(move |s: &AuthState| state.set(s.clone())).keep();
    // Views want `Send` handles; the client stays on this thread in a local arena slot.
    let auth = StoredValue::new_local(auth);

    let sign_in = {
        move |_| {
            let auth = auth.get_value();
            spawn_local(async move {
                if let Err(e) = auth.sign_in(Some("anonymous"), Vec::new()).await {
                    leptos::logging::error!("sign-in failed: {}", e.message());
                }
            });
        }
    };
    let sign_out = move |_| {
        let auth = auth.get_value();
        spawn_local(async move { auth.sign_out().await });
    };
    let status = move || {
        let s = state.get();
        if s.is_loading {
            "loading"
        } else if s.is_authenticated {
            "signed-in"
        } else {
            "signed-out"
        }
    };
    view! {
        <main>
            <h1>"Leptos + convex-auth-wasm"</h1>
            <p>"Status: " <span data-testid="status">{status}</span></p>
            <Show when=move || state.get().is_authenticated>
                <p>"User: " <span data-testid="user-id">{move || state.get().user_id.unwrap_or_default()}</span></p>
                <button data-testid="sign-out" on:click=sign_out>"Sign out"</button>
            </Show>
            <Show when=move || { let s = state.get(); !s.is_loading && !s.is_authenticated }>
                <button data-testid="sign-in" on:click=sign_in>"Sign in anonymously"</button>
            </Show>
        </main>
    }
}

fn main() {
    let options = Options::new(deployment_url()).storage_namespace("leptos");
    match ConvexAuthClient::new(options) {
        Ok(auth) => mount_to_body(move || view! { <App auth=Rc::new(auth) /> }),
        Err(e) => leptos::logging::error!("bad options: {}", e.message()),
    }
}

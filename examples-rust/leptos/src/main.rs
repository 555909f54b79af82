//! A small Leptos app on `convex-auth-wasm` (feature `serde`): the auth state as a signal fed by
//! `subscribe`, sign-up and sign-in with a password, anonymous sign-in, the user from
//! `users:viewer` and the user's messages from `messages:list` (typed queries), a message sent
//! with the typed mutation `messages:send`, sign-out, and every failure shown with its code. The
//! deployment URL comes from `?convex=<url>`.

use convex_auth_wasm::{AuthState, ConvexAuthClient, Error, Options};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// A document of the `users` table, as `users:viewer` returns it.
#[derive(Clone, Debug, Deserialize)]
struct User {
    #[serde(rename = "_id")]
    id: String,
    email: Option<String>,
    #[serde(rename = "isAnonymous", default)]
    is_anonymous: bool,
}

/// A document of the `messages` table, as `messages:list` returns it (the fields this page
/// shows; serde skips the others).
#[derive(Clone, Debug, Deserialize)]
struct Message {
    #[serde(rename = "_id")]
    id: String,
    body: String,
}

/// The arguments of a function that takes none: `{}`.
#[derive(Serialize)]
struct NoArgs {}

/// The arguments of `messages:send`.
#[derive(Serialize)]
struct SendArgs<'a> {
    body: &'a str,
}

/// The params of the `password` provider.
#[derive(Serialize)]
struct PasswordParams<'a> {
    email: &'a str,
    password: &'a str,
    flow: &'a str,
}

/// The payload of the app's `ConvexError`s (`{code, message}`).
#[derive(Deserialize)]
struct AppError {
    code: String,
    message: String,
}

/// A failure as the page shows it: a code and a message.
#[derive(Clone, Debug, PartialEq)]
struct Shown {
    code: String,
    message: String,
}

impl From<&Error> for Shown {
    fn from(e: &Error) -> Shown {
        // A ConvexError thrown by the app carries its own code; anything else has the crate's.
        if let Error::ConvexError(_) = e {
            if let Ok(AppError { code, message }) = e.data_as::<AppError>() {
                return Shown { code, message };
            }
        }
        Shown {
            code: e.code_name(),
            message: e.message().to_owned(),
        }
    }
}

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
    auth.subscribe(move |s: &AuthState| state.set(s.clone()))
        .keep();
    // Views want `Send` handles; the client stays on this thread in a local arena slot.
    let auth = StoredValue::new_local(auth);
    // The signed-in user's id: the queries below run again when it changes (not on every token
    // refresh, which changes the state but not the user).
    let user_id = Memo::new(move |_| state.with(|s| s.user_id.clone()));
    let error = RwSignal::new(None::<Shown>);
    let busy = RwSignal::new(false);

    let viewer = LocalResource::new(move || {
        let signed_in = user_id.get().is_some();
        let auth = auth.get_value();
        async move {
            if !signed_in {
                return Ok(None);
            }
            auth.query::<Option<User>>("users:viewer", &NoArgs {}).await
        }
    });
    let messages = LocalResource::new(move || {
        let signed_in = user_id.get().is_some();
        let auth = auth.get_value();
        async move {
            if !signed_in {
                return Ok(Vec::new());
            }
            auth.query::<Vec<Message>>("messages:list", &NoArgs {})
                .await
        }
    });

    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let draft = RwSignal::new(String::new());

    let sign_in_password = move |flow: &'static str| {
        let auth = auth.get_value();
        let (e, p) = (email.get_untracked(), password.get_untracked());
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let params = PasswordParams {
                email: &e,
                password: &p,
                flow,
            };
            if let Err(e) = auth.sign_in_with(Some("password"), &params).await {
                error.set(Some(Shown::from(&e)));
            }
            busy.set(false);
        });
    };
    let sign_in_anonymously = move |_| {
        let auth = auth.get_value();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            if let Err(e) = auth.sign_in(Some("anonymous"), Vec::new()).await {
                error.set(Some(Shown::from(&e)));
            }
            busy.set(false);
        });
    };
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let auth = auth.get_value();
        let body = draft.get_untracked();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match auth
                .mutation::<String>("messages:send", &SendArgs { body: &body })
                .await
            {
                Ok(_id) => {
                    draft.set(String::new());
                    messages.refetch();
                }
                Err(e) => error.set(Some(Shown::from(&e))),
            }
            busy.set(false);
        });
    };
    let sign_out = move |_| {
        let auth = auth.get_value();
        error.set(None);
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
    let signed_out = move || state.with(|s| !s.is_loading && !s.is_authenticated);

    view! {
        <main>
            <h1>"Leptos + convex-auth-wasm"</h1>
            <p>"Status: " <span data-testid="status">{status}</span></p>
            <Show when=move || error.get().is_some()>
                <p role="alert">
                    "Error " <code data-testid="error-code">{move || error.get().map(|e| e.code)}</code>
                    ": " <span data-testid="error-message">{move || error.get().map(|e| e.message)}</span>
                </p>
            </Show>
            <Show when=signed_out>
                <section>
                    <h2>"Sign in"</h2>
                    <input data-testid="email" type="email" placeholder="Email" bind:value=email />
                    <input data-testid="password" type="password" placeholder="Password" bind:value=password />
                    <button data-testid="sign-up" disabled=busy on:click=move |_| sign_in_password("signUp")>"Sign up"</button>
                    <button data-testid="sign-in-password" disabled=busy on:click=move |_| sign_in_password("signIn")>"Sign in"</button>
                    <button data-testid="sign-in" disabled=busy on:click=sign_in_anonymously>"Sign in anonymously"</button>
                </section>
            </Show>
            <Show when=move || state.get().is_authenticated>
                <section>
                    <p>"User: " <span data-testid="user-id">{move || state.get().user_id.unwrap_or_default()}</span></p>
                    {move || match viewer.get() {
                        None => view! { <p>"Loading the user..."</p> }.into_any(),
                        Some(Ok(Some(user))) => view! {
                            <p>
                                "Viewer: " <span data-testid="viewer-id">{user.id}</span>
                                " " <span data-testid="viewer-email">{user.email.unwrap_or_default()}</span>
                                {user.is_anonymous.then_some(" (anonymous)")}
                            </p>
                        }.into_any(),
                        Some(Ok(None)) => view! { <p>"No user"</p> }.into_any(),
                        Some(Err(e)) => view! { <p data-testid="viewer-error">{Shown::from(&e).code}</p> }.into_any(),
                    }}
                    <button data-testid="sign-out" on:click=sign_out>"Sign out"</button>
                </section>
                <section>
                    <h2>"Messages"</h2>
                    <form on:submit=send>
                        <input data-testid="draft" placeholder="Message" bind:value=draft />
                        <button data-testid="send" type="submit" disabled=busy>"Send"</button>
                    </form>
                    {move || match messages.get() {
                        None => view! { <p>"Loading messages..."</p> }.into_any(),
                        Some(Err(e)) => view! { <p data-testid="messages-error">{Shown::from(&e).code}</p> }.into_any(),
                        Some(Ok(list)) => view! {
                            <ul data-testid="messages">
                                {list.into_iter().map(|m| view! {
                                    <li data-testid="message" data-id=m.id>{m.body}</li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }}
                </section>
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

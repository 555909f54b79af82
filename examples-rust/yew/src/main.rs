//! A minimal Yew app on `convex-auth-wasm` (feature `serde`): the auth state in a `use_state`
//! fed by `subscribe`, anonymous sign-in, the user from `users:viewer` (a typed query), and
//! sign-out. The deployment URL comes from `?convex=<url>`.

use convex_auth_wasm::{AuthState, ConvexAuthClient, Options};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use yew::platform::spawn_local;
use yew::prelude::*;

/// A document of the `users` table, as `users:viewer` returns it (the fields shown here).
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct User {
    #[serde(rename = "_id")]
    id: String,
    #[serde(rename = "isAnonymous", default)]
    is_anonymous: bool,
}

/// The arguments of a function that takes none: `{}`.
#[derive(Serialize)]
struct NoArgs {}

/// What the page knows of the viewer: not asked yet, the answer, or the failure's code.
#[derive(Clone, Debug, PartialEq)]
enum Viewer {
    Unknown,
    Loaded(Option<User>),
    Failed(String),
}

#[derive(Properties)]
struct Props {
    auth: Rc<ConvexAuthClient>,
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.auth, &other.auth)
    }
}

#[function_component]
fn App(props: &Props) -> Html {
    let auth = props.auth.clone();
    let state = use_state(|| auth.state());
    // Subscribed while the component is mounted: dropping the Subscription unsubscribes.
    {
        let (auth, state) = (auth.clone(), state.clone());
        use_effect_with((), move |_| {
            let subscription = auth.subscribe(move |s: &AuthState| state.set(s.clone()));
            move || drop(subscription)
        });
    }
    let viewer = use_state(|| Viewer::Unknown);
    let error = use_state(|| None::<String>);
    // Asks `users:viewer` whenever the signed-in user changes.
    {
        let (auth, viewer) = (auth.clone(), viewer.clone());
        use_effect_with(state.user_id.clone(), move |user_id| {
            viewer.set(Viewer::Unknown);
            if user_id.is_some() {
                let user_id = user_id.clone();
                spawn_local(async move {
                    let answer = auth.query::<Option<User>>("users:viewer", &NoArgs {}).await;
                    // An answer for a user who has signed out meanwhile is dropped.
                    if auth.state().user_id == user_id {
                        viewer.set(match answer {
                            Ok(user) => Viewer::Loaded(user),
                            Err(e) => Viewer::Failed(e.code_name()),
                        });
                    }
                });
            }
        });
    }

    let sign_in = {
        let (auth, error) = (auth.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            let (auth, error) = (auth.clone(), error.clone());
            error.set(None);
            spawn_local(async move {
                if let Err(e) = auth.sign_in(Some("anonymous"), Vec::new()).await {
                    error.set(Some(e.code_name()));
                }
            });
        })
    };
    let sign_out = {
        let auth = auth.clone();
        Callback::from(move |_: MouseEvent| {
            let auth = auth.clone();
            spawn_local(async move { auth.sign_out().await });
        })
    };

    let status = if state.is_loading {
        "loading"
    } else if state.is_authenticated {
        "signed-in"
    } else {
        "signed-out"
    };
    html! {
        <main>
            <h1>{ "Yew + convex-auth-wasm" }</h1>
            <p>{ "Status: " }<span data-testid="status">{ status }</span></p>
            if let Some(code) = (*error).clone() {
                <p role="alert">{ "Error " }<code data-testid="error-code">{ code }</code></p>
            }
            if state.is_authenticated {
                <p>{ "User: " }<span data-testid="user-id">{ state.user_id.clone().unwrap_or_default() }</span></p>
                {
                    match &*viewer {
                        Viewer::Unknown => html! { <p>{ "Loading the user..." }</p> },
                        Viewer::Loaded(Some(user)) => html! {
                            <p>
                                { "Viewer: " }<span data-testid="viewer-id">{ user.id.clone() }</span>
                                { if user.is_anonymous { " (anonymous)" } else { "" } }
                            </p>
                        },
                        Viewer::Loaded(None) => html! { <p data-testid="viewer-id">{ "none" }</p> },
                        Viewer::Failed(code) => html! { <p data-testid="viewer-error">{ code.clone() }</p> },
                    }
                }
                <button data-testid="sign-out" onclick={sign_out}>{ "Sign out" }</button>
            } else if !state.is_loading {
                <button data-testid="sign-in" onclick={sign_in}>{ "Sign in anonymously" }</button>
            }
        </main>
    }
}

fn deployment_url() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
        .and_then(|p| p.get("convex"))
        .unwrap_or_else(|| "http://127.0.0.1:3210".to_owned())
}

fn main() {
    let options = Options::new(deployment_url()).storage_namespace("yew");
    match ConvexAuthClient::new(options) {
        Ok(auth) => {
            yew::Renderer::<App>::with_props(Props {
                auth: Rc::new(auth),
            })
            .render();
        }
        Err(e) => web_sys::console::error_1(&format!("bad options: {}", e.message()).into()),
    }
}

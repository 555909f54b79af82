//! # convex-auth-wasm
//!
//! Sign-in for [Convex](https://convex.dev) apps in every browser framework: one client for
//! Convex Auth (`@convex-dev/auth` 0.0.x and 2.x, every provider kind) and for identity
//! platforms (Clerk, Auth0, any OIDC issuer the deployment trusts), with pluggable token
//! storage, auth-state events, refresh before expiry that never signs a user out on a transient
//! failure, and a token fetcher for the official Convex clients. The npm package
//! `convex-auth-wasm` is this crate built for JS; Rust front ends (Leptos, Yew, Dioxus) use the
//! crate itself, on `wasm32-unknown-unknown`.
//!
//! ## Rust quick start
//!
//! ```ignore
//! use convex_auth_wasm::{ConvexAuthClient, Options, Storage};
//!
//! let auth = ConvexAuthClient::new(Options::new("https://happy-animal-123.convex.cloud"))?;
//! auth.ready().await;
//! let _sub = auth.subscribe(|state| log(state.is_authenticated));
//! auth.sign_in(Some("password"), vec![
//!     ("email".into(), "ada@example.com".into()),
//!     ("password".into(), "correct horse battery".into()),
//!     ("flow".into(), "signIn".into()),
//! ]).await?;
//! let token: Option<String> = auth.fetch_access_token(false).await;
//! auth.sign_out().await;
//! ```
//!
//! With the feature `serde`, params are any `Serialize` type and Convex functions are called
//! with typed arguments and results, as the signed-in user:
//!
//! ```ignore
//! #[derive(serde::Serialize)]
//! struct SignIn<'a> { email: &'a str, password: &'a str, flow: &'a str }
//! #[derive(serde::Deserialize)]
//! struct User { name: Option<String> }
//!
//! auth.sign_in_with(Some("password"), &SignIn { email, password, flow: "signIn" }).await?;
//! let viewer: Option<User> = auth.query("users:viewer", &serde_json::json!({})).await?;
//! let id: String = auth.mutation("messages:send", &serde_json::json!({ "body": "hi" })).await?;
//! ```
//!
//! Errors are one [`Error`] enum whose variants match the JS `code`s; a `ConvexError`'s data is
//! read with `Error::data_as::<T>()` (feature `serde`).
//!
//! ## Layers
//!
//! - [`core`]: I/O-free logic, tested natively: the session machine ([`core::machine`]: every
//!   state and decision, typed inputs in and typed commands out), the session backends (Convex
//!   Auth v1 in [`core::machine`] and [`core::protocol`], v2 in [`core::v2`], identity
//!   platforms in [`core::source`]), JWT claims, errors, refresh timing;
//! - `web` (wasm32 only): the `ConvexAuthClient` itself, which runs the machine and has small JS
//!   modules of the crate carry out its commands with the browser's APIs; exported to JS by
//!   wasm-bindgen and usable from Rust front ends.

pub mod core;

// The npm build's allocator (feature `small-alloc`). `LockedAllocator` is lol_alloc's safe
// wrapper; its spin lock is never contended in a single-threaded wasm instance.
#[cfg(all(target_arch = "wasm32", feature = "small-alloc"))]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use crate::core::error::{Error, ErrorCode, ErrorDetails};
pub use crate::core::session::{AuthEvent, AuthEventKind, AuthState};
#[cfg(target_arch = "wasm32")]
pub use crate::web::client::{
    ConvexAuthClient, FetchToken, LocalFuture, Options, ShouldHandleCode, SignInOutcome,
    Subscription, Version,
};
#[cfg(target_arch = "wasm32")]
pub use crate::web::storage::{JsStorage, Storage, TokenStorage};

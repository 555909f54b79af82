//! # convex-auth-wasm
//!
//! Convex Auth (`@convex-dev/auth`) for every browser framework: a small WebAssembly client
//! with sign-in for every provider kind, pluggable token storage, auth-state events and a
//! token fetcher for the official Convex client.
//!
//! The crate has two layers:
//! - [`core`]: I/O-free logic, tested natively: the session machine ([`core::machine`]: every
//!   state and decision, typed inputs in and typed commands out), the session backends of both
//!   Convex Auth generations (v1 in [`core::machine`] and [`core::protocol`], v2 in
//!   [`core::v2`]), JWT claims, errors, refresh timing;
//! - `web` (wasm32 only): the `ConvexAuthClient` itself, which runs the machine and has a
//!   small JS module of the crate (`io.js`) carry out its commands with the browser's APIs;
//!   exported to JS by wasm-bindgen and usable from Rust front ends (Leptos, Yew, Dioxus).

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
    ConvexAuthClient, Options, ShouldHandleCode, SignInOutcome, Subscription, Version,
};
#[cfg(target_arch = "wasm32")]
pub use crate::web::storage::{JsStorage, Storage, TokenStorage};

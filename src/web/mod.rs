//! The browser edges: platform bindings, storage, the client (the session machine with
//! `executor.js`), and its JS facade.

#[cfg(feature = "serde")]
mod calls;
pub mod client;
mod facade;
mod io;
mod platform;
pub mod storage;

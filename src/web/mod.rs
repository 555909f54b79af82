//! The browser edges: platform bindings, storage, the client (the session machine with
//! `io.js`'s executor), and its JS facade.

pub mod client;
mod facade;
mod io;
mod platform;
pub mod storage;

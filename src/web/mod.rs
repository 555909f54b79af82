//! The browser edges: platform bindings, storage, transport, the client and its JS facade.

pub mod client;
mod facade;
mod io;
mod platform;
pub mod storage;
mod transport;

//! The browser edges: platform bindings, storage, the client over `io.js`'s driver, and its JS
//! facade.

pub mod client;
mod facade;
mod io;
mod platform;
pub mod storage;

//! Who is who: event authentication on ingest sockets ([`Authenticator`]), staff accounts
//! ([`accounts`]), sign-in sessions ([`session`]) and rights ([`access`]).
//!
//! Event authentication: who is sending on an ingest socket.
//!
//! Methods are tried in the configured order on each event (lock fields merged) until one
//! yields an identity; the socket is then authenticated for good. Identity only ever comes from
//! here — never from an event body or a client-supplied `auth` field.

pub mod access;
pub mod accounts;
mod methods;
pub mod session;
pub mod token;

pub use methods::{Attempt, AuthConfig, AuthConfigError, Authenticator, Method};

//! The session backend of an identity platform (Clerk, Auth0, WorkOS, Better Auth, any OIDC
//! issuer the deployment trusts): the platform holds the session, and the app hands the client a
//! token source (`tokenSource` in API.md) whose `fetchToken` gives the platform's JWT. The
//! client keeps no refresh token and nothing in storage; a refresh asks the source (forced, so
//! that a source that caches mints a new token), a look-up after the source changed asks it
//! unforced, and signing out calls the source's own `signOut` when it has one. The policy
//! (single flight, retries that never sign out, who signs out) is the machine's, as for Convex
//! Auth.

use super::error::{Error, ErrorCode};
use super::json::Json;
use super::jwt::{self, Claims};
use super::machine::{Backend, Exchange, Kept, Request, SourceCall};
use super::protocol::{Ceremony, Refresh, SignInResult};

/// A token source.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenSource {
    /// Whether the source has a `signOut` for the client's sign-out to call.
    pub signs_out: bool,
}

/// The error of a Convex Auth step asked of a token source.
fn not_a_step() -> Error {
    Error::options("A token source signs in with its own `signIn`")
}

impl Backend for TokenSource {
    fn accepts(&self, claims: &Claims) -> bool {
        claims.sessionless
    }
    fn decode(&self, token: &str) -> Option<Claims> {
        jwt::decode_platform(token)
    }
    fn url_params(&self) -> Option<(&'static str, Option<&'static str>)> {
        // The page URL's `code` belongs to the platform's own SDK.
        None
    }
    fn url_error(&self, value: &str) -> Error {
        Error::new(ErrorCode::InvalidCode, value)
    }
    fn kept(&self, _provider: Option<&str>, _params: &[(String, String)]) -> Option<Kept> {
        None
    }
    fn sign_in(
        &self,
        _provider: Option<&str>,
        _params: &[(String, String)],
        _kept: Option<&str>,
        _page_url: Option<&str>,
    ) -> Result<Request, Error> {
        Err(not_a_step())
    }
    fn sign_in_answer(
        &self,
        _provider: Option<&str>,
        _params: &[(String, String)],
        _status: u16,
        _body: Option<Json>,
    ) -> Result<SignInResult, Error> {
        Err(not_a_step())
    }
    fn ceremony_done(
        &self,
        _ceremony: &Ceremony,
        _params: &[(String, String)],
        _credential: Json,
    ) -> Result<Request, Error> {
        Err(not_a_step())
    }
    fn refresh(&self, _refresh_token: Option<&str>, renew: bool) -> Option<Exchange> {
        Some(Exchange::Source(SourceCall::Token { force: renew }))
    }
    fn refresh_answer(
        &self,
        _status: u16,
        _body: Option<Json>,
        _refresh_token: &str,
    ) -> Result<Refresh, Error> {
        Err(not_a_step())
    }
    fn sign_out(&self, _token: &str, _refresh_token: Option<&str>) -> Option<Exchange> {
        self.signs_out
            .then_some(Exchange::Source(SourceCall::SignOut))
    }
}

//! Storage key naming, identical to the official clients' (`@convex-dev/auth/react` 0.0.x,
//! PROTOCOL.md §2.1; `@convex-dev/auth` 2.0's browser client, PROTOCOL-V2.md §4), so sessions
//! carry over in both directions.

use super::machine::Slot;

/// The keys of one namespace, a key per [`Slot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// `__convexAuthJWT_<ns>`: the access JWT.
    pub jwt: String,
    /// `__convexAuthRefreshToken_<ns>`: the refresh token (and the name of the refresh lock).
    pub refresh_token: String,
    /// v1: `__convexAuthOAuthVerifier_<ns>`, the OAuth verifier between redirect and code
    /// exchange; v2: `__convexAuthProvider_oauth_flow_<ns>`, the pending OAuth flow.
    pub verifier: String,
    /// `__convexAuthWasmUserId_<ns>`: the user of the stored v2 session (this SDK's own key: the
    /// official v2 client keeps none).
    pub user_id: String,
    /// `__convexAuthEmailPasswordSignUpSecret_<ns>`: v2's sign-up `browserSecret`.
    pub sign_up_secret: String,
    /// `__convexAuthEmailPasswordRecoverySecret_<ns>`: v2's recovery `browserSecret`.
    pub recovery_secret: String,
}

impl Keys {
    /// The key of `slot`.
    pub fn of(&self, slot: Slot) -> &str {
        match slot {
            Slot::Jwt => &self.jwt,
            Slot::RefreshToken => &self.refresh_token,
            Slot::Verifier => &self.verifier,
            Slot::UserId => &self.user_id,
            Slot::SignUpSecret => &self.sign_up_secret,
            Slot::RecoverySecret => &self.recovery_secret,
        }
    }

    /// The keys of Convex Auth v2 for `namespace` (see [`Keys::new`]).
    pub fn v2(namespace: &str) -> Self {
        let mut keys = Keys::new(namespace);
        keys.verifier = Keys::namespaced("__convexAuthProvider_oauth_flow", namespace);
        keys
    }

    /// `base` suffixed with `_` and `namespace` reduced to `[a-zA-Z0-9]`.
    fn namespaced(base: &str, namespace: &str) -> String {
        let mut key = String::with_capacity(base.len() + 1 + namespace.len());
        key.push_str(base);
        key.push('_');
        key.extend(namespace.chars().filter(char::is_ascii_alphanumeric));
        key
    }

    /// The keys for `namespace` (the deployment url unless `storageNamespace` is given): every
    /// character outside `[a-zA-Z0-9]` is removed, as the official client does.
    pub fn new(namespace: &str) -> Self {
        let key = |base| Keys::namespaced(base, namespace);
        Keys {
            jwt: key("__convexAuthJWT"),
            refresh_token: key("__convexAuthRefreshToken"),
            verifier: key("__convexAuthOAuthVerifier"),
            user_id: key("__convexAuthWasmUserId"),
            sign_up_secret: key("__convexAuthEmailPasswordSignUpSecret"),
            recovery_secret: key("__convexAuthEmailPasswordRecoverySecret"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_key_layout() {
        let k = Keys::new("https://happy-animal-123.convex.cloud");
        assert_eq!(k.jwt, "__convexAuthJWT_httpshappyanimal123convexcloud");
        assert_eq!(
            k.refresh_token,
            "__convexAuthRefreshToken_httpshappyanimal123convexcloud"
        );
        assert_eq!(
            k.verifier,
            "__convexAuthOAuthVerifier_httpshappyanimal123convexcloud"
        );
        assert_eq!(
            Keys::new("http://127.0.0.1:3210").jwt,
            "__convexAuthJWT_http1270013210"
        );
        // JS's /[^a-zA-Z0-9]/g removes non-ASCII letters too.
        assert_eq!(Keys::new("héllo wörld_1").jwt, "__convexAuthJWT_hllowrld1");
    }

    #[test]
    fn v2_key_layout() {
        let k = Keys::v2("http://127.0.0.1:3210");
        assert_eq!(k.jwt, "__convexAuthJWT_http1270013210");
        assert_eq!(k.refresh_token, "__convexAuthRefreshToken_http1270013210");
        assert_eq!(k.verifier, "__convexAuthProvider_oauth_flow_http1270013210");
        assert_eq!(
            k.of(Slot::SignUpSecret),
            "__convexAuthEmailPasswordSignUpSecret_http1270013210"
        );
        assert_eq!(
            k.of(Slot::RecoverySecret),
            "__convexAuthEmailPasswordRecoverySecret_http1270013210"
        );
        assert_eq!(k.of(Slot::UserId), "__convexAuthWasmUserId_http1270013210");
    }
}

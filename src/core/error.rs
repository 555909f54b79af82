//! The one error type of the SDK: an enum with a variant per stable code, the codes shared by
//! Rust and JS.

use super::json::Json;
use super::split_byte;

/// Defines [`ErrorCode`] and [`Error`] from one list: a code and a variant of each per entry.
macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// What went wrong, as a stable code. `as_str` is the JS `code`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $name,)*
        }

        impl ErrorCode {
            /// The stable string code (`err.code` in JS).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }

            /// Every code.
            pub const ALL: [ErrorCode; [$(ErrorCode::$name,)*].len()] = [$(ErrorCode::$name,)*];
        }

        /// The one error type of the SDK: a variant per [`ErrorCode`] (the JS `code`), each with
        /// its [`ErrorDetails`]. Match on the variant, or read [`code`](Error::code),
        /// [`message`](Error::message), [`retryable`](Error::retryable) and
        /// [`data`](Error::data).
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Error {
            $($(#[doc = $doc])* $name(ErrorDetails),)*
        }

        impl Error {
            /// An error with `code` and the details given.
            pub fn with_details(code: ErrorCode, details: ErrorDetails) -> Error {
                match code {
                    $(ErrorCode::$name => Error::$name(details),)*
                }
            }

            /// The stable code.
            pub fn code(&self) -> ErrorCode {
                match self {
                    $(Error::$name(_) => ErrorCode::$name,)*
                }
            }

            /// The details.
            pub fn details(&self) -> &ErrorDetails {
                match self {
                    $(Error::$name(d))|* => d,
                }
            }

            /// The details, to change them.
            pub fn details_mut(&mut self) -> &mut ErrorDetails {
                match self {
                    $(Error::$name(d))|* => d,
                }
            }

            /// The details, taken out.
            pub fn into_details(self) -> ErrorDetails {
                match self {
                    $(Error::$name(d))|* => d,
                }
            }
        }
    };
}

codes! {
    /// An option of the constructor is missing or of the wrong type.
    InvalidOptions,
    /// A `signIn` argument is not a string / plain object of strings / FormData.
    InvalidParams,
    /// The request never got an answer (offline, connection reset, CORS, DNS).
    Network,
    /// The request took longer than the client's timeout.
    Timeout,
    /// The server answered with an HTTP error (5xx, 429, or an unexpected status).
    Server,
    /// The server's answer could not be understood.
    InvalidResponse,
    /// The server rejected the access token (HTTP 401/403), or there is no session.
    Unauthenticated,
    /// The token storage failed (the client went on in memory).
    Storage,
    /// Wrong password (`InvalidSecret`, development deployments).
    InvalidSecret,
    /// Unknown account (`InvalidAccountId`, development deployments).
    InvalidAccountId,
    /// Rate limited after failed attempts (`TooManyFailedAttempts`).
    TooManyFailedAttempts,
    /// A one-time code or reset code was wrong or expired (`Could not verify code`).
    InvalidCode,
    /// The server function threw a `ConvexError`; its payload is in `data`.
    ConvexError,
    /// The server function threw any other error.
    FunctionError,
    /// A Convex Auth v2 method answered with a `userError`: the JS `code` is the server's own
    /// (`INVALID_CREDENTIALS`, `USER_NOT_FOUND`, `RATE_LIMITED`, `INCORRECT_CODE`, ...; see
    /// [`Error::code_name`]) and `data` is the `userError`.
    UserError,
    /// The user cancelled the passkey ceremony (or it timed out).
    PasskeyCancelled,
    /// This browser has no WebAuthn (or refused the ceremony for this page).
    PasskeyUnsupported,
}

impl ErrorCode {
    /// The code whose [`as_str`](Self::as_str) is `s`.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What every [`Error`] carries besides its code.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorDetails {
    /// A message for people (never containing a token); not part of the contract.
    pub message: String,
    /// `true` for transient failures (network, timeout, 5xx): retrying the same call may succeed,
    /// and the session is kept.
    pub retryable: bool,
    /// The `ConvexError` payload (`errorData`) sent by the server.
    pub data: Option<Json>,
}

impl Error {
    /// An error with the code's default retryability.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retryable = matches!(
            code,
            ErrorCode::Network
                | ErrorCode::Timeout
                | ErrorCode::Server
                | ErrorCode::InvalidResponse
        );
        Error::with_details(
            code,
            ErrorDetails {
                message: message.into(),
                retryable,
                data: None,
            },
        )
    }

    /// The message for people (never containing a token).
    pub fn message(&self) -> &str {
        &self.details().message
    }

    /// Whether the same call may succeed later (network, timeout, 5xx).
    pub fn retryable(&self) -> bool {
        self.details().retryable
    }

    /// The server's `ConvexError` payload, when there is one.
    pub fn data(&self) -> Option<&Json> {
        self.details().data.as_ref()
    }

    /// The same error with every occurrence of `secret` in its message replaced (a server may
    /// echo a malformed token back, e.g. "Can't parse refresh token: ...").
    pub fn redact(mut self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let message = &mut self.details_mut().message;
        // A window scan instead of `str::replace`, whose substring searcher costs about 1 KB of
        // wasm. A match of a whole string starts and ends on character boundaries.
        let mut out = String::with_capacity(message.len());
        let mut rest = message.as_str();
        while let Some((before, after)) =
            find(rest, secret).and_then(|i| Some((rest.get(..i)?, rest.get(i + secret.len()..)?)))
        {
            out.push_str(before);
            out.push_str("[redacted]");
            rest = after;
        }
        out.push_str(rest);
        *message = out;
        self
    }

    /// The same error with retryability `retryable`.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.details_mut().retryable = retryable;
        self
    }

    /// `InvalidOptions` with a message.
    pub fn options(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidOptions, message)
    }

    /// `InvalidParams` with a message.
    pub fn params(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidParams, message)
    }

    /// `Storage` with a message.
    pub fn storage(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Storage, message)
    }

    /// A v2 `userError` (an object with a string `error`: the code).
    pub fn user_error(user_error: Json) -> Self {
        let code = user_error.get("error").and_then(|c| c.string());
        let mut err = Error::new(
            ErrorCode::UserError,
            code.unwrap_or_else(|| "The server refused the sign-in".to_owned()),
        );
        err.details_mut().data = Some(user_error);
        err
    }

    /// The code as JS sees it (`err.code`): [`ErrorCode::as_str`], except for a
    /// [`Error::UserError`], whose code is the server's (its `data.error`).
    pub fn code_name(&self) -> String {
        let server = match self {
            Error::UserError(d) => d.data.as_ref().and_then(|d| d.get("error")?.string()),
            _ => None,
        };
        server.unwrap_or_else(|| self.code().as_str().to_owned())
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.code().as_str())?;
        f.write_str(": ")?;
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

/// Turns a function error (`{status:"error", errorMessage, errorData?}`) into an [`Error`].
///
/// Development deployments put the thrown message after `Uncaught Error: `; production ones
/// redact it to `Server Error`. A `ConvexError` (with `errorData`) keeps its payload.
pub fn from_function_error(error_message: &str, error_data: Option<Json>) -> Error {
    let message = thrown_message(error_message);
    let code = if error_data.is_some() {
        ErrorCode::ConvexError
    } else {
        const KNOWN: [(&str, ErrorCode); 4] = [
            ("InvalidSecret", ErrorCode::InvalidSecret),
            ("InvalidAccountId", ErrorCode::InvalidAccountId),
            ("TooManyFailedAttempts", ErrorCode::TooManyFailedAttempts),
            ("Could not verify code", ErrorCode::InvalidCode),
        ];
        KNOWN
            .iter()
            .find(|(needle, _)| message.starts_with(needle))
            .map_or(ErrorCode::FunctionError, |(_, code)| *code)
    };
    let mut err = Error::new(code, message);
    err.details_mut().data = error_data;
    err
}

/// Where `needle` (not empty) first occurs in `s`: a window scan instead of `str::find(&str)`,
/// whose substring searcher costs about 1 KB of wasm.
pub(crate) fn find(s: &str, needle: &str) -> Option<usize> {
    s.as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// The message a server function threw: the text after `Uncaught Error: ` (or
/// `Uncaught ConvexError: `) up to the end of that line, else the whole first line.
fn thrown_message(error_message: &str) -> String {
    let after = |p: &str| error_message.get(find(error_message, p)? + p.len()..);
    let body = ["Uncaught Error: ", "Uncaught ConvexError: ", "Uncaught "]
        .into_iter()
        .find_map(after)
        .unwrap_or(error_message);
    let line = split_byte(body, b'\n')
        .map_or(body, |(l, _)| l)
        .trim_ascii();
    if line.is_empty() {
        "Server Error".to_owned()
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_removes_a_secret_from_the_message() {
        let e = Error::new(
            ErrorCode::FunctionError,
            "Can't parse refresh token: abc|def",
        )
        .redact("abc|def");
        assert_eq!(e.message(), "Can't parse refresh token: [redacted]");
        assert_eq!(
            Error::new(ErrorCode::Network, "x").redact("").message(),
            "x"
        );
        let twice = Error::new(ErrorCode::Server, "é tok, tok é toktok").redact("tok");
        assert_eq!(
            twice.message(),
            "é [redacted], [redacted] é [redacted][redacted]"
        );
    }

    use super::*;

    #[test]
    fn every_code_parses_back_from_its_string() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("Nope"), None);
    }

    #[test]
    fn maps_development_messages_to_codes() {
        let dev = |m: &str| {
            format!("[Request ID: abc] Server Error\nUncaught Error: {m}\n    at retrieveAccount (x.js:1:2)")
        };
        for (m, code) in [
            ("InvalidSecret", ErrorCode::InvalidSecret),
            ("InvalidAccountId", ErrorCode::InvalidAccountId),
            ("TooManyFailedAttempts", ErrorCode::TooManyFailedAttempts),
            ("Could not verify code", ErrorCode::InvalidCode),
            ("Invalid password", ErrorCode::FunctionError),
        ] {
            let e = from_function_error(&dev(m), None);
            assert_eq!(e.code(), code);
            assert_eq!(e.message(), m);
            assert!(!e.retryable());
        }
    }

    #[test]
    fn production_and_plain_messages() {
        let e = from_function_error("[Request ID: abc] Server Error", None);
        assert_eq!(
            (e.code(), e.message()),
            (ErrorCode::FunctionError, "[Request ID: abc] Server Error")
        );
        let e = from_function_error("", None);
        assert_eq!(e.message(), "Server Error");
        let e = from_function_error("Uncaught Error: Account a@b.c already exists", None);
        assert_eq!(e.message(), "Account a@b.c already exists");
    }

    #[test]
    fn convex_error_keeps_payload() {
        let data = crate::core::json::parse(r#"{"code":"NOT_AUTHENTICATED"}"#).expect("valid");
        let e = from_function_error(
            "Uncaught ConvexError: {\"code\":\"NOT_AUTHENTICATED\"}",
            Some(data.clone()),
        );
        assert_eq!(e.code(), ErrorCode::ConvexError);
        assert_eq!(e.data(), Some(&data));
        assert!(matches!(e, Error::ConvexError(_)));
    }

    #[test]
    fn retryability_by_code() {
        for (code, r) in [
            (ErrorCode::Network, true),
            (ErrorCode::Timeout, true),
            (ErrorCode::Server, true),
            (ErrorCode::InvalidResponse, true),
            (ErrorCode::Unauthenticated, false),
            (ErrorCode::InvalidOptions, false),
            (ErrorCode::Storage, false),
        ] {
            let e = Error::new(code, "m");
            assert_eq!((e.retryable(), e.code()), (r, code), "{code:?}");
        }
        assert_eq!(Error::new(ErrorCode::Server, "m").to_string(), "Server: m");
    }
}

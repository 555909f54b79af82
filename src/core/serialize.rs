//! `serde` at the crate's edges (feature `serde`, off in the npm build): the state, events and
//! errors implement `Serialize` as the JS API shows them (camelCase fields, event `type` and
//! error `code` strings), and JSON values cross as JSON text, which serde_json reads and writes
//! on the Rust side and the browser's own `JSON.parse` / `JSON.stringify` on the JS side.

use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::error::{Error, ErrorCode};
use super::json::{self, Json};
use super::session::{AuthEvent, AuthEventKind, AuthState};

/// `value` read as a `T` (through its JSON text).
pub(crate) fn from_json<T: DeserializeOwned>(value: &Json) -> Result<T, Error> {
    serde_json::from_str(&value.to_json_string()).map_err(|e| {
        let mut message = String::from("The value does not have the expected shape: ");
        message.push_str(&e.to_string());
        Error::new(ErrorCode::InvalidResponse, message)
    })
}

/// `value` as a [`Json`] (through its JSON text); `code` is the error's when it cannot be
/// written as JSON. (The typed Convex calls of the browser client use it.)
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn to_json(value: &impl Serialize, code: ErrorCode) -> Result<Json, Error> {
    let text = serde_json::to_string(value).map_err(|e| Error::new(code, e.to_string()))?;
    json::parse(&text).ok_or_else(|| Error::new(code, "The value is not JSON"))
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value: serde_json::Value = serde_json::from_str(&self.to_json_string())
            .map_err(<S::Error as serde::ser::Error>::custom)?;
        value.serialize(serializer)
    }
}

impl Serialize for AuthState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("isLoading", &self.is_loading)?;
        map.serialize_entry("isAuthenticated", &self.is_authenticated)?;
        map.serialize_entry("token", &self.token)?;
        map.serialize_entry("userId", &self.user_id)?;
        map.serialize_entry("sessionId", &self.session_id)?;
        map.serialize_entry("expiresAt", &self.expires_at)?;
        if let Some(id) = &self.stored_user_id {
            map.serialize_entry("storedUserId", id)?;
        }
        if let Some(user) = &self.user {
            map.serialize_entry("user", user)?;
        }
        map.end()
    }
}

impl Serialize for AuthEventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for AuthEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", &self.kind)?;
        map.serialize_entry("state", &self.state)?;
        if let Some(error) = &self.error {
            map.serialize_entry("error", error)?;
        }
        map.end()
    }
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let details = self.details();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("code", &self.code_name())?;
        map.serialize_entry("message", &details.message)?;
        map.serialize_entry("retryable", &details.retryable)?;
        if let Some(data) = &details.data {
            map.serialize_entry("data", data)?;
        }
        map.end()
    }
}

impl Error {
    /// The server's `ConvexError` payload as a `T` (`InvalidResponse` when there is none, or it
    /// has another shape).
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match &self.details().data {
            Some(data) => from_json(data),
            None => Err(Error::new(
                ErrorCode::InvalidResponse,
                "The error carries no ConvexError data",
            )),
        }
    }
}

/// Sign-in params from any `Serialize` value: an object whose values are strings (`null`
/// fields are left out); anything else is `InvalidParams`.
pub fn params_of(params: &impl Serialize) -> Result<Vec<(String, String)>, Error> {
    let value = serde_json::to_value(params)
        .map_err(|e| Error::new(ErrorCode::InvalidParams, e.to_string()))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(Error::new(
            ErrorCode::InvalidParams,
            "Sign-in params must serialize to an object of strings",
        ));
    };
    let mut out = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        match value {
            serde_json::Value::String(s) => out.push((key, s)),
            serde_json::Value::Null => {}
            _ => {
                let mut message = String::from("The sign-in param `");
                message.push_str(&key);
                message.push_str("` must be a string");
                return Err(Error::new(ErrorCode::InvalidParams, message));
            }
        }
    }
    Ok(out)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct SignUp<'a> {
        email: &'a str,
        password: &'a str,
        flow: &'a str,
        code: Option<&'a str>,
    }

    #[test]
    fn params_are_objects_of_strings() {
        let p = SignUp {
            email: "a@b.c",
            password: "pw",
            flow: "signUp",
            code: None,
        };
        let got = params_of(&p).unwrap_or_default();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got.iter()
                .find(|(k, _)| k == "flow")
                .map(|(_, v)| v.as_str()),
            Some("signUp")
        );
        let e = params_of(&serde_json::json!({"remember": true})).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidParams);
        assert!(params_of(&"just a string").is_err());
    }

    #[test]
    fn state_events_and_errors_serialize_as_the_js_api_shows_them() {
        let state = AuthState {
            is_loading: false,
            is_authenticated: true,
            token: Some("t".into()),
            user_id: Some("u".into()),
            ..AuthState::default()
        };
        let event = AuthEvent {
            kind: AuthEventKind::SignedIn,
            state,
            error: None,
        };
        let text = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"type":"signedIn","state":{"isLoading":false,"isAuthenticated":true,"token":"t","userId":"u","sessionId":null,"expiresAt":null}}"#
        );
        let mut e = Error::new(ErrorCode::ConvexError, "no");
        e.details_mut().data = json::parse(r#"{"code":"NOT_AUTHENTICATED","n":1}"#);
        let text = serde_json::to_string(&e).unwrap_or_default();
        assert!(text.contains(r#""code":"ConvexError""#), "{text}");
        assert!(
            text.contains(r#""data":{"code":"NOT_AUTHENTICATED","n":1}"#),
            "{text}"
        );

        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Data {
            code: String,
            n: u32,
        }
        let data: Data = e.data_as().unwrap_or(Data {
            code: String::new(),
            n: 0,
        });
        assert_eq!(
            data,
            Data {
                code: "NOT_AUTHENTICATED".into(),
                n: 1
            }
        );
        assert_eq!(
            Error::new(ErrorCode::Network, "x")
                .data_as::<Data>()
                .unwrap_err()
                .code(),
            ErrorCode::InvalidResponse
        );
    }
}

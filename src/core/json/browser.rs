//! The browser backend: a [`Json`] is the JS value that the browser's `JSON.parse` made.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/web/io.js")]
extern "C" {
    #[wasm_bindgen(js_name = jsonParse)]
    fn json_parse(text: &str) -> JsValue;
    #[wasm_bindgen(js_name = jsonOfBase64url)]
    fn json_of_base64url(segment: &str) -> JsValue;
    #[wasm_bindgen(js_name = jsonField)]
    fn json_field(value: &JsValue, key: &str) -> JsValue;
}

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub struct Json(JsValue);

impl Default for Json {
    /// `null`.
    fn default() -> Json {
        Json(JsValue::NULL)
    }
}

/// `Some` unless `v` is undefined (what the JS helpers return for "none").
fn defined(v: JsValue) -> Option<Json> {
    (!v.is_undefined()).then_some(Json(v))
}

/// Parses a complete JSON document. `None` for anything malformed.
pub fn parse(text: &str) -> Option<Json> {
    defined(json_parse(text))
}

/// Parses the JSON (UTF-8) in a base64url segment, padded or not, as in a JWT. `None` when the
/// segment is not base64, not UTF-8 or not JSON.
pub fn parse_base64url(segment: &str) -> Option<Json> {
    defined(json_of_base64url(segment))
}

impl Json {
    /// The own field `key` of an object, or `None` for other values (arrays included) and
    /// missing keys.
    pub fn get(&self, key: &str) -> Option<Json> {
        defined(json_field(&self.0, key))
    }

    /// The string value, if this is a string.
    pub fn string(&self) -> Option<String> {
        self.0.as_string()
    }

    /// The integer part of a number (`1.7e9` and `-3.9` give 1700000000 and -3), if it is
    /// below 10^18 in magnitude.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.as_f64().filter(|n| n.abs() < 1e18).map(|n| n as i64)
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        self.0.is_null()
    }

    /// Whether this is `true`.
    pub fn is_true(&self) -> bool {
        self.0.as_bool() == Some(true)
    }

    /// A string value.
    pub fn from_string(s: String) -> Json {
        Json(JsValue::from(s))
    }

    /// An object of `fields`, in order (a field whose value is `None` is left out).
    pub fn object(fields: Vec<(&str, Option<Json>)>) -> Json {
        let object = js_sys::Object::new();
        for (key, value) in fields {
            if let Some(value) = value {
                // Setting a data property on a new plain object cannot throw.
                let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), &value.0);
            }
        }
        Json(object.into())
    }

    /// The compact serialisation.
    pub fn to_json_string(&self) -> String {
        js_sys::JSON::stringify(&self.0)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    }

    /// The JSON value `v` (`None` for undefined, which is not one).
    pub fn from_js(v: JsValue) -> Option<Json> {
        defined(v)
    }

    /// The JS value.
    pub fn as_js(&self) -> &JsValue {
        &self.0
    }
}

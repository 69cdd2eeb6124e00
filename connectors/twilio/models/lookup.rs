//! Lookups v2: the result of looking up a phone number.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Lookups v2 `PhoneNumber` result (basic validation; extra data packages, when requested
/// with `Fields`, stay in `extra`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PhoneNumberLookup {
    /// The number in E.164.
    pub phone_number: Option<String>,
    /// Whether the number is valid.
    #[serde(default)]
    pub valid: Option<bool>,
    /// Why it is not valid (`TOO_SHORT`, `INVALID_BUT_POSSIBLE`, ...).
    #[serde(default)]
    pub validation_errors: Option<Vec<String>>,
    /// The ISO country code.
    pub country_code: Option<String>,
    /// The country calling code (`"1"`).
    pub calling_country_code: Option<String>,
    /// The number in national format.
    pub national_format: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PhoneNumberLookup {
    /// Whether Twilio says the number is valid (absent counts as not valid).
    pub fn is_valid(&self) -> bool {
        self.valid == Some(true)
    }
}

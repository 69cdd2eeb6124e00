//! Places (the legacy Places web service): a place as Details, Nearby Search, Text Search and
//! Find Place answer it, and Autocomplete predictions.
//!
//! Which fields a place carries depends on the call and its `fields` mask, so every field of
//! [`Place`] is optional or defaults to empty, and is written back only when present.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{PlaceId, PlusCode};
use super::geocode::{AddressComponent, Geometry};
use super::status::MapsStatus;

/// A place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Place {
    /// The place id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_id: Option<PlaceId>,
    /// Its name (`"Google Workplace 6"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its address as one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted_address: Option<String>,
    /// A short address for Nearby Search results (street and locality).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vicinity: Option<String>,
    /// The address in adr microformat (HTML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adr_address: Option<String>,
    /// Where it is (no `location_type` for a place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry: Option<Geometry>,
    /// What kind of place it is (`restaurant`, `point_of_interest`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// `OPERATIONAL`, `CLOSED_TEMPORARILY` or `CLOSED_PERMANENTLY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_status: Option<String>,
    /// The regular opening hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_hours: Option<OpeningHours>,
    /// The hours of the next seven days, exceptional days included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_opening_hours: Option<OpeningHours>,
    /// The average rating, 1.0 to 5.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    /// How many ratings the average is made of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_ratings_total: Option<u64>,
    /// 0 (free) to 4 (very expensive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_level: Option<u8>,
    /// The phone number in local format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted_phone_number: Option<String>,
    /// The phone number in international format (`+1 650-253-0000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub international_phone_number: Option<String>,
    /// The place's own website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Google's page for the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its current offset from UTC, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<i32>,
    /// Its plus code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plus_code: Option<PlusCode>,
    /// Up to ten photos.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<PlacePhoto>,
    /// Up to five reviews.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<PlaceReview>,
    /// The address split into parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_components: Vec<AddressComponent>,
    /// The URL of an icon for the place's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Every field not named above (`editorial_summary`, `serves_beer`, `reference`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Opening hours (`opening_hours`, `current_opening_hours`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpeningHours {
    /// Whether it is open now (in search results, often the only field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_now: Option<bool>,
    /// The opening periods of the week; a place open around the clock has one period that
    /// opens on day 0 at `0000` and never closes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<OpeningPeriod>,
    /// One line per day, in the answer's language (`"Monday: 9:00 AM – 5:00 PM"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekday_text: Vec<String>,
    /// Every field not named above (`special_days`, `type`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One opening period: when it opens and, unless open around the clock, when it closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpeningPeriod {
    /// When it opens.
    pub open: OpeningTime,
    /// When it closes (absent for a place open around the clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<OpeningTime>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A day of the week and a time of day, in the place's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpeningTime {
    /// The day: 0 (Sunday) to 6 (Saturday).
    pub day: u8,
    /// The time as `hhmm` (`"1700"`).
    pub time: String,
    /// The date as `YYYY-MM-DD` (current opening hours only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Every field not named above (`truncated`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A photo of a place: fetch it with the Place Photo call and `photo_reference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlacePhoto {
    /// The reference to ask the Place Photo call for.
    pub photo_reference: String,
    /// The largest height available, in pixels.
    pub height: u32,
    /// The largest width available, in pixels.
    pub width: u32,
    /// Attributions that must be shown with the photo (HTML).
    #[serde(default)]
    pub html_attributions: Vec<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user's review of a place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlaceReview {
    /// The reviewer's name.
    pub author_name: String,
    /// The rating, 1 to 5.
    pub rating: f64,
    /// When it was written, relative to now (`"a month ago"`).
    pub relative_time_description: String,
    /// When it was written, in Unix seconds.
    pub time: i64,
    /// The review's text (absent for a rating without text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The reviewer's profile page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_url: Option<String>,
    /// The reviewer's photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_photo_url: Option<String>,
    /// The language of `text` (IETF tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Every field not named above (`original_language`, `translated`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer of `GET /maps/api/place/details/json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlaceDetailsResponse {
    /// The place (absent on errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Place>,
    /// Attributions that must be shown with the result (HTML).
    #[serde(default)]
    pub html_attributions: Vec<String>,
    /// Notices about the request, to show to a developer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info_messages: Vec<String>,
    /// Whether the call worked.
    pub status: MapsStatus,
    /// Why it did not, when Google says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer of Nearby Search and Text Search (`/maps/api/place/{nearbysearch,textsearch}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlacesSearchResponse {
    /// The places found (up to 20 a page).
    #[serde(default)]
    pub results: Vec<Place>,
    /// The token for the next page (valid a few seconds after this answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Attributions that must be shown with the results (HTML).
    #[serde(default)]
    pub html_attributions: Vec<String>,
    /// Notices about the request, to show to a developer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info_messages: Vec<String>,
    /// Whether the call worked.
    pub status: MapsStatus,
    /// Why it did not, when Google says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer of `GET /maps/api/place/findplacefromtext/json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FindPlaceResponse {
    /// The matching places, with the fields the request asked for.
    #[serde(default)]
    pub candidates: Vec<Place>,
    /// Whether the call worked.
    pub status: MapsStatus,
    /// Why it did not, when Google says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Notices about the request, to show to a developer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info_messages: Vec<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer of Place Autocomplete and Query Autocomplete
/// (`/maps/api/place/{autocomplete,queryautocomplete}/json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AutocompleteResponse {
    /// The predictions, best first.
    #[serde(default)]
    pub predictions: Vec<AutocompletePrediction>,
    /// Whether the call worked.
    pub status: MapsStatus,
    /// Why it did not, when Google says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Notices about the request, to show to a developer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info_messages: Vec<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One autocomplete prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AutocompletePrediction {
    /// The predicted text (`"Paris, France"`).
    pub description: String,
    /// The place it stands for (absent for a Query Autocomplete search term).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_id: Option<PlaceId>,
    /// What kind of place it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// The straight-line distance from the request's `origin`, in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_meters: Option<u64>,
    /// The text split into a main and a secondary part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_formatting: Option<StructuredFormatting>,
    /// The parts of `description`, each with its offset.
    #[serde(default)]
    pub terms: Vec<AutocompleteTerm>,
    /// Where `description` matches the input.
    #[serde(default)]
    pub matched_substrings: Vec<MatchedSubstring>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A prediction split into its main text and the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StructuredFormatting {
    /// The main text (`"Paris"`).
    pub main_text: String,
    /// Where the main text matches the input.
    #[serde(default)]
    pub main_text_matched_substrings: Vec<MatchedSubstring>,
    /// The rest (`"France"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_text: Option<String>,
    /// Where the rest matches the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_text_matched_substrings: Vec<MatchedSubstring>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One part of a prediction's text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AutocompleteTerm {
    /// The text of the part.
    pub value: String,
    /// Where it starts in `description`, in Unicode characters.
    pub offset: u64,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A span of text that matches the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MatchedSubstring {
    /// Where it starts, in Unicode characters.
    pub offset: u64,
    /// How long it is, in Unicode characters.
    pub length: u64,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_masked_place_has_only_what_was_asked_and_writes_back_only_that() {
        let v = json!({
            "html_attributions": [],
            "result": {"name": "Google", "rating": 4, "formatted_phone_number": "(02) 9374 4000"},
            "status": "OK"
        });
        let d: PlaceDetailsResponse = serde_json::from_value(v.clone()).unwrap();
        let p = d.result.as_ref().unwrap();
        assert_eq!(p.name.as_deref(), Some("Google"));
        assert_eq!(p.rating, Some(4.0));
        assert_eq!((p.place_id.as_ref(), p.geometry.as_ref()), (None, None));
        assert!(p.types.is_empty() && p.photos.is_empty() && p.extra.is_empty());
        let mut back = serde_json::to_value(&d).unwrap();
        assert_eq!(back["result"]["rating"], json!(4.0));
        back["result"]["rating"] = json!(4);
        assert_eq!(back, v);
    }

    #[test]
    fn opening_hours_read_periods_including_around_the_clock() {
        let h: OpeningHours = serde_json::from_value(json!({
            "open_now": true,
            "periods": [{"open": {"day": 0, "time": "0000"}},
                        {"open": {"day": 1, "time": "0900", "truncated": true},
                         "close": {"day": 1, "time": "1700", "date": "2024-01-01"}}],
            "special_days": [{"date": "2024-12-25", "exceptional_hours": true}]
        }))
        .unwrap();
        assert_eq!(h.open_now, Some(true));
        assert_eq!(h.periods[0].close, None);
        assert_eq!(h.periods[1].open.extra["truncated"], true);
        assert_eq!(
            h.periods[1].close.as_ref().unwrap().date.as_deref(),
            Some("2024-01-01")
        );
        assert!(h.extra.contains_key("special_days"));
    }

    #[test]
    fn unknown_place_fields_are_kept() {
        let p: Place = serde_json::from_value(json!({
            "place_id": "ChIJN1t_tDeuEmsRUsoyG83frY4",
            "serves_beer": true,
            "editorial_summary": {"overview": "x"},
            "business_status": "SOMETHING_NEW"
        }))
        .unwrap();
        assert_eq!(p.place_id.unwrap().as_str(), "ChIJN1t_tDeuEmsRUsoyG83frY4");
        assert_eq!(p.extra["serves_beer"], true);
        assert_eq!(p.business_status.as_deref(), Some("SOMETHING_NEW"));
    }

    #[test]
    fn error_answers_parse_with_empty_lists() {
        let f: FindPlaceResponse = serde_json::from_str(
            r#"{"candidates": [], "error_message": "Error while parsing 'fields' parameter", "status": "INVALID_REQUEST"}"#,
        )
        .unwrap();
        assert_eq!(f.status, MapsStatus::InvalidRequest);
        assert!(f.error_message.unwrap().starts_with("Error while parsing"));
        let d: PlaceDetailsResponse =
            serde_json::from_str(r#"{"status": "NOT_FOUND", "html_attributions": []}"#).unwrap();
        assert_eq!((d.status, d.result), (MapsStatus::NotFound, None));
        let s: PlacesSearchResponse =
            serde_json::from_str(r#"{"status": "OVER_QUERY_LIMIT"}"#).unwrap();
        assert!(s.results.is_empty() && s.next_page_token.is_none());
        let a: AutocompleteResponse =
            serde_json::from_str(r#"{"status": "ZERO_RESULTS", "predictions": []}"#).unwrap();
        assert!(a.status.is_success() && a.predictions.is_empty());
    }

    #[test]
    fn predictions_read_terms_and_matches() {
        let a: AutocompleteResponse = serde_json::from_value(json!({
            "predictions": [{
                "description": "Paris, France",
                "matched_substrings": [{"length": 5, "offset": 0}],
                "structured_formatting": {
                    "main_text": "Paris",
                    "main_text_matched_substrings": [{"length": 5, "offset": 0}],
                    "secondary_text": "France"
                },
                "terms": [{"offset": 0, "value": "Paris"}, {"offset": 7, "value": "France"}],
                "distance_meters": 12
            }],
            "status": "OK"
        }))
        .unwrap();
        let p = &a.predictions[0];
        assert_eq!(p.place_id, None);
        assert_eq!(p.terms[1].value, "France");
        assert_eq!(p.terms[1].offset, 7);
        assert_eq!(p.matched_substrings[0].length, 5);
        assert_eq!(p.distance_meters, Some(12));
        let sf = p.structured_formatting.as_ref().unwrap();
        assert_eq!(
            (sf.main_text.as_str(), sf.secondary_text.as_deref()),
            ("Paris", Some("France"))
        );
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(serde_json::from_str::<Place>(r#"{"price_level": 9000}"#).is_err());
        assert!(serde_json::from_str::<Place>(r#"{"rating": "4.5"}"#).is_err());
        assert!(serde_json::from_str::<Place>(r#"{"photos": {}}"#).is_err());
        let e = serde_json::from_str::<PlaceReview>(r#"{"author_name": "A", "rating": 5}"#)
            .unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
    }
}

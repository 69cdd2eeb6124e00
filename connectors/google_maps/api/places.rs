//! Places (the Places web service, `/maps/api/place/...`): Place Details with a field mask,
//! Nearby Search, Text Search, Find Place and Place Autocomplete with session tokens. Place
//! Details are cached for the settings' place-details lifetime; searches are not cached.

use std::fmt;

use super::{non_empty, Params};
use crate::google_maps::client::{Defaults, GoogleMapsClient};
use crate::google_maps::{
    AutocompleteResponse, FindPlaceResponse, GoogleMapsError, LatLng, PlaceDetailsResponse,
    PlaceId, PlacesSearchResponse,
};
use crate::toolkit::Call;

const NO_CACHE: std::time::Duration = std::time::Duration::ZERO;

/// A Place Autocomplete session: pass the same token to every [`Autocomplete`] of one
/// user's typing and to the [`GetPlaceDetails`] that ends it, so Google bills them as one
/// session. A token is a fresh UUID (v4); make a new one per session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionToken(String);

impl SessionToken {
    /// A new random token.
    #[allow(clippy::new_without_default)] // a default token would suggest sharing one
    pub fn new() -> Self {
        SessionToken(uuid::Uuid::new_v4().to_string())
    }

    /// The token as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Place Details of one place, with the fields asked for.
///
/// ```
/// use switchboard::google_maps::{GetPlaceDetails, SessionToken};
/// let session = SessionToken::new();
/// let d = GetPlaceDetails::new("ChIJN1t_tDeuEmsRUsoyG83frY4")
///     .fields(["name", "formatted_address", "geometry/location", "utc_offset"])
///     .session_token(&session);
/// # let _ = d;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct GetPlaceDetails {
    params: Params,
}

setters!(GetPlaceDetails: language, region, param);

impl GetPlaceDetails {
    /// The details of place `id`.
    pub fn new(id: impl Into<PlaceId>) -> Self {
        let mut params = Params::default();
        non_empty(
            &mut params,
            "place_id",
            "place_details.place_id",
            id.into().as_str().to_string(),
        );
        GetPlaceDetails { params }
    }

    /// The field mask: only these fields are returned (and billed). Without one Google returns
    /// every field, at the highest price.
    pub fn fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        set_fields(&mut self.params, "place_details.fields", fields);
        self
    }

    /// Ends an autocomplete session.
    pub fn session_token(mut self, token: &SessionToken) -> Self {
        self.params.set("sessiontoken", token.as_str());
        self
    }
}

/// A Nearby Search around a point.
///
/// ```
/// use switchboard::google_maps::{LatLng, SearchNearby};
/// let s = SearchNearby::new(LatLng::new(-33.8670522, 151.1957362), 1500)
///     .kind("restaurant")
///     .keyword("cruise");
/// # let _ = s;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SearchNearby {
    params: Params,
}

setters!(SearchNearby: kind, open_now, language, page_token, param);

impl SearchNearby {
    /// Places within `radius_m` metres (at most 50,000) of `location`.
    pub fn new(location: LatLng, radius_m: u32) -> Self {
        let mut params = Params::default();
        params.set("location", location.to_string());
        if radius_m == 0 || radius_m > 50_000 {
            params.problem("nearby_search.radius", "must be 1 to 50,000 metres");
        }
        params.set("radius", radius_m.to_string());
        SearchNearby { params }
    }

    /// Places near `location` ranked by distance (`rankby=distance`, no radius): give a
    /// [`SearchNearby::keyword`] or [`SearchNearby::kind`] too.
    pub fn by_distance(location: LatLng) -> Self {
        let mut params = Params::default();
        params.set("location", location.to_string());
        params.set("rankby", "distance");
        SearchNearby { params }
    }

    /// A term matched against every field Google indexes.
    pub fn keyword(mut self, keyword: impl Into<String>) -> Self {
        self.params.set("keyword", keyword.into());
        self
    }

    fn into_params(self) -> Params {
        let mut params = self.params;
        let ranked = params.has("rankby");
        if ranked && !params.has("keyword") && !params.has("type") && !params.has("name") {
            params.problem(
                "nearby_search.rankby",
                "ranking by distance needs a keyword or a type",
            );
        }
        params
    }
}

/// A Text Search (`"plumbers in Austin"`).
#[derive(Debug, Clone)]
#[must_use]
pub struct SearchText {
    params: Params,
}

setters!(SearchText: kind, open_now, language, region, page_token, param);

impl SearchText {
    /// Places matching `query`.
    pub fn new(query: impl Into<String>) -> Self {
        let mut params = Params::default();
        non_empty(&mut params, "query", "text_search.query", query.into());
        SearchText { params }
    }

    /// Prefers places within `radius_m` metres (at most 50,000) of `location`.
    pub fn near(mut self, location: LatLng, radius_m: u32) -> Self {
        if radius_m == 0 || radius_m > 50_000 {
            self.params
                .problem("text_search.radius", "must be 1 to 50,000 metres");
        }
        self.params.set("location", location.to_string());
        self.params.set("radius", radius_m.to_string());
        self
    }
}

/// Find Place: one place from a text or a phone number.
#[derive(Debug, Clone)]
#[must_use]
pub struct FindPlace {
    params: Params,
}

setters!(FindPlace: language, param);

impl FindPlace {
    /// The place best matching `input` (a name, address or phone number).
    pub fn text(input: impl Into<String>) -> Self {
        Self::with_type(input.into(), "textquery")
    }

    /// The place with phone number `number` (international format, `+15551234567`).
    pub fn phone_number(number: impl Into<String>) -> Self {
        Self::with_type(number.into(), "phonenumber")
    }

    fn with_type(input: String, kind: &str) -> Self {
        let mut params = Params::default();
        non_empty(&mut params, "input", "find_place.input", input);
        params.set("inputtype", kind);
        FindPlace { params }
    }

    /// The field mask (without one, only `place_id` is returned).
    pub fn fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        set_fields(&mut self.params, "find_place.fields", fields);
        self
    }

    /// Prefers results in an area: `ipbias`, `point:lat,lng`, `circle:radius@lat,lng` or
    /// `rectangle:south,west|north,east`.
    pub fn location_bias(mut self, bias: impl Into<String>) -> Self {
        self.params.set("locationbias", bias.into());
        self
    }
}

/// Place Autocomplete: predictions for what a user is typing.
///
/// ```
/// use switchboard::google_maps::{Autocomplete, SessionToken};
/// let session = SessionToken::new();
/// let a = Autocomplete::new("1600 Amphith")
///     .session_token(&session)
///     .component("country", "us")
///     .types("address");
/// # let _ = a;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Autocomplete {
    params: Params,
    components: Vec<String>,
}

setters!(Autocomplete: language, param);

impl Autocomplete {
    /// Predictions for `input`.
    pub fn new(input: impl Into<String>) -> Self {
        let mut params = Params::default();
        non_empty(&mut params, "input", "autocomplete.input", input.into());
        Autocomplete {
            params,
            components: Vec::new(),
        }
    }

    /// Groups this request with the others of one user's typing (see [`SessionToken`]).
    pub fn session_token(mut self, token: &SessionToken) -> Self {
        self.params.set("sessiontoken", token.as_str());
        self
    }

    /// Restricts predictions to a component (`country`, an ISO 3166-1 code); up to five.
    pub fn component(mut self, kind: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        if kind.is_empty() || value.is_empty() || kind.contains([':', '|']) || value.contains('|') {
            self.params.problem(
                "autocomplete.components",
                "a component needs a kind and a value without `|`",
            );
        }
        self.components.push(format!("{kind}:{value}"));
        self
    }

    /// Only predictions of these types (`address`, `geocode`, `establishment`, `(cities)`,
    /// or up to five `|`-separated types).
    pub fn types(mut self, types: impl Into<String>) -> Self {
        self.params.set("types", types.into());
        self
    }

    /// Prefers predictions within `radius_m` metres of `location`.
    pub fn near(mut self, location: LatLng, radius_m: u32) -> Self {
        self.params.set("location", location.to_string());
        self.params.set("radius", radius_m.to_string());
        self
    }

    /// Only predictions inside the area given with [`Autocomplete::near`].
    pub fn strict_bounds(mut self) -> Self {
        self.params.set("strictbounds", "true");
        self
    }

    /// Measures `distance_meters` of each prediction from `origin`.
    pub fn origin(mut self, origin: LatLng) -> Self {
        self.params.set("origin", origin.to_string());
        self
    }

    fn into_params(self) -> Params {
        let mut params = self.params;
        if self.components.len() > 5 {
            params.problem("autocomplete.components", "at most five components");
        }
        if !self.components.is_empty() {
            params.set("components", self.components.join("|"));
        }
        if params.has("strictbounds") && !params.has("location") {
            params.problem(
                "autocomplete.strictbounds",
                "needs an area (Autocomplete::near)",
            );
        }
        params
    }
}

fn set_fields<I, S>(params: &mut Params, field: &'static str, fields: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let fields: Vec<String> = fields
        .into_iter()
        .map(|f| f.as_ref().trim().to_string())
        .collect();
    if fields.is_empty() || fields.iter().any(|f| f.is_empty() || f.contains(',')) {
        params.problem(field, "needs field names without commas");
    }
    params.set("fields", fields.join(","));
}

/// Places, reached with [`GoogleMapsClient::places`].
#[derive(Debug, Clone)]
pub struct Places {
    client: GoogleMapsClient,
}

impl Places {
    pub(crate) fn new(client: GoogleMapsClient) -> Self {
        Places { client }
    }

    /// `GET /maps/api/place/details/json`, cached for the place-details lifetime. A place id
    /// Google does not know is a [`GoogleMapsError`] with status `NOT_FOUND` (or
    /// `INVALID_REQUEST` for a malformed one).
    pub fn details(&self, details: GetPlaceDetails) -> Call<PlaceDetailsResponse, GoogleMapsError> {
        self.client.get(
            "/maps/api/place/details/json",
            "places.details",
            details.params,
            Defaults {
                language: true,
                region: true,
            },
            self.client.settings().place_details_cache_ttl,
        )
    }

    /// `GET /maps/api/place/nearbysearch/json`: one page of up to 20 places; the next with
    /// [`SearchNearby::page_token`].
    pub fn nearby(&self, search: SearchNearby) -> Call<PlacesSearchResponse, GoogleMapsError> {
        self.client.get(
            "/maps/api/place/nearbysearch/json",
            "places.nearby",
            search.into_params(),
            Defaults {
                language: true,
                region: false,
            },
            NO_CACHE,
        )
    }

    /// `GET /maps/api/place/textsearch/json`: one page of up to 20 places; the next with
    /// [`SearchText::page_token`].
    pub fn text(&self, search: SearchText) -> Call<PlacesSearchResponse, GoogleMapsError> {
        self.client.get(
            "/maps/api/place/textsearch/json",
            "places.text",
            search.params,
            Defaults {
                language: true,
                region: true,
            },
            NO_CACHE,
        )
    }

    /// `GET /maps/api/place/findplacefromtext/json`.
    pub fn find(&self, find: FindPlace) -> Call<FindPlaceResponse, GoogleMapsError> {
        self.client.get(
            "/maps/api/place/findplacefromtext/json",
            "places.find",
            find.params,
            Defaults {
                language: true,
                region: false,
            },
            NO_CACHE,
        )
    }

    /// `GET /maps/api/place/autocomplete/json` (never cached: each keystroke of a session
    /// belongs to its billing session).
    pub fn autocomplete(
        &self,
        autocomplete: Autocomplete,
    ) -> Call<AutocompleteResponse, GoogleMapsError> {
        self.client.get(
            "/maps/api/place/autocomplete/json",
            "places.autocomplete",
            autocomplete.into_params(),
            Defaults {
                language: true,
                region: true,
            },
            NO_CACHE,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_fresh_uuids() {
        let (a, b) = (SessionToken::new(), SessionToken::new());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 36);
    }

    #[test]
    fn field_masks_are_comma_joined_and_checked() {
        let p = GetPlaceDetails::new("abc")
            .fields(["name", " geometry/location "])
            .params
            .into_pairs()
            .unwrap();
        assert_eq!(p[1], ("fields".into(), "name,geometry/location".into()));
        let empty: [&str; 0] = [];
        assert!(GetPlaceDetails::new("abc")
            .fields(empty)
            .params
            .into_pairs()
            .is_err());
        assert!(GetPlaceDetails::new("abc")
            .fields(["a,b"])
            .params
            .into_pairs()
            .is_err());
    }

    #[test]
    fn searches_check_what_google_requires() {
        let here = LatLng::new(1.0, 2.0);
        assert!(SearchNearby::new(here, 0)
            .into_params()
            .into_pairs()
            .is_err());
        assert!(SearchNearby::new(here, 50_001)
            .into_params()
            .into_pairs()
            .is_err());
        assert!(SearchNearby::by_distance(here)
            .into_params()
            .into_pairs()
            .is_err());
        assert!(SearchNearby::by_distance(here)
            .kind("cafe")
            .into_params()
            .into_pairs()
            .is_ok());
        assert!(SearchText::new("").params.into_pairs().is_err());
        assert!(FindPlace::text(" ").params.into_pairs().is_err());
        let p = FindPlace::phone_number("+61293744000")
            .params
            .into_pairs()
            .unwrap();
        assert_eq!(p[1], ("inputtype".into(), "phonenumber".into()));
        assert!(Autocomplete::new("x")
            .strict_bounds()
            .into_params()
            .into_pairs()
            .is_err());
        let mut a = Autocomplete::new("x");
        for c in ["us", "pr", "vi", "gu", "mp", "ca"] {
            a = a.component("country", c);
        }
        assert!(a.into_params().into_pairs().is_err());
    }
}

//! Distance Matrix (`/maps/api/distancematrix/json`) and Directions
//! (`/maps/api/directions/json`): travel modes, departure and arrival times, traffic model,
//! units, avoidances, and waypoints in an optimised order (a day of showings or service
//! calls). Never cached: traffic makes every answer of its moment.

use std::time::{Duration, SystemTime};

use super::{join_locations, non_empty, unix_seconds, Location, Params};
use crate::google_maps::client::{Defaults, GoogleMapsClient};
use crate::google_maps::{DirectionsResponse, DistanceMatrixResponse, GoogleMapsError};
use crate::toolkit::Call;

/// The most origins, or destinations, one Distance Matrix request may have.
pub const MAX_MATRIX_SIDE: usize = 25;
/// The most intermediate waypoints one Directions request may have.
pub const MAX_WAYPOINTS: usize = 25;

const DEFAULTS: Defaults = Defaults {
    language: true,
    region: true,
};

/// How to travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TravelMode {
    /// By road (the default).
    Driving,
    /// On foot.
    Walking,
    /// By bicycle.
    Bicycling,
    /// By public transport.
    Transit,
}

impl TravelMode {
    fn as_str(self) -> &'static str {
        match self {
            TravelMode::Driving => "driving",
            TravelMode::Walking => "walking",
            TravelMode::Bicycling => "bicycling",
            TravelMode::Transit => "transit",
        }
    }
}

/// How driving times in traffic are estimated (with a departure time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrafficModel {
    /// The best estimate from history and live traffic (the default).
    BestGuess,
    /// Longer than usual on most days.
    Pessimistic,
    /// Shorter than usual on most days.
    Optimistic,
}

impl TrafficModel {
    fn as_str(self) -> &'static str {
        match self {
            TrafficModel::BestGuess => "best_guess",
            TrafficModel::Pessimistic => "pessimistic",
            TrafficModel::Optimistic => "optimistic",
        }
    }
}

/// The unit system of the answer's texts (values are always metres and seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Units {
    /// Kilometres and metres.
    Metric,
    /// Miles and feet.
    Imperial,
}

impl Units {
    fn as_str(self) -> &'static str {
        match self {
            Units::Metric => "metric",
            Units::Imperial => "imperial",
        }
    }
}

/// What a route should avoid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Avoid {
    /// Toll roads.
    Tolls,
    /// Highways.
    Highways,
    /// Ferries.
    Ferries,
    /// Indoor steps (walking and transit).
    Indoor,
}

impl Avoid {
    fn as_str(self) -> &'static str {
        match self {
            Avoid::Tolls => "tolls",
            Avoid::Highways => "highways",
            Avoid::Ferries => "ferries",
            Avoid::Indoor => "indoor",
        }
    }
}

/// When to leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Departure {
    /// Now (sent as `now`), with live traffic.
    Now,
    /// At this time (now or in the future).
    At(SystemTime),
}

/// The options Distance Matrix and Directions share, kept in a call's params.
fn set_travel(params: &mut Params, name: &'static str, value: String) {
    params.set(name, value);
}

fn departure_value(d: Departure) -> String {
    match d {
        Departure::Now => "now".to_string(),
        Departure::At(t) => unix_seconds(t).to_string(),
    }
}

fn check_times(params: &mut Params, field: &'static str) {
    if params.has("departure_time") && params.has("arrival_time") {
        params.problem(field, "give a departure time or an arrival time, not both");
    }
    if params.has("traffic_model") && !params.has("departure_time") {
        params.problem(field, "a traffic model needs a departure time");
    }
}

macro_rules! travel_options {
    ($ty:ident, $field:literal) => {
        setters!($ty: language, region, param);

        impl $ty {
            /// How to travel (default driving).
            pub fn mode(mut self, mode: TravelMode) -> Self {
                set_travel(&mut self.params, "mode", mode.as_str().to_string());
                self
            }

            /// When to leave; with [`TravelMode::Driving`] the answer adds the time in
            /// traffic.
            pub fn departure(mut self, departure: Departure) -> Self {
                set_travel(
                    &mut self.params,
                    "departure_time",
                    departure_value(departure),
                );
                self
            }

            /// When to arrive (transit only; not with a departure).
            pub fn arrival_time(mut self, at: SystemTime) -> Self {
                set_travel(
                    &mut self.params,
                    "arrival_time",
                    unix_seconds(at).to_string(),
                );
                self
            }

            /// How the time in traffic is estimated (needs a departure).
            pub fn traffic_model(mut self, model: TrafficModel) -> Self {
                set_travel(
                    &mut self.params,
                    "traffic_model",
                    model.as_str().to_string(),
                );
                self
            }

            /// The unit system of the texts.
            pub fn units(mut self, units: Units) -> Self {
                set_travel(&mut self.params, "units", units.as_str().to_string());
                self
            }

            /// Avoids these features (joined with `|`).
            pub fn avoid<I: IntoIterator<Item = Avoid>>(mut self, avoid: I) -> Self {
                let list: Vec<&str> = avoid.into_iter().map(Avoid::as_str).collect();
                if !list.is_empty() {
                    set_travel(&mut self.params, "avoid", list.join("|"));
                }
                self
            }

            fn checked(mut self) -> Params {
                check_times(&mut self.params, $field);
                self.params
            }
        }
    };
}

/// A Distance Matrix: travel distance and time for every origin and destination pair.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use switchboard::google_maps::{Avoid, Departure, GetDistanceMatrix, TrafficModel, TravelMode, Units};
/// let m = GetDistanceMatrix::new(["Boston, MA", "Charlestown, MA"], ["Lexington, MA", "Concord, MA"])
///     .mode(TravelMode::Driving)
///     .departure(Departure::At(SystemTime::now() + Duration::from_secs(3600)))
///     .traffic_model(TrafficModel::Pessimistic)
///     .units(Units::Imperial)
///     .avoid([Avoid::Tolls]);
/// # let _ = m;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct GetDistanceMatrix {
    params: Params,
}

impl GetDistanceMatrix {
    /// From each of `origins` to each of `destinations` (1 to [`MAX_MATRIX_SIDE`] each).
    pub fn new<O, D>(origins: O, destinations: D) -> Self
    where
        O: IntoIterator,
        O::Item: Into<Location>,
        D: IntoIterator,
        D::Item: Into<Location>,
    {
        let origins: Vec<Location> = origins.into_iter().map(Into::into).collect();
        let destinations: Vec<Location> = destinations.into_iter().map(Into::into).collect();
        let mut params = Params::default();
        join_locations(&mut params, "origins", "distance_matrix.origins", &origins);
        join_locations(
            &mut params,
            "destinations",
            "distance_matrix.destinations",
            &destinations,
        );
        if origins.len() > MAX_MATRIX_SIDE {
            params.problem("distance_matrix.origins", "at most 25 origins");
        }
        if destinations.len() > MAX_MATRIX_SIDE {
            params.problem("distance_matrix.destinations", "at most 25 destinations");
        }
        GetDistanceMatrix { params }
    }
}

travel_options!(GetDistanceMatrix, "distance_matrix");

/// Directions from an origin to a destination, through waypoints.
///
/// ```
/// use switchboard::google_maps::{Departure, GetDirections};
/// // A day of showings: start and end at the office, visit the listings in the best order.
/// let d = GetDirections::new("100 Main St, Austin, TX", "100 Main St, Austin, TX")
///     .waypoints(["1 Oak St, Austin, TX", "9 Elm St, Austin, TX", "5 Pine St, Austin, TX"])
///     .optimize_waypoints()
///     .departure(Departure::Now);
/// # let _ = d;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct GetDirections {
    params: Params,
    waypoints: Vec<Location>,
    optimize: bool,
}

impl GetDirections {
    /// From `origin` to `destination`.
    pub fn new(origin: impl Into<Location>, destination: impl Into<Location>) -> Self {
        let mut params = Params::default();
        non_empty(
            &mut params,
            "origin",
            "directions.origin",
            origin.into().to_string(),
        );
        non_empty(
            &mut params,
            "destination",
            "directions.destination",
            destination.into().to_string(),
        );
        GetDirections {
            params,
            waypoints: Vec::new(),
            optimize: false,
        }
    }

    /// Stops on the way (at most [`MAX_WAYPOINTS`]), visited in this order unless
    /// [`GetDirections::optimize_waypoints`].
    pub fn waypoints<I>(mut self, waypoints: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Location>,
    {
        self.waypoints.extend(waypoints.into_iter().map(Into::into));
        self
    }

    /// Lets Google reorder the waypoints into the shortest trip; the route's
    /// `waypoint_order` gives the order chosen.
    pub fn optimize_waypoints(mut self) -> Self {
        self.optimize = true;
        self
    }

    /// Asks for alternative routes (not with waypoints).
    pub fn alternatives(mut self) -> Self {
        self.params.set("alternatives", "true");
        self
    }

    fn into_params(mut self) -> Params {
        self.fold_waypoints();
        self.checked()
    }

    /// Puts the waypoints into the params (`optimize:true|a|b`), or notes why it cannot.
    fn fold_waypoints(&mut self) {
        let waypoints = std::mem::take(&mut self.waypoints);
        let params = &mut self.params;
        if waypoints.is_empty() {
            if self.optimize {
                params.problem(
                    "directions.waypoints",
                    "nothing to optimise without waypoints",
                );
            }
            return;
        }
        if waypoints.len() > MAX_WAYPOINTS {
            params.problem("directions.waypoints", "at most 25 waypoints");
        }
        join_locations(params, "waypoints", "directions.waypoints", &waypoints);
        if self.optimize {
            if let Some(list) = params.get("waypoints") {
                let flagged = format!("optimize:true|{list}");
                params.set("waypoints", flagged);
            }
        }
    }
}

travel_options!(GetDirections, "directions");

/// Distance Matrix and Directions, reached with [`GoogleMapsClient::routes`].
#[derive(Debug, Clone)]
pub struct Routes {
    client: GoogleMapsClient,
}

impl Routes {
    pub(crate) fn new(client: GoogleMapsClient) -> Self {
        Routes { client }
    }

    /// `GET /maps/api/distancematrix/json`. An element Google could not route has its own
    /// status (`NOT_FOUND`, `ZERO_RESULTS`); the call still succeeds.
    pub fn distance_matrix(
        &self,
        matrix: GetDistanceMatrix,
    ) -> Call<DistanceMatrixResponse, GoogleMapsError> {
        self.client.get(
            "/maps/api/distancematrix/json",
            "distance_matrix",
            matrix.checked(),
            DEFAULTS,
            Duration::ZERO,
        )
    }

    /// `GET /maps/api/directions/json`.
    pub fn directions(
        &self,
        directions: GetDirections,
    ) -> Call<DirectionsResponse, GoogleMapsError> {
        self.client.get(
            "/maps/api/directions/json",
            "directions",
            directions.into_params(),
            DEFAULTS,
            Duration::ZERO,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google_maps::LatLng;

    fn get(p: &[(String, String)], k: &str) -> Option<String> {
        p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_matrix_sends_googles_parameters() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let p = GetDistanceMatrix::new(["Boston, MA"], [LatLng::new(42.4, -71.2)])
            .mode(TravelMode::Driving)
            .departure(Departure::At(at))
            .traffic_model(TrafficModel::Optimistic)
            .units(Units::Imperial)
            .avoid([Avoid::Tolls, Avoid::Ferries])
            .checked()
            .into_pairs()
            .unwrap();
        assert_eq!(get(&p, "origins").as_deref(), Some("Boston, MA"));
        assert_eq!(get(&p, "destinations").as_deref(), Some("42.4,-71.2"));
        assert_eq!(get(&p, "departure_time").as_deref(), Some("1900000000"));
        assert_eq!(get(&p, "traffic_model").as_deref(), Some("optimistic"));
        assert_eq!(get(&p, "avoid").as_deref(), Some("tolls|ferries"));
        assert_eq!(get(&p, "units").as_deref(), Some("imperial"));
    }

    #[test]
    fn impossible_combinations_are_refused_before_sending() {
        let now = SystemTime::now();
        assert!(GetDistanceMatrix::new(["a"], ["b"])
            .departure(Departure::Now)
            .arrival_time(now)
            .checked()
            .into_pairs()
            .is_err());
        assert!(GetDistanceMatrix::new(["a"], ["b"])
            .traffic_model(TrafficModel::BestGuess)
            .checked()
            .into_pairs()
            .is_err());
        let many: Vec<String> = (0..26).map(|i| format!("{i} Main St")).collect();
        let err = GetDistanceMatrix::new(many.clone(), ["b"])
            .checked()
            .into_pairs()
            .unwrap_err();
        assert!(err.to_string().contains("distance_matrix.origins"), "{err}");
        let empty: [&str; 0] = [];
        assert!(GetDistanceMatrix::new(empty, ["b"])
            .checked()
            .into_pairs()
            .is_err());
        assert!(GetDirections::new("a", "b")
            .waypoints(many)
            .into_params()
            .into_pairs()
            .is_err());
        assert!(GetDirections::new("a", "b")
            .optimize_waypoints()
            .into_params()
            .into_pairs()
            .is_err());
    }

    #[test]
    fn optimised_waypoints_lead_with_the_flag() {
        let p = GetDirections::new("A", "A")
            .waypoints(["B", "C"])
            .optimize_waypoints()
            .departure(Departure::Now)
            .into_params()
            .into_pairs()
            .unwrap();
        assert_eq!(get(&p, "waypoints").as_deref(), Some("optimize:true|B|C"));
        assert_eq!(get(&p, "departure_time").as_deref(), Some("now"));
    }
}

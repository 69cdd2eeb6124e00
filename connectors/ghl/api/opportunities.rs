//! [`Opportunities`]: search (one page), get, create, update (stage, value, owner), status
//! changes and delete.

use http::Method;

use super::{body_param, body_setters, with_query, Body, Query};
use crate::ghl::models::{
    DeletedResponse, Opportunity, OpportunityEnvelope, OpportunitySearchPage, OpportunityStatus,
    UpdatedResponse,
};
use crate::ghl::{GhlClient, GhlError};
use crate::toolkit::{segment, Call};

/// The opportunities (deals in pipelines) of the client's location.
#[derive(Debug, Clone)]
pub struct Opportunities {
    client: GhlClient,
}

/// An opportunity search (`GET /opportunities/search`): filters, order and paging.
/// `location_id` is the connection's unless set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchOpportunities {
    query: Query,
}

impl SearchOpportunities {
    /// Every opportunity of the location, in GoHighLevel's default order and page size (20).
    pub fn new() -> Self {
        Self::default()
    }

    fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.set(key, value);
        self
    }

    /// Free-text query (name, contact's email or phone...).
    #[must_use]
    pub fn query(self, text: &str) -> Self {
        self.set("q", text)
    }

    /// Only this pipeline's.
    #[must_use]
    pub fn pipeline(self, pipeline_id: &str) -> Self {
        self.set("pipeline_id", pipeline_id)
    }

    /// Only those at this stage.
    #[must_use]
    pub fn stage(self, stage_id: &str) -> Self {
        self.set("pipeline_stage_id", stage_id)
    }

    /// Only this contact's.
    #[must_use]
    pub fn contact(self, contact_id: &str) -> Self {
        self.set("contact_id", contact_id)
    }

    /// Only those with this status (`OpportunityStatus::Other("all".into())` for every one).
    #[must_use]
    pub fn status(self, status: OpportunityStatus) -> Self {
        self.set("status", status.as_str())
    }

    /// Only those assigned to this user.
    #[must_use]
    pub fn assigned_to(self, user_id: &str) -> Self {
        self.set("assigned_to", user_id)
    }

    /// The order (`added_asc`, `added_desc`).
    #[must_use]
    pub fn order(self, order: &str) -> Self {
        self.set("order", order)
    }

    /// Opportunities per page (GoHighLevel's default: 20).
    #[must_use]
    pub fn limit(self, limit: u32) -> Self {
        self.set("limit", limit.to_string())
    }

    /// This page (from 1).
    #[must_use]
    pub fn page(self, page: u32) -> Self {
        self.set("page", page.to_string())
    }

    /// Continues after the last opportunity of a page: its
    /// [`OpportunitySearchMeta::start_after`](crate::ghl::OpportunitySearchMeta::start_after)
    /// and `start_after_id`.
    #[must_use]
    pub fn start_after(self, start_after: u64, start_after_id: &str) -> Self {
        self.set("startAfter", start_after.to_string())
            .set("startAfterId", start_after_id)
    }

    /// Of this location (default: the connection's).
    #[must_use]
    pub fn location(self, location_id: &str) -> Self {
        self.set("location_id", location_id)
    }

    /// Sets a query parameter this type does not model (`getTasks`, `date`).
    #[must_use]
    pub fn param(self, key: &str, value: impl Into<String>) -> Self {
        self.set(key, value)
    }
}

/// A new opportunity (`POST /opportunities/`) for a contact in a pipeline, `open` unless
/// [`CreateOpportunity::status`] says otherwise; `locationId` is the connection's unless set.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateOpportunity {
    body: Body,
}

impl CreateOpportunity {
    /// An open opportunity called `name` for `contact_id` in `pipeline_id` (at the pipeline's
    /// first stage unless [`CreateOpportunity::stage`] names one).
    pub fn new(pipeline_id: &str, contact_id: &str, name: &str) -> Self {
        let mut body = Body::default();
        body.set("pipelineId", pipeline_id);
        body.set("contactId", contact_id);
        body.set("name", name);
        body.set("status", OpportunityStatus::Open.as_str());
        CreateOpportunity { body }
    }
}

/// Changes to an opportunity (`PUT /opportunities/{id}`): only the fields set are sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateOpportunity {
    body: Body,
}

impl UpdateOpportunity {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }
}

macro_rules! opportunity_fields {
    ($($ty:ty),*) => {$(
        body_setters!($ty {
            /// The stage of its pipeline.
            stage => "pipelineStageId": &str,
            /// Its value, in the location's currency.
            monetary_value => "monetaryValue": f64,
            /// The user it is assigned to.
            assigned_to => "assignedTo": &str,
        });

        impl $ty {
            /// Where it stands.
            #[must_use]
            pub fn status(mut self, status: OpportunityStatus) -> Self {
                self.body.set("status", status.as_str());
                self
            }
        }
    )*};
}
opportunity_fields!(CreateOpportunity, UpdateOpportunity);

body_setters!(CreateOpportunity {
    /// Of this location (default: the connection's).
    location => "locationId": &str,
});

body_setters!(UpdateOpportunity {
    /// Its name.
    name => "name": &str,
    /// Moves it to this pipeline (give the stage too).
    pipeline => "pipelineId": &str,
});

body_param!(CreateOpportunity, UpdateOpportunity);

impl Opportunities {
    pub(crate) fn new(client: GhlClient) -> Self {
        Opportunities { client }
    }

    /// One page of a search (`GET /opportunities/search`); the next page starts after
    /// [`OpportunitySearchPage::meta`]'s `start_after` and `start_after_id`
    /// ([`SearchOpportunities::start_after`]).
    pub fn search(&self, search: SearchOpportunities) -> Call<OpportunitySearchPage, GhlError> {
        let mut query = search.query;
        // This one query of GoHighLevel's takes the location in snake case.
        if !query.has("location_id") {
            match self.client.location_or(None) {
                Ok(location) => query.set("location_id", location),
                Err(e) => return GhlClient::failed(e),
            }
        }
        with_query(
            self.client.call(
                Method::GET,
                "/opportunities/search".into(),
                "opportunities.search",
                None,
            ),
            query,
        )
    }

    /// One opportunity (`GET /opportunities/{id}`).
    pub fn get(&self, id: &str) -> Call<Opportunity, GhlError> {
        self.client.call_in::<OpportunityEnvelope>(
            Method::GET,
            format!("/opportunities/{}", segment(id)),
            "opportunities.get",
            None,
        )
    }

    /// Creates an opportunity (`POST /opportunities/`).
    pub fn create(&self, opportunity: CreateOpportunity) -> Call<Opportunity, GhlError> {
        let mut body = opportunity.body;
        if body.get("locationId").is_none() {
            match self.client.location_or(None) {
                Ok(location) => body.set("locationId", location),
                Err(e) => return GhlClient::failed(e),
            }
        }
        self.client.call_in::<OpportunityEnvelope>(
            Method::POST,
            "/opportunities/".into(),
            "opportunities.create",
            Some(body.into_value()),
        )
    }

    /// Changes an opportunity (`PUT /opportunities/{id}`).
    pub fn update(&self, id: &str, changes: UpdateOpportunity) -> Call<Opportunity, GhlError> {
        self.client.call_in::<OpportunityEnvelope>(
            Method::PUT,
            format!("/opportunities/{}", segment(id)),
            "opportunities.update",
            Some(changes.body.into_value()),
        )
    }

    /// Moves an opportunity to `stage_id` of `pipeline_id` (`PUT /opportunities/{id}`).
    pub fn update_stage(
        &self,
        id: &str,
        pipeline_id: &str,
        stage_id: &str,
    ) -> Call<Opportunity, GhlError> {
        self.update(
            id,
            UpdateOpportunity::new()
                .pipeline(pipeline_id)
                .stage(stage_id),
        )
    }

    /// Marks an opportunity open, won, lost or abandoned (`PUT /opportunities/{id}/status`).
    pub fn update_status(
        &self,
        id: &str,
        status: OpportunityStatus,
    ) -> Call<UpdatedResponse, GhlError> {
        self.client.call(
            Method::PUT,
            format!("/opportunities/{}/status", segment(id)),
            "opportunities.status.update",
            Some(serde_json::json!({ "status": status.as_str() })),
        )
    }

    /// Deletes an opportunity (`DELETE /opportunities/{id}`).
    pub fn delete(&self, id: &str) -> Call<DeletedResponse, GhlError> {
        self.client.call(
            Method::DELETE,
            format!("/opportunities/{}", segment(id)),
            "opportunities.delete",
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_opportunity_is_open_unless_told_and_the_search_query_uses_ghls_names() {
        let create = CreateOpportunity::new("p_1", "c_1", "Flat 3").monetary_value(220.5);
        assert_eq!(
            create.body.clone().into_value(),
            json!({"pipelineId": "p_1", "contactId": "c_1", "name": "Flat 3", "status": "open",
                   "monetaryValue": 220.5})
        );
        let won = create.status(OpportunityStatus::Won).body.into_value();
        assert_eq!(won["status"], json!("won"));
        let search = SearchOpportunities::new()
            .status(OpportunityStatus::Lost)
            .limit(10)
            .start_after(1_625_203_104_328, "opp_1")
            .limit(20);
        assert_eq!(
            search.query.pairs(),
            [
                ("status".to_string(), "lost".to_string()),
                ("startAfter".to_string(), "1625203104328".to_string()),
                ("startAfterId".to_string(), "opp_1".to_string()),
                ("limit".to_string(), "20".to_string()),
            ]
        );
    }
}

//! Opportunities (deals in a pipeline): [`Opportunity`], [`OpportunityStatus`], a search page
//! and the envelopes GoHighLevel wraps them in.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{parse_time, string_enum, string_id};

string_id!(
    /// An opportunity's id.
    OpportunityId,
);

string_enum!(
    /// Where an opportunity stands (`status`): GoHighLevel's lower-case words. A search may
    /// also filter on `all` (`OpportunityStatus::Other("all".into())`).
    OpportunityStatus {
        /// `open`: in the pipeline.
        Open => "open",
        /// `won`.
        Won => "won",
        /// `lost`.
        Lost => "lost",
        /// `abandoned`.
        Abandoned => "abandoned",
    }
);

/// The contact an opportunity is for, as a search returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OpportunityContact {
    /// The contact's id.
    #[serde(default)]
    pub id: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Company name.
    #[serde(default)]
    pub company_name: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A GoHighLevel opportunity: a deal for a contact, at a stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Opportunity {
    /// The opportunity's id.
    pub id: OpportunityId,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its value, in the location's currency.
    #[serde(default)]
    pub monetary_value: Option<f64>,
    /// The pipeline it is in.
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// The stage of that pipeline.
    #[serde(default)]
    pub pipeline_stage_id: Option<String>,
    /// The user it is assigned to.
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// Where it stands.
    #[serde(default)]
    pub status: Option<OpportunityStatus>,
    /// Where it came from.
    #[serde(default)]
    pub source: Option<String>,
    /// The contact it is for.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The contact, when the answer carries it (searches).
    #[serde(default)]
    pub contact: Option<OpportunityContact>,
    /// The location.
    #[serde(default)]
    pub location_id: Option<String>,
    /// Why it was lost.
    #[serde(default)]
    pub lost_reason_id: Option<String>,
    /// When its status last changed (RFC 3339).
    #[serde(default)]
    pub last_status_change_at: Option<String>,
    /// When its stage last changed (RFC 3339).
    #[serde(default)]
    pub last_stage_change_at: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it last changed (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Custom field values (`{"id", "fieldValue"}` objects).
    #[serde(default)]
    pub custom_fields: Vec<Value>,
    /// Every other field, as sent (notes, tasks, followers...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Opportunity {
    /// [`Opportunity::updated_at`] as an instant (`None` when absent or not RFC 3339).
    pub fn updated_time(&self) -> Option<SystemTime> {
        self.updated_at.as_deref().and_then(parse_time)
    }
}

/// `{"opportunity": {...}}`: the answer of get, create and update.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct OpportunityEnvelope {
    /// The opportunity.
    pub opportunity: Opportunity,
}

crate::ghl::client::envelope!(OpportunityEnvelope => opportunity: Opportunity);

/// Where a search page stands: the total and what the next page starts after.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OpportunitySearchMeta {
    /// How many opportunities match in all.
    #[serde(default)]
    pub total: Option<u64>,
    /// The last opportunity's id: give it, with [`OpportunitySearchMeta::start_after`], to
    /// `SearchOpportunities::start_after` for the next page.
    #[serde(default)]
    pub start_after_id: Option<String>,
    /// The last opportunity's sort key (epoch milliseconds).
    #[serde(default)]
    pub start_after: Option<u64>,
    /// This page's number.
    #[serde(default)]
    pub current_page: Option<u64>,
    /// The next page's number (absent on the last page).
    #[serde(default)]
    pub next_page: Option<u64>,
    /// The previous page's number.
    #[serde(default)]
    pub prev_page: Option<u64>,
    /// GoHighLevel's URL of the next page.
    #[serde(default)]
    pub next_page_url: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One page of an opportunity search.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct OpportunitySearchPage {
    /// The page's opportunities.
    #[serde(default)]
    pub opportunities: Vec<Opportunity>,
    /// The page's position.
    #[serde(default)]
    pub meta: OpportunitySearchMeta,
    /// Every other field, as sent (`aggregations`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"succeded": true}` (GoHighLevel's spelling) or `{"succeeded": true}`: the answer of a
/// status change.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct UpdatedResponse {
    /// Whether GoHighLevel reports success.
    #[serde(default, alias = "succeded")]
    pub succeeded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn opportunity_status_round_trips_every_known_word_and_keeps_unknown_ones() {
        for (status, word) in [
            (OpportunityStatus::Open, "open"),
            (OpportunityStatus::Won, "won"),
            (OpportunityStatus::Lost, "lost"),
            (OpportunityStatus::Abandoned, "abandoned"),
        ] {
            assert_eq!(serde_json::to_value(&status).unwrap(), json!(word));
            assert_eq!(
                serde_json::from_value::<OpportunityStatus>(json!(word)).unwrap(),
                status
            );
            assert_eq!(word.parse::<OpportunityStatus>().unwrap(), status);
        }
        let all: OpportunityStatus = serde_json::from_value(json!("all")).unwrap();
        assert_eq!(all, OpportunityStatus::Other("all".into()));
        assert_eq!(all.as_str(), "all");
    }

    #[test]
    fn a_search_page_reads_its_meta_and_keeps_unknown_fields() {
        let page: OpportunitySearchPage = serde_json::from_value(json!({
            "opportunities": [{
                "id": "opp_1", "name": "Flat 3", "monetaryValue": 220.5, "status": "won",
                "updatedAt": "2021-08-03T04:55:17.355Z", "indexVersion": 1,
                "contact": {"id": "c_1", "name": "Ada", "tags": ["vip"]}
            }],
            "meta": {"total": 1, "startAfterId": "opp_1", "startAfter": 1625203104328u64, "nextPage": null},
            "aggregations": {}
        }))
        .unwrap();
        let opp = &page.opportunities[0];
        assert_eq!(opp.status, Some(OpportunityStatus::Won));
        assert_eq!(opp.monetary_value, Some(220.5));
        assert_eq!(opp.extra["indexVersion"], json!(1));
        assert_eq!(opp.contact.as_ref().unwrap().tags, vec!["vip".to_string()]);
        assert!(opp.updated_time().is_some());
        assert_eq!(page.meta.start_after, Some(1_625_203_104_328));
        assert_eq!(page.meta.next_page, None);
        assert!(page.extra.contains_key("aggregations"));
    }
}

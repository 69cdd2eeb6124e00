//! Contact sync on the sync engine ([`crate::sync`]): [`GhlContactsSource`] reads a location's
//! contacts changed since a mark (`POST /contacts/search`, `dateUpdated` ascending, one page
//! per call), lists live contact ids for the purge pass, and writes the host's changes back;
//! [`contact_webhook_sync`] turns contact webhooks into runs of the job. It keeps no state:
//! the engine owns the cursor, the links and the conflict policy (newer wins by default).

use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::Value;

use super::api::{ContactSort, SearchContacts, UpdateContact, MAX_SEARCH_PAGE};
use super::models::Contact;
use super::{GhlClient, GhlEvent};
use crate::sync::{
    ChangePage, ChangeRequest, Fields, KeyPage, NextPage, SyncRecord, SyncSource, Version,
    WebhookSync,
};
use crate::{Error, ErrorKind, ProviderError};

/// The job name contact sync uses by default (`JobKey::new(tenant, connection, "contacts")`).
pub const CONTACTS_JOB: &str = "contacts";

/// Contact fields a sync may write back: the writable fields of GoHighLevel's
/// `UpdateContactDto`. Others (ids, dates, lower-cased copies) are GoHighLevel's own.
const WRITABLE: &[&str] = &[
    "firstName",
    "lastName",
    "name",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "dnd",
    "dndSettings",
    "tags",
    "customFields",
    "source",
    "country",
    "companyName",
    "assignedTo",
];

/// Fields GoHighLevel changes on its own or per query, kept out of a record's fields so a
/// re-read does not look like a change (`searchAfter` differs per search; `dateUpdated` is
/// the record's version already).
const VOLATILE: &[&str] = &["searchAfter", "dateUpdated"];

/// A location's contacts as a [`SyncSource`]: the GoHighLevel half of the seed's "Contact
/// Synchronization".
///
/// - **Reads** one search page per call: contacts with `dateUpdated` from the request's mark
///   up to its `until`, oldest first, continued with GoHighLevel's `searchAfter` marker
///   ([`NextPage::Token`]), so ten thousand contacts sharing one `dateUpdated` are read once
///   each. Each record's key is the contact id, its version and updated-at the contact's
///   `dateUpdated`, its fields the contact as GoHighLevel sends it (less `searchAfter` and
///   `dateUpdated`).
/// - **Lists** every live contact id for the purge pass (GoHighLevel announces deletions by
///   webhook only, and a missed webhook would leave a contact in the host forever).
/// - **Writes** the host's changes: an update of the contact's writable fields, or a delete;
///   it returns the contact's new `dateUpdated` as its version, so the next read recognises
///   the write. Keys are GoHighLevel contact ids: a host record that has none yet is created
///   with [`Contacts::create`](super::Contacts::create) first (the write of an unknown id
///   fails with GoHighLevel's 404 and stays pending).
#[derive(Debug, Clone)]
pub struct GhlContactsSource {
    client: GhlClient,
}

impl GhlContactsSource {
    /// The contacts of `client`'s location.
    pub fn new(client: GhlClient) -> Self {
        GhlContactsSource { client }
    }
}

/// A contact as a sync record: its id, `dateUpdated` and fields. `index` names it in errors.
fn record_of(contact: Contact, index: usize) -> Result<SyncRecord, Error> {
    if contact.id.as_str().is_empty() {
        return Err(Error::decode(
            format!("/contacts/{index}/id"),
            "a contact without an id",
        ));
    }
    let updated = contact.updated_at().ok_or_else(|| {
        Error::decode(
            format!("/contacts/{index}/dateUpdated"),
            "missing or not an RFC 3339 timestamp",
        )
    })?;
    let key = contact.id.0.clone();
    let mut fields = match serde_json::to_value(contact) {
        Ok(Value::Object(map)) => map,
        _ => Fields::new(),
    };
    for f in VOLATILE {
        fields.remove(*f);
    }
    Ok(SyncRecord::new(key, fields).updated_at(updated))
}

fn core(e: super::GhlError) -> Error {
    e.core().clone()
}

#[async_trait]
impl SyncSource for GhlContactsSource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let limit = request.limit.clamp(1, MAX_SEARCH_PAGE as usize);
        let from = request.after.as_ref().map_or(UNIX_EPOCH, |m| m.at);
        // GoHighLevel's range is inclusive and in milliseconds: stop a millisecond before
        // `until`, which the request excludes.
        let to = request
            .until
            .checked_sub(Duration::from_millis(1))
            .unwrap_or(request.until);
        let mut search = SearchContacts::new()
            .page_limit(limit as u32)
            .sort(ContactSort::UpdatedAscending)
            .updated_between(from, Some(to));
        if let Some(token) = &request.page {
            let marker = serde_json::from_str(token)
                .map_err(|_| Error::decode("/searchAfter", "the page token is not JSON"))?;
            search = search.search_after(marker);
        }
        let page = self
            .client
            .contacts()
            .search_page(search)
            .await
            .map_err(core)?;
        let full = page.contacts.len() >= limit;
        let next = match page.contacts.last() {
            Some(last) if full => match last.search_after() {
                Some(marker) => NextPage::Token(marker.to_string()),
                None => {
                    return Err(Error::decode(
                        format!("/contacts/{}/searchAfter", page.contacts.len() - 1),
                        "a full page whose last contact has no searchAfter marker",
                    ))
                }
            },
            _ => NextPage::Done,
        };
        let records = page
            .contacts
            .into_iter()
            .enumerate()
            .map(|(i, c)| record_of(c, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChangePage {
            records,
            next,
            estimated_total: page.total,
        })
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let mut search = SearchContacts::new()
            .page_limit(MAX_SEARCH_PAGE)
            .sort(ContactSort::AddedAscending);
        if let Some(token) = page {
            let marker = serde_json::from_str(token)
                .map_err(|_| Error::decode("/searchAfter", "the page token is not JSON"))?;
            search = search.search_after(marker);
        }
        let found = self
            .client
            .contacts()
            .search_page(search)
            .await
            .map_err(core)?;
        let next = if found.contacts.len() >= MAX_SEARCH_PAGE as usize {
            let marker = found.contacts.last().and_then(Contact::search_after);
            match marker {
                Some(m) => Some(m.to_string()),
                None => {
                    return Err(Error::decode(
                        "/contacts/-/searchAfter",
                        "a full page whose last contact has no searchAfter marker",
                    ))
                }
            }
        } else {
            None
        };
        Ok(Some(KeyPage {
            keys: found.contacts.into_iter().map(|c| c.id.0).collect(),
            next,
        }))
    }

    async fn write(&self, records: &[SyncRecord]) -> Result<Vec<Option<Version>>, Error> {
        let contacts = self.client.contacts();
        let mut versions = Vec::with_capacity(records.len());
        for record in records {
            if record.deleted {
                match contacts.delete(&record.key).await {
                    Ok(_) => {}
                    // Already gone: the deletion is done.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(core(e)),
                }
                versions.push(None);
                continue;
            }
            let mut changes = UpdateContact::new();
            for (name, value) in &record.fields {
                if WRITABLE.contains(&name.as_str()) {
                    changes = changes.param(name, value.clone());
                }
            }
            let contact = contacts.update(&record.key, changes).await.map_err(core)?;
            versions.push(contact.updated_at().map(Version::from_time));
        }
        Ok(versions)
    }
}

/// What a contact webhook asks of the location's contact job (`job`, usually
/// [`CONTACTS_JOB`]): ContactCreate, ContactUpdate, ContactTagUpdate and ContactDndUpdate ask
/// for a run (the run reads the change with its `dateUpdated`, which the events do not carry,
/// and the job's conflict policy applies); ContactDelete applies the deletion at once; other
/// events are ignored. `body` is the verified webhook body.
///
/// # Errors
/// [`ErrorKind::Decode`] naming the JSON pointer when the body is not a GoHighLevel event
/// ([`GhlEvent::from_slice`]) or a deletion names no contact.
pub fn contact_webhook_sync(body: &[u8], job: &str) -> Result<WebhookSync, Error> {
    let event = GhlEvent::from_slice(body)?;
    let run = || WebhookSync::Run {
        job: job.to_string(),
    };
    Ok(match &event {
        GhlEvent::ContactCreate(_) | GhlEvent::ContactUpdate(_) | GhlEvent::ContactTagUpdate(_) => {
            run()
        }
        GhlEvent::Other(raw) if raw.event_type == "ContactDndUpdate" => run(),
        GhlEvent::ContactDelete(contact) => {
            if contact.id.is_empty() {
                return Err(Error::decode(
                    "/id",
                    "a ContactDelete without the contact id",
                ));
            }
            let mut record = SyncRecord::deleted(contact.id.clone());
            // The event's time orders the deletion against later edits; without it the
            // deletion carries no version and a newer copy read later wins.
            if let Some(at) = event.timestamp().and_then(super::models::parse_time) {
                record = record.updated_at(at);
            }
            WebhookSync::Apply {
                job: job.to_string(),
                record,
            }
        }
        _ => WebhookSync::Ignore,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_contact_without_a_usable_date_is_a_decode_error_naming_it() {
        let c: Contact =
            serde_json::from_value(json!({"id": "c1", "dateUpdated": "soon"})).unwrap();
        let err = record_of(c, 7).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.to_string().contains("/contacts/7/dateUpdated"), "{err}");
        let c: Contact = serde_json::from_value(json!({
            "id": "c1", "dateUpdated": "2024-01-01T00:00:00.000Z", "searchAfter": [1, "c1"], "email": "a@b.c"
        }))
        .unwrap();
        let r = record_of(c, 0).unwrap();
        assert_eq!(r.key, "c1");
        assert!(r.fields.get("searchAfter").is_none() && r.fields.get("dateUpdated").is_none());
        assert_eq!(r.fields["email"], "a@b.c");
        assert!(r.version.is_some());
    }

    #[test]
    fn contact_webhooks_ask_for_runs_and_deletions_apply_at_once() {
        let run = contact_webhook_sync(
            br#"{"type":"ContactUpdate","id":"c1","locationId":"l"}"#,
            "contacts",
        )
        .unwrap();
        assert_eq!(
            run,
            WebhookSync::Run {
                job: "contacts".into()
            }
        );
        let del = contact_webhook_sync(
            br#"{"type":"ContactDelete","id":"c1","timestamp":"2025-01-28T14:35:00Z"}"#,
            "contacts",
        )
        .unwrap();
        match del {
            WebhookSync::Apply { job, record } => {
                assert_eq!(job, "contacts");
                assert!(record.deleted && record.key == "c1" && record.version.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            contact_webhook_sync(br#"{"type":"InvoicePaid"}"#, "contacts").unwrap(),
            WebhookSync::Ignore
        );
        let err =
            contact_webhook_sync(br#"{"type":"ContactDelete","id":""}"#, "contacts").unwrap_err();
        assert!(err.to_string().contains("/id"), "{err}");
        assert!(contact_webhook_sync(b"not json", "contacts").is_err());
    }
}

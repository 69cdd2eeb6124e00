//! [`Contacts`]: create, get, update, delete, upsert, search (a paged stream or one page),
//! tags and notes.

use http::Method;
use serde_json::{json, Value};

use super::{body_param, body_setters, Body};
use crate::ghl::models::{
    Contact, ContactEnvelope, ContactSearchPage, DeletedResponse, Note, NoteEnvelope, NoteList,
    Tags, UpsertedContact,
};
use crate::ghl::{GhlClient, GhlError};
use crate::toolkit::{segment, Call, Page, Pager, Pages};

/// The most contacts one search page may hold (GoHighLevel's `pageLimit` maximum).
pub const MAX_SEARCH_PAGE: u32 = 500;

/// The contacts of the client's location.
#[derive(Debug, Clone)]
pub struct Contacts {
    client: GhlClient,
}

/// A new contact (`POST /contacts/`); `locationId` is the connection's unless set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateContact {
    body: Body,
}

/// Changes to a contact (`PUT /contacts/{id}`): only the fields set are sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateContact {
    body: Body,
}

/// A contact matched by email or phone and updated, or created (`POST /contacts/upsert`,
/// following the location's duplicate rules).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpsertContact {
    body: Body,
}

macro_rules! contact_fields {
    ($($ty:ty),*) => {$(
        body_setters!($ty {
            /// First name.
            first_name => "firstName": &str,
            /// Last name.
            last_name => "lastName": &str,
            /// Full name.
            name => "name": &str,
            /// Email address.
            email => "email": &str,
            /// Phone number.
            phone => "phone": &str,
            /// Company name.
            company_name => "companyName": &str,
            /// Street address.
            address1 => "address1": &str,
            /// City.
            city => "city": &str,
            /// State or region.
            state => "state": &str,
            /// Postal code.
            postal_code => "postalCode": &str,
            /// Country (ISO code).
            country => "country": &str,
            /// Website.
            website => "website": &str,
            /// IANA time zone.
            timezone => "timezone": &str,
            /// The user to assign the contact to.
            assigned_to => "assignedTo": &str,
            /// Do-not-disturb on every channel.
            dnd => "dnd": bool,
            /// Every tag (replaces the contact's tags; use [`Contacts::add_tags`] to add).
            tags => "tags": Vec<String>,
        });
    )*};
}
contact_fields!(CreateContact, UpdateContact, UpsertContact);
body_param!(
    CreateContact,
    UpdateContact,
    UpsertContact,
    SearchContacts,
    AddNote
);

body_setters!(CreateContact {
    /// Where the contact came from (`"public api"`).
    source => "source": &str,
    /// The location (default: the connection's).
    location_id => "locationId": &str,
});

body_setters!(UpsertContact {
    /// Where the contact came from.
    source => "source": &str,
    /// The location (default: the connection's).
    location_id => "locationId": &str,
});

impl CreateContact {
    /// An empty contact; set at least a name, email or phone.
    pub fn new() -> Self {
        Self::default()
    }
}

impl UpdateContact {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl UpsertContact {
    /// An empty upsert; set the email or phone GoHighLevel matches on.
    pub fn new() -> Self {
        Self::default()
    }
}

/// How a search sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContactSort {
    /// Oldest change first (`dateUpdated` ascending): what a sync reads.
    UpdatedAscending,
    /// Newest change first.
    UpdatedDescending,
    /// Oldest contact first (`dateAdded` ascending).
    AddedAscending,
}

/// A contact search (`POST /contacts/search`): filters, sort and page size.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchContacts {
    body: Body,
}

impl Default for SearchContacts {
    fn default() -> Self {
        Self::new()
    }
}

body_setters!(SearchContacts {
    /// Contacts per page (at most [`MAX_SEARCH_PAGE`]; default 100).
    page_limit => "pageLimit": u32,
    /// Free-text query (name, email, phone...).
    query => "query": &str,
    /// The location (default: the connection's).
    location_id => "locationId": &str,
});

impl SearchContacts {
    /// Every contact of the location, 100 a page, in GoHighLevel's default order.
    pub fn new() -> Self {
        let mut body = Body::default();
        body.set("pageLimit", 100);
        SearchContacts { body }
    }

    /// Sorts the results.
    #[must_use]
    pub fn sort(mut self, sort: ContactSort) -> Self {
        let (field, direction) = match sort {
            ContactSort::UpdatedAscending => ("dateUpdated", "asc"),
            ContactSort::UpdatedDescending => ("dateUpdated", "desc"),
            ContactSort::AddedAscending => ("dateAdded", "asc"),
        };
        self.body
            .set("sort", json!([{"field": field, "direction": direction}]));
        self
    }

    /// Only contacts changed at or after `from` and, when given, at or before `to` (RFC 3339,
    /// as GoHighLevel stores `dateUpdated`).
    #[must_use]
    pub fn updated_between(
        self,
        from: std::time::SystemTime,
        to: Option<std::time::SystemTime>,
    ) -> Self {
        let mut range = serde_json::Map::new();
        range.insert("gte".into(), crate::ghl::models::format_time(from).into());
        if let Some(to) = to {
            range.insert("lte".into(), crate::ghl::models::format_time(to).into());
        }
        self.filter(json!({"field": "dateUpdated", "operator": "range", "value": range}))
    }

    /// Adds one filter object as GoHighLevel's search documents it
    /// (`{"field": "tags", "operator": "contains", "value": "vip"}`); filters are ANDed.
    #[must_use]
    pub fn filter(mut self, filter: Value) -> Self {
        let mut filters = match self.body.get("filters") {
            Some(Value::Array(f)) => f.clone(),
            _ => Vec::new(),
        };
        filters.push(filter);
        self.body.set("filters", Value::Array(filters));
        self
    }

    /// Continues after the contact whose `searchAfter` marker this is (a page's last
    /// contact's, [`Contact::search_after`]).
    #[must_use]
    pub fn search_after(mut self, marker: Value) -> Self {
        self.body.set("searchAfter", marker);
        self
    }

    fn page_limit_value(&self) -> usize {
        self.body
            .get("pageLimit")
            .and_then(Value::as_u64)
            .map_or(100, |n| n as usize)
    }
}

impl Contact {
    /// The search marker GoHighLevel puts on each contact of a search page
    /// (`searchAfter`): give it to [`SearchContacts::search_after`] to read on from here.
    pub fn search_after(&self) -> Option<&Value> {
        self.extra.get("searchAfter").filter(|v| !v.is_null())
    }
}

/// A note to add to a contact.
#[derive(Debug, Clone, PartialEq)]
pub struct AddNote {
    body: Body,
}

body_setters!(AddNote {
    /// The user writing it.
    user_id => "userId": &str,
});

impl AddNote {
    /// A note with `text`.
    pub fn new(text: &str) -> Self {
        let mut body = Body::default();
        body.set("body", text);
        AddNote { body }
    }
}

impl Contacts {
    pub(crate) fn new(client: GhlClient) -> Self {
        Contacts { client }
    }

    fn with_location(&self, mut body: Body) -> Result<Value, GhlError> {
        if body.get("locationId").is_none() {
            let location = self.client.location_or(None)?.to_string();
            body.set("locationId", location);
        }
        Ok(body.into_value())
    }

    /// Creates a contact (`POST /contacts/`).
    pub fn create(&self, contact: CreateContact) -> Call<Contact, GhlError> {
        match self.with_location(contact.body) {
            Ok(body) => self.client.call_in::<ContactEnvelope>(
                Method::POST,
                "/contacts/".into(),
                "contacts.create",
                Some(body),
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// One contact (`GET /contacts/{id}`).
    pub fn get(&self, id: &str) -> Call<Contact, GhlError> {
        self.client.call_in::<ContactEnvelope>(
            Method::GET,
            format!("/contacts/{}", segment(id)),
            "contacts.get",
            None,
        )
    }

    /// Changes a contact (`PUT /contacts/{id}`).
    pub fn update(&self, id: &str, changes: UpdateContact) -> Call<Contact, GhlError> {
        self.client.call_in::<ContactEnvelope>(
            Method::PUT,
            format!("/contacts/{}", segment(id)),
            "contacts.update",
            Some(changes.body.into_value()),
        )
    }

    /// Deletes a contact (`DELETE /contacts/{id}`).
    pub fn delete(&self, id: &str) -> Call<DeletedResponse, GhlError> {
        self.client.call(
            Method::DELETE,
            format!("/contacts/{}", segment(id)),
            "contacts.delete",
            None,
        )
    }

    /// Creates or updates the contact matching the email or phone (`POST /contacts/upsert`).
    pub fn upsert(&self, contact: UpsertContact) -> Call<UpsertedContact, GhlError> {
        match self.with_location(contact.body) {
            Ok(body) => self.client.call(
                Method::POST,
                "/contacts/upsert".into(),
                "contacts.upsert",
                Some(body),
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// One page of a search (`POST /contacts/search`): what a sync reads, page by page.
    pub fn search_page(&self, search: SearchContacts) -> Call<ContactSearchPage, GhlError> {
        match self.with_location(search.body) {
            Ok(body) => self.client.call(
                Method::POST,
                "/contacts/search".into(),
                "contacts.search",
                Some(body),
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// Every contact the search matches, as a stream that fetches a page when the one before
    /// is read (`searchAfter` paging: stable while contacts change, unlike page numbers).
    pub fn search(&self, search: SearchContacts) -> Pages<Contact, GhlError> {
        let limit = search.page_limit_value();
        let body = match self.with_location(search.body) {
            Ok(body) => body,
            Err(e) => return Pages::failed(e),
        };
        Pager::new(self.client.connection().clone(), "/contacts/search")
            .json_body(body)
            .endpoint("contacts.search")
            .body_cursor("searchAfter", move |page: ContactSearchPage| {
                let next = (page.contacts.len() >= limit)
                    .then(|| page.contacts.last().and_then(Contact::search_after))
                    .flatten()
                    .map(Value::to_string);
                Page::new(page.contacts).next(next)
            })
    }

    /// Adds tags to a contact (`POST /contacts/{id}/tags`); answers the contact's tags.
    pub fn add_tags<I, S>(&self, id: &str, tags: I) -> Call<Tags, GhlError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.client.call(
            Method::POST,
            format!("/contacts/{}/tags", segment(id)),
            "contacts.tags.add",
            Some(json!({ "tags": tags })),
        )
    }

    /// Removes tags from a contact (`DELETE /contacts/{id}/tags`).
    pub fn remove_tags<I, S>(&self, id: &str, tags: I) -> Call<Tags, GhlError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.client.call(
            Method::DELETE,
            format!("/contacts/{}/tags", segment(id)),
            "contacts.tags.remove",
            Some(json!({ "tags": tags })),
        )
    }

    /// Adds a note to a contact (`POST /contacts/{id}/notes`).
    pub fn add_note(&self, id: &str, note: AddNote) -> Call<Note, GhlError> {
        self.client.call_in::<NoteEnvelope>(
            Method::POST,
            format!("/contacts/{}/notes", segment(id)),
            "contacts.notes.create",
            Some(note.body.into_value()),
        )
    }

    /// A contact's notes (`GET /contacts/{id}/notes`).
    pub fn notes(&self, id: &str) -> Call<Vec<Note>, GhlError> {
        self.client.call_in::<NoteList>(
            Method::GET,
            format!("/contacts/{}/notes", segment(id)),
            "contacts.notes.list",
            None,
        )
    }
}

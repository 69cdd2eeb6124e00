//! [`Search`]: one DMQL2 search's parameters, and [`SearchRows`], its rows read as a stream
//! across as many pages as the server needs (`Limit` with `Offset`, or key ranges), parsed as
//! they arrive so memory does not grow with the result.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use super::session::{Capability, Transaction};
use super::{CompactHeader, CompactReader, Dmql, ReplyCode, RetsClient, RetsError, Row, RowRef};

/// How a search reply is encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchFormat {
    /// `COMPACT`: lookup fields as their values.
    Compact,
    /// `COMPACT-DECODED`: lookup fields as their long values (default).
    #[default]
    CompactDecoded,
}

impl SearchFormat {
    fn as_str(self) -> &'static str {
        match self {
            SearchFormat::Compact => "COMPACT",
            SearchFormat::CompactDecoded => "COMPACT-DECODED",
        }
    }
}

/// How a search asks for the rows after the first page.
///
/// `Offset` paging can skip or repeat rows when listings change between pages (a row that
/// moves shifts every offset after it), and some servers have no `Offset` at all (20203).
/// Key ranges (`ListingKey` greater than the last one read) cannot skip or repeat, but need
/// a server that returns rows in key order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Paging {
    /// Key ranges when the search names its key field and the first page came back in key
    /// order, `Offset` otherwise; key ranges too when the server refuses `Offset`.
    #[default]
    Auto,
    /// `Limit` with `Offset`.
    Offset,
    /// Key ranges on the key field (the search must name it with [`Search::key_field`]).
    KeyRange,
}

/// One search: resource, class, query and options.
#[derive(Clone, Debug)]
#[must_use]
pub struct Search {
    pub(crate) resource: String,
    pub(crate) class: String,
    pub(crate) query: Dmql,
    pub(crate) select: Vec<String>,
    pub(crate) format: SearchFormat,
    pub(crate) limit: Option<u64>,
    pub(crate) page_size: Option<u32>,
    pub(crate) paging: Paging,
    pub(crate) key_field: Option<String>,
    pub(crate) standard_names: bool,
}

impl Search {
    /// Searches `class` of `resource` (`"Property"`, `"RES"`) for rows matching `query`.
    pub fn new(resource: impl Into<String>, class: impl Into<String>, query: Dmql) -> Self {
        Search {
            resource: resource.into(),
            class: class.into(),
            query,
            select: Vec::new(),
            format: SearchFormat::default(),
            limit: None,
            page_size: None,
            paging: Paging::default(),
            key_field: None,
            standard_names: false,
        }
    }

    /// Only these fields (`Select`). The key field is added when key-range paging needs it.
    pub fn select<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.select = fields.into_iter().map(Into::into).collect();
        self
    }

    /// `COMPACT` or `COMPACT-DECODED` (default).
    pub fn format(mut self, format: SearchFormat) -> Self {
        self.format = format;
        self
    }

    /// At most `rows` rows in all, across pages.
    pub fn limit(mut self, rows: u64) -> Self {
        self.limit = Some(rows);
        self
    }

    /// Rows per page (default: the connection's `page_size`).
    pub fn page_size(mut self, rows: u32) -> Self {
        self.page_size = Some(rows.max(1));
        self
    }

    /// How to ask for the pages after the first.
    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging = paging;
        self
    }

    /// The resource's key field (`ListingKey`), for key-range paging.
    pub fn key_field(mut self, field: impl Into<String>) -> Self {
        self.key_field = Some(field.into());
        self
    }

    /// Field names in the query, `Select` and the reply are StandardNames.
    pub fn standard_names(mut self) -> Self {
        self.standard_names = true;
        self
    }

    pub(crate) fn params(
        &self,
        query: &str,
        limit: u64,
        offset: Option<u64>,
        count: u8,
    ) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("SearchType", self.resource.clone()),
            ("Class", self.class.clone()),
            ("QueryType", "DMQL2".to_string()),
            ("Query", query.to_string()),
            ("Format", self.format.as_str().to_string()),
            ("Count", count.to_string()),
            ("Limit", limit.to_string()),
            ("StandardNames", u8::from(self.standard_names).to_string()),
        ];
        if let Some(o) = offset {
            p.push(("Offset", o.to_string()));
        }
        if !self.select.is_empty() {
            let mut fields = self.select.clone();
            if let Some(k) = &self.key_field {
                if !fields.iter().any(|f| f == k) {
                    fields.push(k.clone());
                }
            }
            p.push(("Select", fields.join(",")));
        }
        p
    }
}

type BodyStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;
type PageReader = CompactReader<tokio_util::io::StreamReader<BodyStream, Bytes>>;

/// Where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NextPage {
    First,
    Offset(u64),
    After(String),
    Done,
}

/// The rows of a [`Search`], read page by page as the caller asks for them.
///
/// [`SearchRows::next_row`] lends each row without copying it (the fastest way);
/// [`SearchRows::next`] returns an owned [`Row`]; [`SearchRows::into_stream`] makes a
/// `Stream` of owned rows. A failure ends the rows: later calls return `Ok(None)`.
pub struct SearchRows {
    client: RetsClient,
    search: Search,
    page: Option<PageReader>,
    next_page: NextPage,
    mode: Paging,
    /// Rows handed out so far, over every page.
    delivered: u64,
    /// Rows read from the current page (the boundary row of a key range included).
    in_page: u64,
    /// Rows of the current page handed out (the boundary row not included).
    fresh: u64,
    /// Limit asked for the current page.
    asked: u64,
    count: Option<u64>,
    key_index: Option<usize>,
    last_key: Option<String>,
    /// The current page's keys came in ascending order so far.
    ascending: bool,
    pages: u32,
}

impl std::fmt::Debug for SearchRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchRows")
            .field("search", &self.search)
            .field("delivered", &self.delivered)
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

impl SearchRows {
    pub(crate) fn new(client: RetsClient, search: Search) -> Self {
        let mode = match (search.paging, &search.key_field) {
            (Paging::KeyRange, _) => Paging::KeyRange,
            (Paging::Auto, None) | (Paging::Offset, _) => Paging::Offset,
            (Paging::Auto, Some(_)) => Paging::Auto,
        };
        SearchRows {
            client,
            search,
            page: None,
            next_page: NextPage::First,
            mode,
            delivered: 0,
            in_page: 0,
            fresh: 0,
            asked: 0,
            count: None,
            key_index: None,
            last_key: None,
            ascending: true,
            pages: 0,
        }
    }

    /// The server's `COUNT` for the whole query, once the first page has been read into.
    pub fn count(&self) -> Option<u64> {
        self.count
    }

    /// How many pages were requested so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    async fn open(&mut self) -> Result<(), RetsError> {
        let page_size = u64::from(
            self.search
                .page_size
                .unwrap_or(self.client.settings().page_size),
        );
        let remaining = self
            .search
            .limit
            .map_or(u64::MAX, |l| l - self.delivered.min(l));
        let limit = page_size.min(remaining);
        let base = self.search.query.to_query().map_err(crate::Error::from)?;
        let (query, offset) = match &self.next_page {
            NextPage::First => (base.to_string(), None),
            NextPage::Offset(o) => (base.to_string(), Some(*o)),
            NextPage::After(key) => {
                let field = self.search.key_field.as_deref().unwrap_or("ListingKey");
                let range = Dmql::at_least(field, key);
                let range = range.to_query().map_err(crate::Error::from)?;
                (format!("{base},{range}"), None)
            }
            NextPage::Done => return Ok(()),
        };
        let count = u8::from(self.pages == 0);
        let params = self.search.params(&query, limit, offset, count);
        let response = self
            .client
            .session()
            .transaction(
                self.client.connection(),
                Transaction {
                    capability: Capability::Search,
                    endpoint: "search",
                    params,
                    stream: true,
                    cache_for: None,
                },
            )
            .await?;
        let body: BodyStream = Box::pin(
            response
                .into_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other)),
        );
        let mut reader = CompactReader::new(tokio_util::io::StreamReader::new(body));
        let header: &CompactHeader = reader.read_header().await?;
        let status = header.status.clone();
        if self.pages == 0 {
            self.count = header.count;
        }
        self.key_index = self
            .search
            .key_field
            .as_deref()
            .and_then(|k| header.column_index(k));
        self.pages += 1;
        self.in_page = 0;
        self.fresh = 0;
        self.asked = limit;
        self.ascending = true;
        match status.code {
            ReplyCode::SUCCESS | ReplyCode::MAX_RECORDS_EXCEEDED => {}
            ReplyCode::NO_RECORDS => {
                self.next_page = NextPage::Done;
                return Ok(());
            }
            code if code.is_query_error()
                && offset.is_some()
                && self.search.key_field.is_some() =>
            {
                // The server has no Offset: go on by key range from the last key read.
                self.mode = Paging::KeyRange;
                self.next_page = match &self.last_key {
                    Some(k) => NextPage::After(k.clone()),
                    None => NextPage::Done,
                };
                return Box::pin(self.open()).await;
            }
            _ => return Err(RetsError::from_reply("Search", status)),
        }
        self.page = Some(reader);
        Ok(())
    }

    /// Decides where the page after the finished one starts.
    fn after_page(&mut self, reader: &PageReader) -> Result<(), RetsError> {
        let trailer = reader.trailer();
        if let Some(status) = &trailer.status {
            match status.code {
                ReplyCode::SUCCESS | ReplyCode::MAX_RECORDS_EXCEEDED | ReplyCode::NO_RECORDS => {}
                _ => return Err(RetsError::from_reply("Search", status.clone())),
            }
        }
        let more_said = trailer.max_rows
            || trailer
                .status
                .as_ref()
                .is_some_and(|s| s.code == ReplyCode::MAX_RECORDS_EXCEEDED)
            || reader
                .header()
                .is_some_and(|h| h.status.code == ReplyCode::MAX_RECORDS_EXCEEDED);
        let full = self.in_page >= self.asked;
        let limit_reached = self.search.limit.is_some_and(|l| self.delivered >= l);
        if limit_reached || self.fresh == 0 || !(more_said || full) {
            self.next_page = NextPage::Done;
            return Ok(());
        }
        if self.mode == Paging::Auto {
            self.mode = if self.ascending && self.last_key.is_some() {
                Paging::KeyRange
            } else {
                Paging::Offset
            };
        }
        self.next_page = match self.mode {
            Paging::KeyRange => match &self.last_key {
                Some(k) => NextPage::After(k.clone()),
                None => {
                    return Err(RetsError::from_core(crate::Error::decode(
                        "COLUMNS",
                        "key-range paging needs the key field in the reply",
                    )))
                }
            },
            _ => {
                let offset = match self.next_page {
                    NextPage::Offset(o) => o + self.in_page,
                    _ => 1 + self.in_page,
                };
                NextPage::Offset(offset)
            }
        };
        Ok(())
    }

    /// Moves to the next row; `false` at the end of the rows.
    async fn advance(&mut self) -> Result<bool, RetsError> {
        loop {
            if self.search.limit.is_some_and(|l| self.delivered >= l) {
                self.next_page = NextPage::Done;
                self.page = None;
                return Ok(false);
            }
            if self.page.is_none() {
                if self.next_page == NextPage::Done {
                    return Ok(false);
                }
                self.open().await?;
                if self.page.is_none() {
                    return Ok(false);
                }
            }
            let Some(reader) = self.page.as_mut() else {
                return Ok(false);
            };
            if reader.read_row().await? {
                self.in_page += 1;
                let key = self
                    .key_index
                    .and_then(|i| reader.row().and_then(|r| r.get(i)).map(|k| k.into_owned()));
                if let Some(key) = key {
                    if let Some(last) = &self.last_key {
                        if key.as_str() < last.as_str() {
                            self.ascending = false;
                        }
                        // The boundary row of a key range comes again: skip it.
                        if matches!(self.next_page, NextPage::After(_)) && &key == last {
                            continue;
                        }
                    }
                    self.last_key = Some(key);
                }
                self.delivered += 1;
                self.fresh += 1;
                return Ok(true);
            }
            let Some(reader) = self.page.take() else {
                return Ok(false);
            };
            self.after_page(&reader)?;
        }
    }

    /// The next row, lent until the next call; `None` after the last.
    ///
    /// # Errors
    /// A [`RetsError`]: a failing reply code, a reply that does not parse (with the byte
    /// offset), or the transport.
    pub async fn next_row(&mut self) -> Result<Option<RowRef<'_>>, RetsError> {
        let result = self.advance().await;
        match result {
            Ok(true) => Ok(self.page.as_ref().and_then(|r| r.row())),
            Ok(false) => Ok(None),
            Err(e) => {
                self.page = None;
                self.next_page = NextPage::Done;
                Err(e)
            }
        }
    }

    /// The next row, owned; `None` after the last.
    ///
    /// # Errors
    /// As for [`SearchRows::next_row`].
    pub async fn next(&mut self) -> Result<Option<Row>, RetsError> {
        Ok(self.next_row().await?.map(|r| r.to_row()))
    }

    /// Every remaining row, owned (for small results; stream large ones).
    ///
    /// # Errors
    /// As for [`SearchRows::next_row`].
    pub async fn collect(mut self) -> Result<Vec<Row>, RetsError> {
        let mut rows = Vec::new();
        while let Some(row) = self.next().await? {
            rows.push(row);
        }
        Ok(rows)
    }

    /// The rows as a `Stream` of owned rows; a failure is the last item.
    pub fn into_stream(self) -> impl Stream<Item = Result<Row, RetsError>> + Send {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut rows = state?;
            match rows.next().await {
                Ok(Some(row)) => Some((Ok(row), Some(rows))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

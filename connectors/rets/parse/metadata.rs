//! GetMetadata replies in COMPACT format: `METADATA-*` blocks of `<COLUMNS>` and `<DATA>`
//! rows (tab-separated unless a `<DELIMITER>` says otherwise), typed into [`Metadata`].
//!
//! STANDARD-XML metadata (`<METADATA-CLASS><Class><ClassName>…`, what PHRETS asks for) is out
//! of scope: such a block is an error telling the caller to request `Format=COMPACT`.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};

use super::envelope::{element_name, is_named, override_status, DecodedBody, Root, XmlCursor};
use super::RetsParseError;
use crate::rets::models::metadata::{add_row, system, BlockAttrs};
use crate::rets::models::Metadata;

/// The `METADATA-*` kinds read into [`Metadata`]; the others (`SEARCH_HELP`, `EDITMASK`,
/// `VALIDATION_*`, `UPDATE*`, `COLUMN_GROUP*`, a server's own) are skipped.
const KINDS: [&str; 7] = [
    "SYSTEM",
    "RESOURCE",
    "CLASS",
    "TABLE",
    "LOOKUP",
    "LOOKUP_TYPE",
    "OBJECT",
];

/// Reads a COMPACT GetMetadata reply (or several blocks of one, as `Type=METADATA-SYSTEM` with
/// `ID=*` sends). Rows are typed by kind; blocks of other kinds are skipped, all-blank `DATA`
/// rows are skipped (libRETS does the same), and a `<METADATA>` wrapper is looked through.
/// The reply's status is kept in [`Metadata::status`], never turned into an error.
///
/// The whole reply must be there: a reply that ends before its `</RETS>` is an error even
/// between two blocks, since the blocks after the cut would be missing without a sign.
///
/// # Errors
///
/// A body that is not a RETS reply; invalid or cut-off XML (at its byte offset); a `DATA`
/// row before `COLUMNS`; a `DELIMITER` whose `value` is not a two-digit hexadecimal
/// character code; a STANDARD-XML block (place `METADATA-<KIND>`).
pub fn parse_metadata(body: &[u8]) -> Result<Metadata, RetsParseError> {
    let decoded = DecodedBody::new(body);
    let mut cur = XmlCursor::new(&decoded);
    let mut out = Metadata::default();
    match cur.root()? {
        Root::Rets(root, empty) => {
            out.status = Some(cur.status(&root, "RETS")?);
            if !empty {
                container(&mut cur, &mut out, "RETS")?;
            }
        }
        // libRETS' samples are bare blocks (or a bare <METADATA>) without <RETS>.
        Root::Element(e, empty, _) if is_named(&e, "METADATA") => {
            if !empty {
                container(&mut cur, &mut out, "METADATA")?;
            }
        }
        Root::Element(e, empty, _) if block_kind(&e).is_some() => {
            block(&mut cur, &mut out, &e, empty, '\t')?;
        }
        Root::Element(_, _, err) | Root::Nothing(err) => return Err(err),
    }
    Ok(out)
}

/// `RESOURCE` for `<METADATA-RESOURCE>`, `LOOKUP_TYPE` for `<METADATA-LOOKUP_TYPE>` or
/// `<METADATA-LOOKUP-TYPE>`; `None` for an element that is not a metadata block.
fn block_kind(e: &BytesStart<'_>) -> Option<String> {
    let name = element_name(e).to_ascii_uppercase();
    let kind = name.strip_prefix("METADATA-")?;
    Some(kind.replace('-', "_"))
}

/// Reads the content of `<RETS>` or `<METADATA>` up to its end tag.
fn container(
    cur: &mut XmlCursor<'_>,
    out: &mut Metadata,
    place: &str,
) -> Result<(), RetsParseError> {
    let mut delimiter = '\t';
    // <METADATA> wrappers are counted rather than recursed into, so no nesting depth a
    // server sends can exhaust the stack.
    let mut wrappers = 0usize;
    loop {
        match cur.next()? {
            Event::Start(e) if is_named(&e, "METADATA") => wrappers += 1,
            Event::Start(e) if block_kind(&e).is_some() => {
                block(cur, out, &e, false, delimiter)?;
            }
            Event::Empty(e) if block_kind(&e).is_some() => {
                block(cur, out, &e, true, delimiter)?;
            }
            Event::Start(e) if is_named(&e, "RETS-STATUS") => {
                let inner = cur.status(&e, "RETS-STATUS")?;
                out.status = out.status.take().map(|outer| override_status(outer, inner));
                cur.skip(&e)?;
            }
            Event::Empty(e) if is_named(&e, "RETS-STATUS") => {
                let inner = cur.status(&e, "RETS-STATUS")?;
                out.status = out.status.take().map(|outer| override_status(outer, inner));
            }
            Event::Start(e) if is_named(&e, "DELIMITER") => {
                delimiter = read_delimiter(cur, &e)?;
                cur.skip(&e)?;
            }
            Event::Empty(e) if is_named(&e, "DELIMITER") => {
                delimiter = read_delimiter(cur, &e)?;
            }
            Event::Start(e) => cur.skip(&e)?,
            Event::End(_) if wrappers > 0 => wrappers -= 1,
            Event::End(_) => return Ok(()),
            Event::Eof => return Err(cur.truncated(place)),
            Event::Empty(_)
            | Event::Text(_)
            | Event::CData(_)
            | Event::GeneralRef(_)
            | Event::Comment(_)
            | Event::PI(_)
            | Event::Decl(_)
            | Event::DocType(_) => {}
        }
    }
}

/// Reads one `METADATA-*` block (its start tag `e` already read).
fn block(
    cur: &mut XmlCursor<'_>,
    out: &mut Metadata,
    e: &BytesStart<'_>,
    empty: bool,
    mut delimiter: char,
) -> Result<(), RetsParseError> {
    let place = element_name(e);
    let kind = block_kind(e).unwrap_or_default();
    if !KINDS.contains(&kind.as_str()) {
        return if empty { Ok(()) } else { cur.skip(e) };
    }
    if kind == "SYSTEM" {
        return system_block(cur, out, e, empty);
    }
    if empty {
        return Ok(());
    }
    let attrs = BlockAttrs {
        resource: cur.attr(e, "Resource")?.unwrap_or_default(),
        class: cur.attr(e, "Class")?.unwrap_or_default(),
        lookup: cur.attr(e, "Lookup")?.unwrap_or_default(),
    };
    let mut columns: Option<Vec<String>> = None;
    loop {
        match cur.next()? {
            Event::Start(c) if is_named(&c, "COLUMNS") => {
                let text = cur.text(&c, |child, cur| {
                    Err(no_child(cur, &place, "COLUMNS", child))
                })?;
                columns = Some(
                    split(&text, delimiter)
                        .map(|c| c.trim().to_owned())
                        .collect(),
                );
            }
            Event::Empty(c) if is_named(&c, "COLUMNS") => columns = Some(Vec::new()),
            Event::Start(c) if is_named(&c, "DATA") => {
                let at = cur.offset();
                let text = cur.text(&c, |child, cur| Err(no_child(cur, &place, "DATA", child)))?;
                let Some(columns) = columns.as_ref() else {
                    return Err(RetsParseError::new(
                        format!("{place}/DATA"),
                        "a DATA row before COLUMNS",
                    )
                    .at(at));
                };
                let values: Vec<&str> = split(&text, delimiter).collect();
                if values.iter().all(|v| v.is_empty()) {
                    continue;
                }
                // Missing trailing values are empty; values past the last column are dropped.
                let row: BTreeMap<String, String> = columns
                    .iter()
                    .enumerate()
                    .filter(|(_, name)| !name.is_empty())
                    .map(|(i, name)| {
                        let value = values.get(i).copied().unwrap_or_default();
                        (name.clone(), value.to_owned())
                    })
                    .collect();
                add_row(out, &kind, &attrs, row);
            }
            Event::Empty(c) if is_named(&c, "DATA") => {}
            Event::Start(c) if is_named(&c, "DELIMITER") => {
                delimiter = read_delimiter(cur, &c)?;
                cur.skip(&c)?;
            }
            Event::Empty(c) if is_named(&c, "DELIMITER") => delimiter = read_delimiter(cur, &c)?,
            Event::Start(c) | Event::Empty(c) => return Err(standard_xml(cur, &place, &c)),
            Event::End(_) => return Ok(()),
            Event::Eof => return Err(cur.truncated(&place)),
            Event::Text(_)
            | Event::CData(_)
            | Event::GeneralRef(_)
            | Event::Comment(_)
            | Event::PI(_)
            | Event::Decl(_)
            | Event::DocType(_) => {}
        }
    }
}

/// Reads `<METADATA-SYSTEM>`: `<SYSTEM SystemID=… SystemDescription=… TimeZoneOffset=…/>`
/// and `<COMMENTS>` (which some servers put inside `SYSTEM`).
fn system_block(
    cur: &mut XmlCursor<'_>,
    out: &mut Metadata,
    e: &BytesStart<'_>,
    empty: bool,
) -> Result<(), RetsParseError> {
    let place = element_name(e);
    let version = cur.attr(e, "Version")?;
    let date = cur.attr(e, "Date")?;
    let mut attributes = None;
    let mut comments = None;
    if !empty {
        loop {
            match cur.next()? {
                Event::Start(c) if is_named(&c, "SYSTEM") => {
                    attributes = Some(cur.attrs(&c)?);
                    // Only COMMENTS may sit inside SYSTEM; STANDARD-XML puts its fields there.
                    let mut inner = None;
                    cur.text(&c, |child, cur| {
                        if is_named(child, "COMMENTS") {
                            inner = Some(());
                            Ok(())
                        } else {
                            Err(standard_xml(cur, &place, child))
                        }
                    })?;
                    if inner.is_some() && comments.is_none() {
                        comments = Some(String::new());
                    }
                }
                Event::Empty(c) if is_named(&c, "SYSTEM") => attributes = Some(cur.attrs(&c)?),
                Event::Start(c) if is_named(&c, "COMMENTS") => {
                    comments = Some(cur.text(&c, |child, cur| {
                        Err(no_child(cur, &place, "COMMENTS", child))
                    })?);
                }
                Event::Empty(c) if is_named(&c, "COMMENTS") => comments = Some(String::new()),
                Event::Start(c) | Event::Empty(c) => return Err(standard_xml(cur, &place, &c)),
                Event::End(_) => break,
                Event::Eof => return Err(cur.truncated(&place)),
                Event::Text(_)
                | Event::CData(_)
                | Event::GeneralRef(_)
                | Event::Comment(_)
                | Event::PI(_)
                | Event::Decl(_)
                | Event::DocType(_) => {}
            }
        }
    }
    out.system = Some(system(
        attributes.unwrap_or_default(),
        version,
        date,
        comments,
    ));
    Ok(())
}

/// The pieces of a COMPACT line: one delimiter at each end belongs to the format (`\tA\tB\t`)
/// and is dropped, as are the line breaks some servers put around the text.
fn split(text: &str, delimiter: char) -> impl Iterator<Item = &str> {
    let text = text.trim_matches(|c| c == '\r' || c == '\n');
    let text = text.strip_prefix(delimiter).unwrap_or(text);
    let text = text.strip_suffix(delimiter).unwrap_or(text);
    text.split(delimiter)
}

/// The character of `<DELIMITER value="09"/>`: two hexadecimal digits (RETS 1.7.2 §7.4.1),
/// an ASCII character that cannot be part of a line break.
fn read_delimiter(cur: &XmlCursor<'_>, e: &BytesStart<'_>) -> Result<char, RetsParseError> {
    let value = cur
        .attr(e, "value")?
        .ok_or_else(|| cur.error("DELIMITER@value", "missing"))?;
    let code = u8::from_str_radix(value.trim(), 16)
        .map_err(|_| cur.error("DELIMITER@value", "not a hexadecimal character code"))?;
    let c = char::from(code);
    if !c.is_ascii() || c == '\r' || c == '\n' || code == 0 {
        return Err(cur.error("DELIMITER@value", "not a usable delimiter character"));
    }
    Ok(c)
}

/// The error for a child element a COMPACT block does not have.
fn standard_xml(cur: &XmlCursor<'_>, place: &str, child: &BytesStart<'_>) -> RetsParseError {
    cur.error(
        place,
        format!(
            "holds <{}> where COMPACT metadata has COLUMNS and DATA rows: STANDARD-XML metadata \
             is not read here (request Format=COMPACT)",
            element_name(child)
        ),
    )
}

/// The error for an element inside `COLUMNS`, `DATA` or `COMMENTS`.
fn no_child(
    cur: &XmlCursor<'_>,
    place: &str,
    parent: &str,
    child: &BytesStart<'_>,
) -> RetsParseError {
    cur.error(
        format!("{place}/{parent}"),
        format!("holds an element <{}>", element_name(child)),
    )
}

#[cfg(test)]
mod tests {
    use super::super::envelope::fixtures::{dechunk, rets, rets_dir, split_http};
    use super::*;
    use crate::rets::reply::{ReplyCode, ReplyStatus};

    const LIBRETS: &str = "librets/project/librets/test/src/resources/";
    const NETWORK: &str = "librets/project/librets/test-network/src/resources/";
    const PHRETS: &str = "phrets/tests/Integration/Fixtures/Http/";

    fn counts(m: &Metadata) -> [usize; 7] {
        [
            usize::from(m.system.is_some()),
            m.resources.len(),
            m.classes.len(),
            m.tables.len(),
            m.lookups.len(),
            m.lookup_types.len(),
            m.objects.len(),
        ]
    }

    #[test]
    fn reads_a_bare_class_block() {
        let m = parse_metadata(&rets(&format!("{LIBRETS}metadata-class.xml"))).unwrap();
        assert!(m.status.is_none());
        assert_eq!(counts(&m), [0, 0, 2, 0, 0, 0, 0]);
        let con = &m.classes[0];
        assert_eq!(con.resource, "Property");
        assert_eq!(con.class_name, "CON");
        assert_eq!(con.standard_name.as_deref(), Some("CommonInterest"));
        assert_eq!(con.visible_name.as_deref(), Some("Condos"));
        assert_eq!(con.description.as_deref(), Some("Condos"));
        assert_eq!(con.extra["TableVersion"], "100.00.001");
        assert_eq!(con.extra["UpdateDate"], "Mon, 18 Aug 2003 17:00:00 GMT");
        assert_eq!(con.extra.len(), 4);
        assert_eq!(
            m.class("Property", "RES").unwrap().visible_name.as_deref(),
            Some("Single Family")
        );
    }

    #[test]
    fn skips_blank_rows_and_unknown_blocks() {
        let m = parse_metadata(&rets(&format!("{LIBRETS}metadata-blank-data.xml"))).unwrap();
        assert_eq!(m.classes.len(), 1);
        assert_eq!(m.classes[0].class_name, "CON");
        let m = parse_metadata(&rets(&format!("{LIBRETS}metadata-unknown.xml"))).unwrap();
        assert_eq!(counts(&m), [0; 7]);
        let m = parse_metadata(&rets("estately-rets/extracted/EMPTY_COMPACT.xml")).unwrap();
        assert_eq!(counts(&m), [0; 7]);
    }

    #[test]
    fn decodes_extended_characters_as_windows_1252() {
        // libRETS reads these two bytes (0x9C 0x96) as ISO-8859-1 control codes; this reader
        // uses Windows-1252, which agrees on every printable ISO-8859-1 character.
        let m = parse_metadata(&rets(&format!("{LIBRETS}metadata-extended-char.xml"))).unwrap();
        assert_eq!(m.classes.len(), 1);
        assert_eq!(
            m.classes[0].description.as_deref(),
            Some("N\u{153}\u{2013}ez")
        );
        assert_eq!(
            m.classes[0].extra["TableDate"],
            "Mon, 18 Aug 2003 17:00:00 GMT"
        );
    }

    #[test]
    fn reads_the_system_block() {
        let m = parse_metadata(&rets(&format!("{LIBRETS}metadata-system.xml"))).unwrap();
        let s = m.system.unwrap();
        assert_eq!(s.system_id, "CRT_RETS");
        assert_eq!(
            s.description.as_deref(),
            Some("Center for REALTOR Technology")
        );
        assert_eq!(
            s.comments.as_deref(),
            Some("The reference implementation of a RETS Server")
        );
        assert_eq!(s.version.as_deref(), Some("100.00.001"));
        assert_eq!(s.date.as_deref(), Some("Mon, 18 Aug 2003 17:00:00 GMT"));
        let body = rets(&format!("{LIBRETS}metadata-system-empty-comments.xml"));
        let s = parse_metadata(&body).unwrap().system.unwrap();
        assert_eq!(s.system_id, "RMLS-RETS");
        assert_eq!(s.comments, None);
        assert_eq!(s.version.as_deref(), Some("1.11.54182 "));

        let m = parse_metadata(&rets(&format!("{LIBRETS}metadata-response.xml"))).unwrap();
        assert_eq!(m.status, Some(ReplyStatus::new(ReplyCode(0), "Success")));
        assert_eq!(counts(&m), [1, 0, 2, 0, 0, 0, 0]);
    }

    #[test]
    fn reads_a_whole_metadata_tree() {
        let m = parse_metadata(&rets(&format!("{LIBRETS}raw-metadata"))).unwrap();
        assert_eq!(counts(&m), [1, 4, 9, 154, 10, 195, 6]);
        let property = m
            .resources
            .iter()
            .find(|r| r.resource_id == "Property")
            .unwrap();
        assert_eq!(property.key_field.as_deref(), Some("LN"));
        assert_eq!(property.class_count, Some(6));
        let fields: Vec<_> = m
            .table("Agent", "AGT")
            .map(|t| t.system_name.as_str())
            .collect();
        assert_eq!(fields.len(), 9);
        assert_eq!(fields[0], "FIRST_NAME");
        let first = m.table("Agent", "AGT").next().unwrap();
        assert_eq!(first.standard_name.as_deref(), Some("ListAgentFirstName"));
        assert_eq!(first.data_type.as_deref(), Some("Character"));
        assert_eq!(first.max_length, Some(12));
        assert_eq!(first.precision, Some(0));
        // Every lookup field's lookup exists, and each of its values decodes.
        let lookup_fields: Vec<_> = m
            .tables
            .iter()
            .filter(|t| t.lookup_name.is_some())
            .collect();
        assert!(!lookup_fields.is_empty());
        for t in &lookup_fields {
            let name = t.lookup_name.as_deref().unwrap();
            assert!(
                m.lookups
                    .iter()
                    .any(|l| l.resource == t.resource && l.lookup_name == name),
                "{} {name}",
                t.resource
            );
        }
        let lt = &m.lookup_types[0];
        assert_eq!(
            m.decode(&lt.resource, &lt.lookup, &lt.value),
            lt.long_value.as_deref().or(lt.short_value.as_deref())
        );
        // This sample leaves ObjectType empty (its first column).
        assert_eq!(m.objects[0].object_type, "");
        assert_eq!(m.objects[0].mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(
            m.objects[0].visible_name.as_deref(),
            Some("Small, Branded Photos")
        );
    }

    #[test]
    fn reads_every_recorded_variman_reply_and_the_chunked_full_tree() {
        let mut merged = Metadata::default();
        let mut files = 0;
        for (name, raw) in rets_dir(NETWORK, "") {
            if !name.starts_with("metadata-") {
                continue;
            }
            let (_, body) = split_http(&raw);
            let m = parse_metadata(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                m.status.as_ref().map(|s| s.code),
                Some(ReplyCode(0)),
                "{name}"
            );
            merged.merge(m);
            files += 1;
        }
        assert_eq!(files, 29);
        assert_eq!(counts(&merged), [1, 4, 9, 154, 10, 195, 0]);

        let (headers, body) = split_http(&rets(&format!("{NETWORK}full-metadata")));
        assert_eq!(headers["Transfer-Encoding"], "chunked");
        let full = parse_metadata(&dechunk(&body)).unwrap();
        assert_eq!(counts(&full), [1, 4, 9, 154, 10, 195, 6]);
    }

    #[test]
    fn reads_estately_blocks() {
        let m = parse_metadata(&rets("estately-rets/extracted/METADATA_RESOURCE.xml")).unwrap();
        assert_eq!(m.resources.len(), 13);
        let property = m
            .resources
            .iter()
            .find(|r| r.resource_id == "Property")
            .unwrap();
        assert_eq!(property.class_count, Some(8));
        assert_eq!(property.key_field.as_deref(), Some("ListingRid"));
        assert_eq!(property.extra["ClassVersion"], "01.72.10288");
        let member = m
            .resources
            .iter()
            .find(|r| r.resource_id == "MemberAssociation")
            .unwrap();
        assert_eq!(member.standard_name, None);

        let m = parse_metadata(&rets("estately-rets/extracted/METADATA_OBJECT.xml")).unwrap();
        assert_eq!(m.objects.len(), 4);
        let photo = m.objects.iter().find(|o| o.object_type == "Photo").unwrap();
        assert_eq!(photo.resource, "Property");
        assert_eq!(photo.mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(photo.description.as_deref(), Some("A 640 x 480 Size Photo"));
        assert_eq!(photo.extra["ObjectCount"], "TotalPhotoCount");

        let m = parse_metadata(&rets("estately-rets/extracted/SAMPLE_COMPACT.xml")).unwrap();
        assert_eq!(m.tables.len(), 7);
        let t = &m.tables[1];
        assert_eq!(
            (t.resource.as_str(), t.class.as_str()),
            ("ActiveAgent", "MEMB")
        );
        assert_eq!(t.system_name, "ContactAddlPhoneType1");
        assert_eq!(t.interpretation.as_deref(), Some("Lookup"));
        assert_eq!(t.lookup_name.as_deref(), Some("ContactAddlPhoneType"));
        assert_eq!(t.extra["MetadataEntryID"], "9");

        // These two estately samples lack </RETS>: a cut reply, refused (see parse_metadata).
        for file in ["METADATA_SYSTEM.xml", "METADATA_UNKNOWN.xml"] {
            let body = rets(&format!("estately-rets/extracted/{file}"));
            let err = parse_metadata(&body).unwrap_err();
            assert_eq!(err.place(), "RETS", "{file}: {err}");
            assert_eq!(err.offset(), Some(body.len() as u64), "{file}");
            let mut closed = body.clone();
            closed.extend_from_slice(b"</RETS>\n");
            let m = parse_metadata(&closed).unwrap();
            if file == "METADATA_SYSTEM.xml" {
                let s = m.system.unwrap();
                assert_eq!(s.system_id, "");
                assert_eq!(s.version.as_deref(), Some("01.72.10306"));
            } else {
                assert_eq!(counts(&m), [0; 7]);
            }
        }
    }

    #[test]
    fn phrets_metadata_is_standard_xml_and_is_refused() {
        let mut refused = 0;
        let mut read = 0;
        for method in ["get", "post"] {
            for dir in ["rets2_1_GetMetadata", "lookup_rets2_1_GetMetadata"] {
                if method == "post" && dir != "rets2_1_GetMetadata" {
                    continue;
                }
                for (name, raw) in rets_dir(
                    &format!("{PHRETS}{method}/retsgw.flexmls.com/{dir}"),
                    ".txt",
                ) {
                    let (_, body) = split_http(&raw);
                    match parse_metadata(&body) {
                        Err(err) => {
                            assert!(err.place().starts_with("METADATA-"), "{name}: {err}");
                            assert!(err.reason().contains("STANDARD-XML"), "{name}: {err}");
                            assert!(err.offset().is_some(), "{name}");
                            refused += 1;
                        }
                        Ok(m) => {
                            // An empty <METADATA> wrapper, or a SYSTEM block in COMPACT shape.
                            if let Some(s) = &m.system {
                                assert_eq!(s.system_id, "demomls", "{name}");
                                assert_eq!(
                                    s.description.as_deref(),
                                    Some("flexmls Web Demo Database")
                                );
                                assert_eq!(s.time_zone_offset.as_deref(), Some("-05:00"));
                                assert_eq!(s.comments, None);
                            } else {
                                assert_eq!(counts(&m), [0; 7], "{name}");
                            }
                            read += 1;
                        }
                    }
                }
            }
        }
        assert_eq!((refused, read), (10, 5));
    }

    #[test]
    fn cut_replies_are_errors_at_any_point() {
        let body = rets(&format!("{LIBRETS}metadata-response.xml"));
        let end = body.windows(7).rposition(|w| w == b"</RETS>").unwrap();
        for cut in 0..end {
            assert!(parse_metadata(&body[..cut]).is_err(), "cut at {cut}");
        }
        // Between two blocks.
        let at = body
            .windows(18)
            .position(|w| w == b"</METADATA-SYSTEM>")
            .unwrap()
            + 18;
        let err = parse_metadata(&body[..at]).unwrap_err();
        assert_eq!(err.offset(), Some(at as u64));
    }

    #[test]
    fn reads_a_declared_delimiter_and_refuses_bad_ones() {
        let body = b"<RETS ReplyCode=\"0\" ReplyText=\"\"><DELIMITER value=\"7C\"/>\
            <METADATA-LOOKUP_TYPE Resource=\"Property\" Lookup=\"Status\">\
            <COLUMNS>|Value|LongValue|ShortValue|</COLUMNS><DATA>|A|Active &amp; listed|Act|</DATA>\
            </METADATA-LOOKUP_TYPE></RETS>";
        let m = parse_metadata(body).unwrap();
        assert_eq!(m.decode("Property", "Status", "A"), Some("Active & listed"));
        assert_eq!(m.lookup_types[0].short_value.as_deref(), Some("Act"));
        for value in ["ZZ", "0A", "", "100"] {
            let body = format!(
                "<RETS ReplyCode=\"0\"><METADATA-CLASS><DELIMITER value=\"{value}\"/></METADATA-CLASS></RETS>"
            );
            let err = parse_metadata(body.as_bytes()).unwrap_err();
            assert_eq!(err.place(), "DELIMITER@value", "{value}: {err}");
        }
        let err =
            parse_metadata(b"<METADATA-CLASS><DATA>\tA\t</DATA></METADATA-CLASS>").unwrap_err();
        assert_eq!(err.place(), "METADATA-CLASS/DATA");
        let err = parse_metadata(b"<METADATA-CLASS><COLUMNS>\tA<b/>\t</COLUMNS></METADATA-CLASS>")
            .unwrap_err();
        assert_eq!(err.place(), "METADATA-CLASS/COLUMNS");
    }

    #[test]
    fn keeps_the_status_of_an_error_reply_and_of_an_inner_rets_status() {
        let m =
            parse_metadata(b"<RETS ReplyCode=\"20503\" ReplyText=\"No Metadata Found\"/>").unwrap();
        assert_eq!(m.status.unwrap().code, ReplyCode(20503));
        let m = parse_metadata(
            b"<RETS ReplyCode=\"0\"><RETS-STATUS ReplyCode=\"20503\" ReplyText=\"none\"/></RETS>",
        )
        .unwrap();
        assert_eq!(m.status.unwrap().code, ReplyCode(20503));
        let err =
            parse_metadata(&rets("estately-rets/extracted/HTML_AUTH_FAILURE.xml")).unwrap_err();
        assert_eq!(err.place(), "RETS");
    }

    #[test]
    fn deep_wrapper_nesting_does_not_exhaust_the_stack() {
        let mut body = b"<RETS ReplyCode=\"0\">".to_vec();
        for _ in 0..200_000 {
            body.extend_from_slice(b"<METADATA>");
        }
        let err = parse_metadata(&body).unwrap_err();
        assert_eq!(err.offset(), Some(body.len() as u64));
    }
}

//! Every example payload of GoHighLevel's webhook event docs
//! (`../shared/fixtures/ghl/webhook-events/*.md`) signed with a local key, verified by
//! `GhlVerifier` and parsed into `GhlEvent`: the 14 typed events become their variants, every
//! other event `GhlEvent::Other`.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use http::HeaderMap;
use serde_json::Value;
use switchboard::ghl::{GhlEvent, GhlSigner, GhlVerifier};
use switchboard::webhook::WebhookRequest;

use crate::support::shared_dir;

/// A locally generated Ed25519 pair (`openssl genpkey -algorithm ed25519`), never
/// GoHighLevel's.
pub(crate) const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBmkTnXyhkWW7G5rJnmF7D27wW0NHUmQrJ9F+IoRm3UT
-----END PRIVATE KEY-----
";
pub(crate) const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA+tZk6AcSnk65nKSWtS70mYNReYQr4L1xsPJ7V6NcFq0=
-----END PUBLIC KEY-----
";

/// The event files with a typed variant, and the variant their examples' `type` names.
const TYPED: [(&str, &str); 14] = [
    ("ContactCreate", "ContactCreate"),
    ("ContactUpdate", "ContactUpdate"),
    ("ContactDelete", "ContactDelete"),
    ("ContactTagUpdate", "ContactTagUpdate"),
    ("OpportunityCreate", "OpportunityCreate"),
    ("OpportunityStatusUpdate", "OpportunityStatusUpdate"),
    ("OpportunityStageUpdate", "OpportunityStageUpdate"),
    ("AppointmentCreate", "AppointmentCreate"),
    ("AppointmentUpdate", "AppointmentUpdate"),
    ("AppointmentDelete", "AppointmentDelete"),
    ("InboundMessage", "InboundMessage"),
    ("OutboundMessage", "OutboundMessage"),
    ("AppInstall", "INSTALL"),
    ("AppUninstall", "UNINSTALL"),
];

/// One example payload: the file it came from (without `.md`) and its text.
struct Example {
    file: String,
    text: String,
}

/// The example JSON blocks of one event doc: every fenced block whose info string starts with
/// `json`, except schemas (`json json_schema`, or a block under a "Schema" heading, as in
/// `UserCreate.md`). `PriceCreate.md` and its siblings open their example with "```json{":
/// the brace belongs to the JSON.
fn examples_in(file: &str, markdown: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut heading = "";
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if line.starts_with('#') {
            heading = line;
            continue;
        }
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let mut block = String::new();
        if let Some(rest) = info.strip_prefix("json") {
            // "```json{": the JSON starts on the fence line.
            if rest.starts_with('{') {
                block.push_str(rest);
                block.push('\n');
            }
        }
        for line in lines.by_ref() {
            if line.trim_start().starts_with("```") {
                break;
            }
            block.push_str(line);
            block.push('\n');
        }
        let is_json = info.starts_with("json");
        let is_schema = info.contains("json_schema") || heading.to_lowercase().contains("schema");
        if is_json && !is_schema {
            out.push(Example {
                file: file.to_string(),
                text: block,
            });
        }
    }
    out
}

fn all_examples() -> Vec<Example> {
    let dir = shared_dir().join("fixtures/ghl/webhook-events");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no event docs in {}", dir.display());
    let mut examples = Vec::new();
    for path in &files {
        let file = stem(path);
        let found = examples_in(&file, &std::fs::read_to_string(path).unwrap());
        assert!(!found.is_empty(), "{file}: no example");
        examples.extend(found);
    }
    examples
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

fn variant(event: &GhlEvent) -> &'static str {
    match event {
        GhlEvent::ContactCreate(_) => "ContactCreate",
        GhlEvent::ContactUpdate(_) => "ContactUpdate",
        GhlEvent::ContactDelete(_) => "ContactDelete",
        GhlEvent::ContactTagUpdate(_) => "ContactTagUpdate",
        GhlEvent::OpportunityCreate(_) => "OpportunityCreate",
        GhlEvent::OpportunityStatusUpdate(_) => "OpportunityStatusUpdate",
        GhlEvent::OpportunityStageUpdate(_) => "OpportunityStageUpdate",
        GhlEvent::AppointmentCreate(_) => "AppointmentCreate",
        GhlEvent::AppointmentUpdate(_) => "AppointmentUpdate",
        GhlEvent::AppointmentDelete(_) => "AppointmentDelete",
        GhlEvent::InboundMessage(_) => "InboundMessage",
        GhlEvent::OutboundMessage(_) => "OutboundMessage",
        GhlEvent::AppInstall(_) => "AppInstall",
        GhlEvent::AppUninstall(_) => "AppUninstall",
        GhlEvent::Other(_) => "Other",
        _ => "unknown variant",
    }
}

/// The variant a body with this `type` must parse into.
fn expected_variant(event_type: Option<&str>) -> &'static str {
    TYPED
        .iter()
        .find(|(_, t)| Some(*t) == event_type)
        .map_or("Other", |(file, _)| file)
}

fn parse(file: &str, text: &str) -> GhlEvent {
    GhlEvent::from_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The example of `file` whose `type` is `event_type`.
fn example(file: &str, event_type: &str) -> GhlEvent {
    all_examples()
        .iter()
        .filter(|x| x.file == file)
        .map(|x| parse(file, &x.text))
        .find(|e| e.event_type() == event_type)
        .unwrap_or_else(|| panic!("{file}: no {event_type} example"))
}

#[test]
fn every_example_verifies_and_parses_into_the_variant_its_type_names() {
    let examples = all_examples();
    // 58 files, 69 examples: some show several (AppInstall three, InboundMessage four).
    assert!(examples.len() >= 69, "only {} examples", examples.len());
    let signer = GhlSigner::ed25519(ED_PRIVATE).unwrap();
    let verifier = GhlVerifier::builder()
        .ed25519_public_key_pem(ED_PUBLIC)
        .build()
        .unwrap();
    // The custom-object examples carry `"timestamp": "2025-02-10T08:26:05.961Z"`; the rest
    // none (accepted: see GhlVerifier's docs).
    let now = UNIX_EPOCH + Duration::from_secs(1_739_175_965);
    let mut typed_files = std::collections::BTreeSet::new();
    for x in &examples {
        let json: Value = serde_json::from_str(&x.text)
            .unwrap_or_else(|e| panic!("{}: example is not JSON: {e}", x.file));
        let event_type = json.get("type").and_then(Value::as_str);

        let mut headers = HeaderMap::new();
        headers.insert(
            signer.header_name(),
            signer.sign(x.text.as_bytes()).unwrap().parse().unwrap(),
        );
        verifier
            .verify_at(&WebhookRequest::new(x.text.as_bytes(), &headers), now)
            .unwrap_or_else(|e| panic!("{}: {e}", x.file));

        let event = parse(&x.file, &x.text);
        assert_eq!(
            variant(&event),
            expected_variant(event_type),
            "{}: type {event_type:?}",
            x.file
        );
        assert_eq!(event.event_type(), event_type.unwrap_or(""), "{}", x.file);
        assert_eq!(
            event.location_id(),
            json.get("locationId").and_then(Value::as_str),
            "{}",
            x.file
        );
        assert_eq!(
            event.timestamp(),
            json.get("timestamp").and_then(Value::as_str),
            "{}",
            x.file
        );
        if variant(&event) == x.file.as_str() {
            typed_files.insert(x.file.clone());
        }
        // Files without a typed variant only ever give `Other`.
        if !TYPED.iter().any(|(file, _)| *file == x.file)
            && !TYPED.iter().any(|(_, t)| Some(*t) == event_type)
        {
            assert!(matches!(event, GhlEvent::Other(_)), "{}", x.file);
        }
    }
    // GoHighLevel's AppointmentUpdate and AppointmentDelete examples say "AppointmentCreate"
    // (a copy in their docs), so those two files give no example of their own variant; every
    // other typed file does.
    let missing: Vec<_> = TYPED
        .iter()
        .map(|(file, _)| *file)
        .filter(|file| !typed_files.contains(*file))
        .collect();
    assert_eq!(missing, ["AppointmentUpdate", "AppointmentDelete"]);
}

#[test]
fn appointment_update_and_delete_examples_parse_under_their_own_type() {
    let dir = shared_dir().join("fixtures/ghl/webhook-events");
    for (file, want) in [
        ("AppointmentUpdate", "AppointmentUpdate"),
        ("AppointmentDelete", "AppointmentDelete"),
    ] {
        let md = std::fs::read_to_string(dir.join(format!("{file}.md"))).unwrap();
        let examples = examples_in(file, &md);
        assert_eq!(examples.len(), 1, "{file}");
        let mut json: Value = serde_json::from_str(&examples[0].text).unwrap();
        assert_eq!(
            json["type"], "AppointmentCreate",
            "{file}: the docs were fixed?"
        );
        json["type"] = Value::from(want);
        let event = parse(file, &json.to_string());
        assert_eq!(variant(&event), want);
        let (GhlEvent::AppointmentUpdate(a) | GhlEvent::AppointmentDelete(a)) = &event else {
            panic!("{event:?}")
        };
        assert_eq!(a.appointment.id, "0007BWpSzSwfiuSl0tR2");
        assert_eq!(
            a.appointment.appointment_status.as_deref(),
            Some("confirmed")
        );
    }
}

#[test]
fn contact_examples_spot_checked() {
    let GhlEvent::ContactCreate(c) = example("ContactCreate", "ContactCreate") else {
        unreachable!()
    };
    assert_eq!(c.id, "nmFmQEsNgz6AVpgLVUJ0");
    assert_eq!(c.location_id.as_deref(), Some("ve9EPM428h8vShlRW1KT"));
    assert_eq!(c.email.as_deref(), Some("JohnDeo@gmail.comm"));
    assert_eq!(c.first_name.as_deref(), Some("John"));
    assert_eq!(c.phone.as_deref(), Some("+919509597501"));
    assert_eq!(c.dnd, Some(true));
    assert_eq!(c.tags, ["id magna sed Lorem", "Duis dolor commodo aliqua"]);
    assert_eq!(c.custom_fields.len(), 1);
    assert_eq!(
        c.custom_fields[0].id.as_deref(),
        Some("BcdmQEsNgz6AVpgLVUJ0")
    );
    assert_eq!(c.custom_fields[0].value, "XYZ Corp");
    assert_eq!(c.date_added.as_deref(), Some("2021-11-26T12:41:02.193Z"));
    assert!(c.extra.is_empty(), "{:?}", c.extra.keys());

    let GhlEvent::ContactTagUpdate(t) = example("ContactTagUpdate", "ContactTagUpdate") else {
        unreachable!()
    };
    assert_eq!(t.tags.len(), 2);
    let GhlEvent::ContactDelete(d) = example("ContactDelete", "ContactDelete") else {
        unreachable!()
    };
    assert_eq!(d.id, "nmFmQEsNgz6AVpgLVUJ0");
}

#[test]
fn opportunity_and_appointment_examples_spot_checked() {
    let GhlEvent::OpportunityStageUpdate(o) =
        example("OpportunityStageUpdate", "OpportunityStageUpdate")
    else {
        unreachable!()
    };
    assert_eq!(o.id, "wWhVuzqpRuOA1ZVWi4FC");
    assert_eq!(o.contact_id.as_deref(), Some("cJAWDskpkJHbRbhAT7bs"));
    assert_eq!(o.monetary_value, Some(40.0));
    assert_eq!(o.pipeline_id.as_deref(), Some("VDm7RPYC2GLUvdpKmBfC"));
    assert_eq!(
        o.pipeline_stage_id.as_deref(),
        Some("e93ba61a-53b3-45e7-985a-c7732dbcdb69")
    );
    assert_eq!(o.status.as_deref(), Some("open"));
    assert!(o.extra.is_empty(), "{:?}", o.extra.keys());

    let GhlEvent::AppointmentCreate(a) = example("AppointmentCreate", "AppointmentCreate") else {
        unreachable!()
    };
    assert_eq!(a.location_id.as_deref(), Some("0007BWpSzSwfiuSl0tR2"));
    let appt = &a.appointment;
    assert_eq!(appt.calendar_id.as_deref(), Some("BqTwX8QFwXzpegMve9EQ"));
    assert_eq!(appt.contact_id.as_deref(), Some("9NkT25Vor1v4aQatFsv2"));
    assert_eq!(appt.users, ["YlWd2wuCAZQzh2cH1fVZ", "9NkT25Vor1v4aQatFsv2"]);
    assert_eq!(
        appt.start_time.as_deref(),
        Some("2023-09-25T16:00:00+05:30")
    );
    assert_eq!(appt.source.as_deref(), Some("booking_widget"));
    assert!(appt.extra.is_empty() && a.extra.is_empty());
}

#[test]
fn message_examples_spot_checked() {
    let messages: Vec<GhlEvent> = all_examples()
        .iter()
        .filter(|x| x.file == "InboundMessage" || x.file == "OutboundMessage")
        .map(|x| parse(&x.file, &x.text))
        .collect();
    assert_eq!(messages.len(), 8);
    let email = messages
        .iter()
        .find_map(|e| match e {
            GhlEvent::InboundMessage(m) if m.message_type.as_deref() == Some("Email") => Some(m),
            _ => None,
        })
        .unwrap();
    // Documented as a string, sent as a list.
    assert_eq!(email.to, ["testprasath95@gmail.com"]);
    assert_eq!(email.subject.as_deref(), Some("Order Confirmed"));
    assert_eq!(
        email.from.as_deref(),
        Some("Internal Notify <sample@email.service>")
    );
    assert_eq!(email.thread_id.as_deref(), Some("sddfDSF3G56GHG"));
    assert!(email
        .body
        .as_deref()
        .unwrap()
        .contains("Testing Email Notification"));

    let call = messages
        .iter()
        .find_map(|e| match e {
            GhlEvent::OutboundMessage(m) if m.call_duration.is_some() => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(call.call_duration, Some(120.0));
    assert_eq!(call.call_status.as_deref(), Some("completed"));
    assert_eq!(call.message_type.as_deref(), Some("CALL"));
    assert_eq!(call.attachments, [Value::from("call recording url")]);

    let sms = messages
        .iter()
        .find_map(|e| match e {
            GhlEvent::InboundMessage(m) if m.message_type.as_deref() == Some("SMS") => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(sms.body.as_deref(), Some("This is a test message"));
    assert_eq!(sms.direction.as_deref(), Some("inbound"));
    assert_eq!(sms.conversation_id.as_deref(), Some("fcanlLgpbQgQhderivVs"));
    assert!(sms.extra.is_empty(), "{:?}", sms.extra.keys());
}

#[test]
fn app_install_and_uninstall_examples_spot_checked() {
    let installs: Vec<_> = all_examples()
        .into_iter()
        .filter(|x| x.file == "AppInstall")
        .map(|x| match parse(&x.file, &x.text) {
            GhlEvent::AppInstall(i) => i,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(installs.len(), 3);
    let location = &installs[0];
    assert_eq!(location.app_id, "ve9EPM428h8vShlRW1KT");
    assert_eq!(
        location.location_id.as_deref(),
        Some("otg8dTQqGLh3Q6iQI55w")
    );
    assert_eq!(location.is_whitelabel_company, Some(true));
    let details = location.whitelabel_details.as_ref().unwrap();
    assert_eq!(details.domain.as_deref(), Some("example.com"));
    let trial = location.trial.as_ref().unwrap();
    assert_eq!(trial.on_trial, Some(true));
    assert_eq!(trial.trial_duration, Some(10.0));
    assert!(location.extra.is_empty(), "{:?}", location.extra.keys());
    // Not white-labelled: an empty object.
    assert_eq!(installs[1].is_whitelabel_company, Some(false));
    assert_eq!(
        installs[1].whitelabel_details.as_ref().unwrap().domain,
        None
    );
    // Agency level: no location.
    let agency = &installs[2];
    assert_eq!(agency.location_id, None);
    assert_eq!(agency.company_id.as_deref(), Some("otg8dTQqGLh3Q6iQI55w"));
    assert_eq!(GhlEvent::AppInstall(agency.clone()).location_id(), None);

    let uninstalls: Vec<_> = all_examples()
        .into_iter()
        .filter(|x| x.file == "AppUninstall")
        .map(|x| parse(&x.file, &x.text))
        .collect();
    assert_eq!(uninstalls.len(), 2);
    assert_eq!(uninstalls[0].location_id(), Some("otg8dTQqGLh3Q6iQI55w"));
    let GhlEvent::AppUninstall(agency) = &uninstalls[1] else {
        panic!("{:?}", uninstalls[1])
    };
    assert_eq!(agency.location_id, None);
    assert_eq!(agency.company_id.as_deref(), Some("otg8dTQqGLh3Q6iQI55w"));
    assert_eq!(agency.event_type, "UNINSTALL");
}

#[test]
fn other_events_keep_their_json() {
    let invoice = example("InvoicePaid", "");
    let GhlEvent::Other(raw) = &invoice else {
        panic!("{invoice:?}")
    };
    assert_eq!(raw.event_type, "");
    assert!(raw.body.get("_id").is_some());

    let record = example("RecordCreate", "");
    assert_eq!(record.timestamp(), Some("2025-02-10T08:26:05.961Z"));
    assert!(record.location_id().is_some());

    let plan = example("PlanChange", "PLAN_CHANGE");
    let GhlEvent::Other(raw) = &plan else {
        panic!("{plan:?}")
    };
    assert_eq!(raw.event_type, "PLAN_CHANGE");
    assert_eq!(raw.location_id.as_deref(), Some("otg8dTQqGLh3Q6iQI55w"));
    assert_eq!(raw.body["newPlanId"], "66a0419a0dffa47fb5f8b22f");

    let stats = example("LCEmailStats", "LCEmailStats");
    assert_eq!(stats.location_id(), Some("ve9EPM428h8vShlRW1KT"));
    // The nested mail-provider `timestamp` (a number) is not the delivery's.
    assert_eq!(stats.timestamp(), None);
}

#[test]
fn delivery_fields_added_since_2025_are_read_from_every_typed_example() {
    // The docs' examples predate `timestamp` and `webhookId`; a delivery now carries both.
    for x in all_examples() {
        let mut json: Value = serde_json::from_str(&x.text).unwrap();
        let Some(object) = json.as_object_mut() else {
            panic!("{}: not an object", x.file)
        };
        object.insert("timestamp".into(), "2025-01-28T14:35:00Z".into());
        object.insert("webhookId".into(), format!("wh-{}", x.file).into());
        let event = parse(&x.file, &json.to_string());
        assert_eq!(
            event.timestamp(),
            Some("2025-01-28T14:35:00Z"),
            "{}",
            x.file
        );
        assert_eq!(
            event.webhook_id(),
            Some(format!("wh-{}", x.file).as_str()),
            "{}",
            x.file
        );
    }
}

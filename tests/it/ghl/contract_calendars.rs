//! The contract of the calendars, opportunities and conversations calls: each goes through
//! Prism serving GoHighLevel's own spec of its app with `--errors` (so a missing `Version:
//! 2021-04-15`, required field or query parameter fails the test), and its answer (the
//! spec's example) decodes into the typed models.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use switchboard::ghl::{
    AppointmentStatus, CreateAppointment, CreateBlockSlot, CreateOpportunity, FreeSlots, GhlClient,
    GhlError, GhlSettings, ListEvents, OpportunityStatus, SearchOpportunities, SendMessage,
    UpdateAppointment, UpdateBlockSlot,
};
use switchboard::toolkit::Call;
use switchboard::{ErrorKind, ProviderError};

use super::contract::{accepted, client, lenient_client, request_violations, Answers};

/// A call whose answer in the spec's example breaks the spec's own schema: made against the
/// `--errors` Prism, which must refuse it for its own example only (a 500 whose violations
/// are all of the response), then against the lenient Prism, whose answer must pass
/// [`accepted`] (no request violation) and is returned decoded.
async fn through_both<T>(
    what: &str,
    strict: &(GhlClient, Answers),
    lenient: &(GhlClient, Answers),
    make: impl Fn(&GhlClient) -> Call<T, GhlError>,
) -> T
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    let refused = make(&strict.0).await;
    let (path, status, header) = strict.1.lock().unwrap().last().cloned().unwrap();
    assert!(
        refused.is_err(),
        "{what} ({path}): the spec's example now passes its schema"
    );
    assert_eq!(status, 500, "{what} ({path}): {header}");
    assert!(!header.is_empty(), "{what} ({path}): no violation listed");
    let blamed = request_violations(&header);
    assert!(blamed.is_empty(), "{what} ({path}): {blamed:#?}");
    let r = make(&lenient.0).await;
    match r {
        Ok(answer) => {
            accepted(what, Ok::<(), GhlError>(()), &lenient.1);
            answer
        }
        Err(e) => {
            accepted(what, Err::<(), GhlError>(e.clone()), &lenient.1);
            panic!("{what}: {e}")
        }
    }
}

/// 2024-10-28T00:00:00Z: the week of the spec's free-slot example.
fn monday() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_730_073_600)
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn every_calendar_call_passes_prisms_request_validation_and_decodes_its_answer() {
    let (ghl, answers) = client("calendars");
    let calendars = ghl.calendars();

    let r = calendars.list().await;
    let list = r.as_ref().map_err(Clone::clone).map(|_| ());
    accepted("calendars.list", list, &answers);
    assert!(!r.unwrap().is_empty(), "the spec's example has a calendar");

    let r = calendars.get("cal_contract").await;
    let id = r.as_ref().map(|c| c.id.clone()).map_err(Clone::clone);
    accepted("calendars.get", id, &answers);

    let r = calendars
        .free_slots(
            FreeSlots::new(monday(), monday() + 7 * 24 * HOUR)
                .timezone("America/Chicago")
                .user("user_1"),
        )
        .await;
    let free = r.as_ref().map(|_| ()).map_err(Clone::clone);
    accepted("calendars.free_slots", free, &answers);
    let free = r.unwrap();
    assert_eq!(
        free.slots(),
        vec![
            (
                "2024-10-28".to_string(),
                vec![
                    "2024-10-28T10:00:00-05:00".to_string(),
                    "2024-10-28T11:00:00-05:00".to_string()
                ]
            ),
            (
                "2024-10-29".to_string(),
                vec![
                    "2024-10-29T10:00:00-05:00".to_string(),
                    "2024-10-29T14:30:00-05:00".to_string()
                ]
            ),
        ],
        "the spec's example, per day"
    );
    let r = calendars
        .free_slots(FreeSlots::new(monday(), monday() + HOUR).calendar("cal_other"))
        .await;
    accepted("calendars.free_slots (named calendar)", r, &answers);
    assert_eq!(
        answers.lock().unwrap().last().unwrap().0,
        "/calendars/cal_other/free-slots"
    );

    // The spec's example event gives its times as strings where its schema says object
    // (GoHighLevel sends strings): see `through_both`.
    let strict = (ghl.clone(), answers.clone());
    let lenient = lenient_client("calendars");
    let week = ListEvents::new(monday(), monday() + 7 * 24 * HOUR);
    let events = through_both("calendars.events", &strict, &lenient, |g| {
        g.calendars().events(week.clone())
    })
    .await;
    let event = events.first().expect("the spec's example has an event");
    assert_eq!(event.appointment_status, Some(AppointmentStatus::Confirmed));
    assert!(event.updated_at().is_some(), "{:?}", event.date_updated);
    assert!(event.starts_at().is_some(), "{:?}", event.start_time);
    through_both("calendars.events (by user)", &strict, &lenient, |g| {
        g.calendars().events(week.clone().user("user_1"))
    })
    .await;
    let blocked = through_both("calendars.blocked_slots", &strict, &lenient, |g| {
        g.calendars().blocked_slots(week.clone().group("group_1"))
    })
    .await;
    assert!(!blocked.is_empty());

    // The block slots' answer gives its times as strings where the schema says object too.
    let slot = through_both("calendars.block_slots.create", &strict, &lenient, |g| {
        g.calendars().create_block_slot(
            CreateBlockSlot::new(monday() + 9 * HOUR, monday() + 10 * HOUR).title("Viewing"),
        )
    })
    .await;
    assert!(slot.starts_at().is_some(), "{:?}", slot.start_time);
    through_both("calendars.block_slots.update", &strict, &lenient, |g| {
        g.calendars().update_block_slot(
            "slot_1",
            UpdateBlockSlot::new()
                .start(monday() + 11 * HOUR)
                .end(monday() + 12 * HOUR)
                .title("Viewing (moved)"),
        )
    })
    .await;
    let r = calendars.delete_event("slot_1").await;
    let deleted = r.as_ref().map(|d| d.succeeded).map_err(Clone::clone);
    accepted("calendars.events.delete", deleted, &answers);
    assert!(r.unwrap().succeeded);

    // The appointments' answers give `isRecurring` as the string "true" where the schema says
    // boolean.
    let created = through_both("calendars.appointments.create", &strict, &lenient, |g| {
        g.calendars().create_appointment(
            CreateAppointment::new("contact_1", monday() + 9 * HOUR)
                .end(monday() + 10 * HOUR)
                .title("Viewing")
                .status(AppointmentStatus::Confirmed)
                .address("12 High Street")
                .ignore_date_range(false)
                .to_notify(true),
        )
    })
    .await;
    assert!(created.contact_id.is_some());
    // Prism's example answer carries a status of its own choosing, not the one booked.
    assert!(created.appointment_status.is_some());
    through_both("calendars.appointments.update", &strict, &lenient, |g| {
        g.calendars().update_appointment(
            "appt_1",
            UpdateAppointment::new()
                .start(monday() + 13 * HOUR)
                .end(monday() + 14 * HOUR)
                .status(AppointmentStatus::Cancelled)
                .calendar("cal_contract"),
        )
    })
    .await;
    let got = through_both("calendars.appointments.get", &strict, &lenient, |g| {
        g.calendars().get_appointment("appt_1")
    })
    .await;
    assert!(got.contact_id.is_some());
}

#[tokio::test]
async fn calendar_calls_without_a_calendar_fail_before_sending() {
    let (ghl, answers) = client("calendars");
    let ghl = ghl.with_settings(GhlSettings::for_location("loc_contract"));
    let err = ghl
        .calendars()
        .free_slots(FreeSlots::new(monday(), monday() + HOUR))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("ghl.calendarId"), "{err}");
    let err = ghl
        .calendars()
        .create_block_slot(CreateBlockSlot::new(monday(), monday() + HOUR))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ghl.calendarId"), "{err}");
    let err = ghl
        .calendars()
        .free_slots(FreeSlots::new(monday(), monday() + 32 * 24 * HOUR).calendar("cal_1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ghl.endDate"), "{err}");
    assert!(answers.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn every_opportunity_call_passes_prisms_request_validation_and_decodes_its_answer() {
    // Every opportunity in the spec's examples gives `indexVersion` as a number where its
    // schema says string: the calls answering one go through `through_both`.
    let strict = client("opportunities");
    let lenient = lenient_client("opportunities");

    let page = through_both("opportunities.search", &strict, &lenient, |g| {
        g.opportunities().search(
            SearchOpportunities::new()
                .status(OpportunityStatus::Open)
                .pipeline("pipeline_1")
                .limit(10)
                .start_after(1_625_203_104_328, "opp_0"),
        )
    })
    .await;
    assert!(!page.opportunities.is_empty(), "the spec's example has one");
    assert!(page.meta.start_after_id.is_some());

    let got = through_both("opportunities.get", &strict, &lenient, |g| {
        g.opportunities().get("opp_1")
    })
    .await;
    assert_eq!(got.status, Some(OpportunityStatus::Open));

    through_both("opportunities.create", &strict, &lenient, |g| {
        g.opportunities().create(
            CreateOpportunity::new("pipeline_1", "contact_1", "Flat 3")
                .stage("stage_1")
                .monetary_value(250_000.0),
        )
    })
    .await;
    through_both("opportunities.update (stage)", &strict, &lenient, |g| {
        g.opportunities()
            .update_stage("opp_1", "pipeline_1", "stage_2")
    })
    .await;

    let (ghl, answers) = strict.clone();
    let opportunities = ghl.opportunities();
    let r = opportunities
        .update_status("opp_1", OpportunityStatus::Won)
        .await;
    let updated = r.as_ref().map(|u| u.succeeded).map_err(Clone::clone);
    accepted("opportunities.status.update", updated, &answers);
    assert!(
        r.unwrap().succeeded,
        "the spec's `succeded` spelling is read"
    );
    let r = opportunities.delete("opp_1").await;
    accepted("opportunities.delete", r, &answers);
}

#[tokio::test]
async fn sending_a_message_passes_prisms_request_validation_and_decodes_its_answer() {
    let (ghl, answers) = client("conversations");
    // The spec marks `subType` (typed as an object) and `status` required on a send, though
    // neither is needed to send (see `SendMessage`): the connector does not invent them, so
    // the contract request adds them as a host whose account wants them would.
    let spec_extras = |m: SendMessage| m.param("subType", json!({})).param("status", "pending");
    let r = ghl
        .conversations()
        .send_message(spec_extras(SendMessage::sms("contact_1", "See you at 10")))
        .await;
    let sent = r.as_ref().map(|_| ()).map_err(Clone::clone);
    accepted("conversations.messages.send (sms)", sent, &answers);
    let sent = r.unwrap();
    assert!(sent.conversation_id.is_some() && sent.message_id.is_some());
    let r = ghl
        .conversations()
        .send_message(spec_extras(
            SendMessage::email("contact_1", "Your viewing", "<p>10am</p>")
                .email_cc(vec!["agent@example.com".into()]),
        ))
        .await;
    accepted("conversations.messages.send (email)", r, &answers);

    // Without the spec's extra fields, Prism refuses the request: the harness sees it.
    let r = ghl
        .conversations()
        .send_message(SendMessage::sms("contact_1", "hi"))
        .await;
    let (_, status, _) = answers.lock().unwrap().last().cloned().unwrap();
    assert!(r.is_err() && !status.is_success(), "{status}");
}

//! `canary.values`, `config.valid`, `config.invalid`: the valid config binds through the host
//! path; invalid ones are refused naming their JSON pointers and never a value.

use std::error::Error as _;

use serde_json::Value;

use super::host::{pointed_at, Host, TENANT_A};
use super::{Conformance, Run};
use crate::templates::ValidationErrors;
use crate::test_util::canary;
use crate::ErrorKind;

/// The shortest secret value the suite accepts as a canary: shorter ones occur by chance.
const MIN_CANARY: usize = 12;
/// A number no config holds by chance, used as a wrong-typed value.
const ODD_NUMBER: i64 = 4_242_424_242;

/// The secret values of `config` (every field the template marks secret).
pub(crate) fn secret_values(case: &Conformance, config: &Value) -> Vec<String> {
    case.integration
        .template()
        .split(config)
        .map(|c| c.secret_values().map(str::to_string).collect())
        .unwrap_or_default()
}

pub(crate) async fn check(case: &Conformance, run: &mut Run) {
    let template = case.integration.template();
    run.debug("the integration", format!("{:?}", case.integration));
    run.debug("the template", format!("{template:?}"));

    // canary.values
    let secrets = secret_values(case, &case.config);
    let mut problems = Vec::new();
    if secrets.is_empty() {
        problems.push("the valid config holds no secret field (or is invalid)".to_string());
    }
    for s in &secrets {
        if s.len() < MIN_CANARY {
            problems.push(format!(
                "a secret value of {} characters is too short to search for; use test_util::canary",
                s.len()
            ));
        }
    }
    run.canaries(secrets);
    run.outcome("canary.values", problems);

    valid(case, run).await;
    invalid(case, run).await;
}

async fn valid(case: &Conformance, run: &mut Run) {
    let mut problems = Vec::new();
    let template = case.integration.template();
    let host = match Host::new(case) {
        Ok(h) => h,
        Err(e) => {
            run.fail("config.valid", format!("cannot build the host: {e}"));
            return;
        }
    };
    // Endpoints at a loopback address nothing is asked of: binding makes no call.
    let config = pointed_at(
        case.integration.as_ref(),
        &case.config,
        &format!("http://{}", crate::test_util::refused_addr()),
    );
    match template.split(&config) {
        Ok(split) => {
            run.debug("the split ConnectionConfig", format!("{split:?}"));
            match case.integration.bind(&split) {
                Ok(binding) => run.debug("the IntegrationBinding", format!("{binding:?}")),
                Err(e) => {
                    problems.push(format!("Integration::bind refused the valid config: {e}"));
                    run.error("Integration::bind", &e);
                }
            }
            match case.integration.webhook_verifier(&split) {
                Ok(v) => run.debug("the webhook verifier", format!("{v:?}")),
                Err(e) => run.error("Integration::webhook_verifier", &e),
            }
        }
        Err(e) => {
            problems.push(format!("the template refuses the valid config: {e}"));
            run.error("IntegrationTemplate::split", &e);
        }
    }
    match host
        .connect(template.name(), TENANT_A, "valid", &config)
        .await
    {
        Ok(conn) => {
            run.debug("the Connection", format!("{conn:?}"));
            run.debug(
                "the connection's connector",
                format!("{:?}", conn.connector()),
            );
            if let Some(debug) = &case.client_debug {
                match debug(conn) {
                    Ok(text) => run.debug("the typed client", text),
                    Err(e) => {
                        problems.push(format!("the typed client refused the connection: {e}"));
                        run.error("the typed client", e.as_ref());
                    }
                }
            }
            let (t, c) = (
                crate::TenantId::new(TENANT_A),
                crate::ConnectionId::new("valid"),
            );
            match host.connections.get(&t, &c).await {
                Ok(record) => run.debug("the ConnectionRecord", format!("{record:?}")),
                Err(e) => problems.push(format!("the record cannot be read back: {e}")),
            }
            if let Ok(opened) = host.connections.config(&t, &c).await {
                run.debug("the opened ConnectionConfig", format!("{opened:?}"));
            }
            run.debug("Connections", format!("{:?}", host.connections));
        }
        Err(e) => {
            problems.push(format!("the host path refused the valid config: {e}"));
            run.error("Connections::create/connection", &e);
        }
    }
    run.outcome("config.valid", problems);
}

/// Every invalid config to try: the case's own, then derived from the schema.
fn invalid_configs(case: &Conformance) -> Vec<(String, Value, Vec<String>)> {
    let mut out: Vec<(String, Value, Vec<String>)> = case
        .invalid
        .iter()
        .enumerate()
        .map(|(i, (c, p))| (format!("invalid config #{i}"), c.clone(), p.clone()))
        .collect();
    let schema = case.integration.template().config_schema();
    let Some(base) = case.config.as_object() else {
        return out;
    };
    for field in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let mut c = base.clone();
        c.remove(field);
        out.push((
            format!("the valid config without required `{field}`"),
            Value::Object(c),
            vec![format!("/{}", escape(field))],
        ));
    }
    for (field, prop) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let pointer = format!("/{}", escape(field));
        if prop.get("type").and_then(Value::as_str) == Some("string") {
            let mut c = base.clone();
            c.insert(field.clone(), Value::from(ODD_NUMBER));
            out.push((
                format!("`{field}` as a number"),
                Value::Object(c),
                vec![pointer.clone()],
            ));
        }
        if prop.get("pattern").is_some() {
            let mut c = base.clone();
            // A canary that breaks any pattern anchored at the start.
            c.insert(
                field.clone(),
                Value::String(format!(" {}", canary("invalid"))),
            );
            out.push((
                format!("`{field}` breaking its pattern"),
                Value::Object(c),
                vec![pointer],
            ));
        }
    }
    out
}

async fn invalid(case: &Conformance, run: &mut Run) {
    let mut problems = Vec::new();
    let template = case.integration.template();
    let host = match Host::new(case) {
        Ok(h) => h,
        Err(e) => {
            run.fail("config.invalid", format!("cannot build the host: {e}"));
            return;
        }
    };
    for (n, (what, config, pointers)) in invalid_configs(case).into_iter().enumerate() {
        // The values planted in this config must not come back in its refusal.
        let planted: Vec<String> = config
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|v| match v {
                Value::String(s) if s.contains("CANARY") => Some(s.trim().to_string()),
                Value::Number(n) if n.as_i64() == Some(ODD_NUMBER) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        run.canaries(planted.iter().filter(|p| p.contains("CANARY")).cloned());
        let id = format!("invalid-{n}");
        let result = host.connect(template.name(), TENANT_A, &id, &config).await;
        let err = match result {
            Ok(_) => {
                problems.push(format!("{what} was accepted"));
                continue;
            }
            Err(e) => e,
        };
        run.error(format!("the refusal of {what}"), &err);
        if err.kind() != ErrorKind::Validation {
            problems.push(format!(
                "{what} was refused as {:?}, not Validation: {err}",
                err.kind()
            ));
        }
        let issues: Vec<String> = err
            .source()
            .and_then(|s| s.downcast_ref::<ValidationErrors>())
            .map(|v| v.issues.iter().map(|i| i.pointer.clone()).collect())
            .unwrap_or_default();
        for p in &pointers {
            if !issues.contains(p) {
                problems.push(format!(
                    "the refusal of {what} does not name `{p}` (it names {issues:?})"
                ));
            }
        }
        let text = format!("{err} {err:?}");
        for v in &planted {
            if text.contains(v.as_str()) {
                problems.push(format!("the refusal of {what} echoes the value: {err}"));
            }
        }
    }
    run.outcome("config.invalid", problems);
}

/// Escapes a property name for a JSON pointer.
fn escape(field: &str) -> String {
    field.replace('~', "~0").replace('/', "~1")
}

//! `schema.typed`: the template's JSON Schema and the connector's typed config agree.

use serde_json::{json, Map, Value};

use super::{Conformance, Run, TypedFn};

pub(crate) fn check(case: &Conformance, typed: &TypedFn, run: &mut Run) {
    let template = case.integration.template();
    let schema = template.config_schema();
    let examples: Vec<&Value> = std::iter::once(&case.config)
        .chain(case.examples.iter())
        .collect();
    for e in &examples {
        run.canaries(super::config::secret_values(case, e));
    }
    let schema_ok = |v: &Value| template.validate(v).is_ok();
    let mut problems = Vec::new();
    let typed_ok = |v: &Value, run: &mut Run, what: &str| match typed(v) {
        Ok(debug) => {
            run.debug(format!("the typed config ({what})"), debug);
            true
        }
        Err(e) => {
            run.error_text(format!("the typed config's error ({what})"), e);
            false
        }
    };

    let properties: Map<String, Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();

    for name in properties.keys() {
        if !examples.iter().any(|e| e.get(name).is_some()) {
            problems.push(format!(
                "schema property `{name}` is in no example config, so the suite cannot check the typed config reads it (add an example_config)"
            ));
        }
    }

    for (i, example) in examples.iter().enumerate() {
        let example_name = format!("example #{i}");
        let what = example_name.clone();
        if let Err(e) = template.validate(example) {
            problems.push(format!("{what} is not valid against the schema: {e}"));
            continue;
        }
        if !typed_ok(example, run, &what) {
            problems.push(format!(
                "the schema accepts {what} but the typed config refuses it"
            ));
            continue;
        }
        let Some(map) = example.as_object() else {
            continue;
        };
        for field in map.keys() {
            let mut without = map.clone();
            without.remove(field);
            let without = Value::Object(without);
            let what = format!("{what} without `{field}`");
            let (s, t) = (schema_ok(&without), typed_ok(&without, run, &what));
            if required.contains(&field.as_str()) {
                if s {
                    problems.push(format!(
                        "the schema accepts {what}, yet lists it as required"
                    ));
                }
                if t {
                    problems.push(format!(
                        "the typed config accepts {what}, which the schema requires"
                    ));
                }
            } else if s && !t {
                problems.push(format!(
                    "the schema accepts {what} but the typed config refuses it (make the field optional)"
                ));
            }
            for (kind, wrong) in [
                ("an object", json!({"conformance": true})),
                ("an array", json!(["conformance"])),
                ("a boolean", json!(true)),
                ("a number", json!(4_242_424_242.5)),
            ] {
                let mut changed = map.clone();
                changed.insert(field.clone(), wrong);
                let changed = Value::Object(changed);
                let what = format!("{example_name} with `{field}` as {kind}");
                if !schema_ok(&changed) && typed_ok(&changed, run, &what) {
                    problems.push(format!(
                        "the typed config accepts `{field}` as {kind}, which the schema refuses"
                    ));
                }
            }
        }
        let mut unknown = map.clone();
        unknown.insert("conformance_unknown_field".into(), json!("x"));
        let unknown = Value::Object(unknown);
        let what = format!("{example_name} with an unknown field");
        if schema_ok(&unknown) {
            problems.push(format!(
                "the schema accepts {what} (set `additionalProperties: false`)"
            ));
        }
        if typed_ok(&unknown, run, &what) {
            problems.push(format!(
                "the typed config accepts {what} (use `#[serde(deny_unknown_fields)]`)"
            ));
        }
    }
    problems.dedup();
    run.outcome("schema.typed", problems);
}

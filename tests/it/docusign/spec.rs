//! The request contract of the envelope calls: DocuSign's patched eSignature spec
//! (`specs/docusign/esignature.rest.swagger-v2.1.patched.json`, ~4 MB), registered once per
//! test binary as one `jsonschema` resource; each validator is `{"$ref": "<spec>#/definitions/X"}`
//! (`envelopeDefinition`, `envelope`, `recipients`, `recipientViewRequest`,
//! `returnUrlRequest`), so the definitions it references resolve inside the spec.
//!
//! The spec declares no `additionalProperties`, so a misspelt field (`routingOrdr`) would pass
//! it. The copy registered here closes every definition that lists properties
//! (`additionalProperties: false`): a request field must be one the spec names, with the type it
//! declares (DocuSign's numbers and booleans are strings).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use jsonschema::{Registry, Validator};
use serde_json::{json, Value};

use crate::support::shared_dir;

const BASE: &str = "https://spec.docusign.test/esignature.json";

static REGISTRY: OnceLock<Registry<'static>> = OnceLock::new();
static VALIDATORS: OnceLock<Mutex<HashMap<String, &'static Validator>>> = OnceLock::new();

fn registry() -> &'static Registry<'static> {
    REGISTRY.get_or_init(|| {
        let path = shared_dir().join("specs/docusign/esignature.rest.swagger-v2.1.patched.json");
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read the DocuSign spec {}: {e}", path.display()));
        let mut spec: Value = serde_json::from_slice(&bytes).expect("the DocuSign spec is JSON");
        let definitions = spec["definitions"]
            .as_object_mut()
            .expect("the spec has definitions");
        for def in definitions.values_mut() {
            if def.get("properties").is_some() && def.get("additionalProperties").is_none() {
                def["additionalProperties"] = Value::Bool(false);
            }
        }
        Registry::new()
            .add(BASE, spec)
            .expect("register the spec")
            .prepare()
            .expect("prepare the registry")
    })
}

/// The validator of `#/definitions/{definition}`, compiled once.
fn validator(definition: &str) -> &'static Validator {
    let map = VALIDATORS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap();
    if let Some(v) = map.get(definition) {
        return v;
    }
    let compiled = jsonschema::options()
        .with_registry(registry())
        .build(&json!({"$ref": format!("{BASE}#/definitions/{definition}")}))
        .unwrap_or_else(|e| panic!("compile {definition}: {e}"));
    // Leaked once per definition per test binary: a handful of validators.
    let leaked: &'static Validator = Box::leak(Box::new(compiled));
    map.insert(definition.to_string(), leaked);
    leaked
}

/// Checks `body` against the spec's `definition`; the error lists every violation with its
/// JSON pointer.
pub(crate) fn check(definition: &str, body: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator(definition)
        .iter_errors(body)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{definition}: {}", errors.join("; ")))
    }
}

#[test]
fn the_strict_spec_refuses_a_misspelt_field_and_a_number_where_it_wants_a_string() {
    let ok = json!({"emailSubject": "s", "recipients": {"signers": [{"email": "a@example.test", "name": "A", "recipientId": "1", "routingOrder": "1"}]}});
    check("envelopeDefinition", &ok).unwrap();
    let misspelt = json!({"recipients": {"signers": [{"routingOrdr": "1"}]}});
    let err = check("envelopeDefinition", &misspelt).unwrap_err();
    assert!(err.contains("/recipients/signers/0"), "{err}");
    let number = json!({"recipients": {"signers": [{"routingOrder": 1}]}});
    let err = check("envelopeDefinition", &number).unwrap_err();
    assert!(err.contains("routingOrder"), "{err}");
}

//! The request contract: every request the connector sends is checked against the request
//! schemas of Stripe's OpenAPI spec (`specs/stripe/spec3.2023-08-16.subset.json`).
//!
//! The spec is loaded and every operation's validators compiled once per test binary
//! (`OnceLock`). The whole spec is registered as one `jsonschema` resource, and each validator
//! is just `{"$ref": "<spec>#/paths/.../schema"}`, so the spec's own `#/components/...` refs
//! resolve inside it and nothing is copied. Query parameters become one synthetic object
//! schema per operation, inserted into the spec document under `x-switchboard-query` so their
//! refs resolve the same way.
//!
//! Form bodies and queries are decoded (`a[b][0]=x` into nested JSON), values are coerced to
//! the types the schema asks for (form values are all strings on the wire), then validated.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use http::Method;
use jsonschema::{Registry, Validator};
use serde_json::{json, Map, Value};

use crate::support::shared_dir;

const BASE: &str = "https://spec.stripe.test/spec3.json";

/// One operation: how to match it and its compiled validators.
pub(crate) struct Op {
    pub(crate) method: Method,
    pub(crate) template: String,
    /// The request body schema (resolved lazily for coercion) and its validator.
    body: Option<(Value, Validator)>,
    query: (Value, Validator),
}

pub(crate) struct Contract {
    spec: Value,
    ops: Vec<Op>,
}

static REGISTRY: OnceLock<Registry<'static>> = OnceLock::new();
static CONTRACT: OnceLock<Contract> = OnceLock::new();

/// The contract, loaded and compiled on first use.
pub(crate) fn contract() -> &'static Contract {
    CONTRACT.get_or_init(load)
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Calls the spec subset does not include, with schemas written here from Stripe's reference:
/// `GET /v1/balance` (the connector's `check`), `GET /v1/customers/search` and
/// `POST /v1/checkout/sessions/{session}/expire`.
fn extras() -> Vec<(Method, &'static str, Option<Value>, Value)> {
    let expand = json!({"type": "array", "items": {"type": "string", "maxLength": 5000}});
    vec![
        (
            Method::GET,
            "/v1/customers/search",
            None,
            json!({"type": "object", "additionalProperties": false, "required": ["query"],
                   "properties": {"query": {"type": "string", "maxLength": 5000},
                                  "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                                  "page": {"type": "string", "maxLength": 5000},
                                  "expand": expand}}),
        ),
        (
            Method::GET,
            "/v1/balance",
            None,
            json!({"type": "object", "additionalProperties": false,
                   "properties": {"expand": expand}}),
        ),
        (
            Method::POST,
            "/v1/checkout/sessions/{session}/expire",
            Some(json!({"type": "object", "additionalProperties": false,
                        "properties": {"expand": expand}})),
            json!({"type": "object", "additionalProperties": false}),
        ),
    ]
}

fn load() -> Contract {
    let path = shared_dir().join("specs/stripe/spec3.2023-08-16.subset.json");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read the Stripe spec {}: {e}", path.display()));
    let mut spec: Value = serde_json::from_slice(&bytes).expect("the Stripe spec is JSON");

    // Build the query schemas first and put them into the document.
    let mut queries = Map::new();
    let mut plan: Vec<(Method, String, Option<String>, String)> = Vec::new();
    let paths = spec["paths"].as_object().expect("paths").clone();
    for (path, item) in &paths {
        for (m, op) in item.as_object().expect("path item") {
            let Ok(method) = m.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            if m == "parameters" {
                continue;
            }
            let op_id = op["operationId"].as_str().expect("operationId").to_string();
            let mut props = Map::new();
            let mut required = Vec::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "query" {
                    let name = p["name"].as_str().expect("param name");
                    props.insert(name.to_string(), p["schema"].clone());
                    if p["required"] == true {
                        required.push(Value::from(name));
                    }
                }
            }
            queries.insert(
                op_id.clone(),
                json!({"type": "object", "additionalProperties": false,
                       "properties": props, "required": required}),
            );
            let body = op
                .pointer("/requestBody/content/application~1x-www-form-urlencoded/schema")
                .map(|_| {
                    format!(
                        "/paths/{}/{m}/requestBody/content/application~1x-www-form-urlencoded/schema",
                        escape(path)
                    )
                });
            plan.push((
                method,
                path.clone(),
                body,
                format!("/x-switchboard-query/{op_id}"),
            ));
        }
    }
    for (method, template, body, query) in extras() {
        let id = format!("extra{}", queries.len());
        queries.insert(id.clone(), query);
        let body_ptr = body.map(|b| {
            queries.insert(format!("{id}-body"), b);
            format!("/x-switchboard-query/{id}-body")
        });
        // Extras go first, so `/v1/customers/search` is not taken for `/v1/customers/{customer}`.
        plan.insert(
            0,
            (
                method,
                template.to_string(),
                body_ptr,
                format!("/x-switchboard-query/{id}"),
            ),
        );
    }
    spec["x-switchboard-query"] = Value::Object(queries);

    let registry = REGISTRY.get_or_init(|| {
        Registry::new()
            .add(BASE, spec.clone())
            .expect("register the spec")
            .prepare()
            .expect("prepare the registry")
    });
    let compile = |ptr: &str| -> Validator {
        jsonschema::options()
            .with_registry(registry)
            // `{` and `}` (path templates) are not allowed in a URI fragment: percent-encode them.
            .build(
                &json!({"$ref": format!("{BASE}#{}", ptr.replace('{', "%7B").replace('}', "%7D"))}),
            )
            .unwrap_or_else(|e| panic!("compile {ptr}: {e}"))
    };
    let ops = plan
        .into_iter()
        .map(|(method, template, body, query)| Op {
            body: body.map(|b| (spec.pointer(&b).cloned().expect("body schema"), compile(&b))),
            query: (
                spec.pointer(&query).cloned().expect("query schema"),
                compile(&query),
            ),
            method,
            template,
        })
        .collect();
    Contract { spec, ops }
}

impl Contract {
    /// Finds the operation for a method and path.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Option<&Op> {
        self.ops
            .iter()
            .find(|op| op.method == method && path_matches(&op.template, path))
    }

    /// Checks one request: the operation exists, the query matches its parameters and the
    /// form body its request schema. Returns the operation and the decoded, coerced body.
    pub(crate) fn check(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(&Op, Value), String> {
        let op = self
            .find(method, path)
            .ok_or_else(|| format!("{method} {path} is not an operation of the spec"))?;
        let q = decode_form(query)?;
        let q = self.coerce(q, &op.query.0);
        if let Some(err) = op.query.1.iter_errors(&q).next() {
            return Err(format!(
                "{method} {path}: query {q} fails the parameters at {}: {err}",
                err.instance_path()
            ));
        }
        let decoded = match &op.body {
            Some((schema, validator)) => {
                if !body.is_empty() && content_type != Some("application/x-www-form-urlencoded") {
                    return Err(format!(
                        "{method} {path}: body content type is {content_type:?}"
                    ));
                }
                let text =
                    std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
                let form = self.coerce(decode_form(text)?, schema);
                if let Some(err) = validator.iter_errors(&form).next() {
                    return Err(format!(
                        "{method} {path}: body {form} fails the request schema at {}: {err}",
                        err.instance_path()
                    ));
                }
                form
            }
            None if body.is_empty() => Value::Object(Map::new()),
            None => return Err(format!("{method} {path} takes no body")),
        };
        Ok((op, decoded))
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        for _ in 0..16 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let ptr = r.strip_prefix('#').unwrap_or(r);
                    match self.spec.pointer(ptr) {
                        Some(next) => s = next,
                        None => return s,
                    }
                }
                None => return s,
            }
        }
        s
    }

    /// Form values are strings on the wire: turn them into the types the schema asks for.
    fn coerce(&self, v: Value, schema: &Value) -> Value {
        let schema = self.resolve(schema);
        if let Some(alts) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            for alt in alts {
                let c = self.coerce(v.clone(), alt);
                if fits(&c, self.resolve(alt)) {
                    return c;
                }
            }
            return v;
        }
        let ty = schema.get("type").and_then(Value::as_str);
        match (v, ty) {
            (Value::String(s), Some("integer")) => s
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(s)),
            (Value::String(s), Some("number")) => s
                .parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                .unwrap_or(Value::String(s)),
            (Value::String(s), Some("boolean")) => match s.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(s),
            },
            (Value::Object(m), Some("array")) => {
                let mut indexed: BTreeMap<usize, Value> = BTreeMap::new();
                for (k, v) in &m {
                    match k.parse::<usize>() {
                        Ok(i) => {
                            indexed.insert(i, v.clone());
                        }
                        Err(_) => return Value::Object(m),
                    }
                }
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                Value::Array(
                    indexed
                        .into_values()
                        .map(|v| self.coerce(v, &items))
                        .collect(),
                )
            }
            (Value::Array(a), _) => {
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                Value::Array(a.into_iter().map(|v| self.coerce(v, &items)).collect())
            }
            (Value::Object(m), _) => {
                let props = schema.get("properties");
                let additional = schema.get("additionalProperties");
                Value::Object(
                    m.into_iter()
                        .map(|(k, v)| {
                            let sub = props
                                .and_then(|p| p.get(&k))
                                .or(additional.filter(|a| a.is_object()));
                            let v = match sub {
                                Some(sub) => self.coerce(v, sub),
                                None => v,
                            };
                            (k, v)
                        })
                        .collect(),
                )
            }
            (v, _) => v,
        }
    }
}

/// Whether a coerced value has the type an alternative asks for (shallow).
fn fits(v: &Value, schema: &Value) -> bool {
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return false;
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        _ => true,
    }
}

fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

/// Decodes `a[b][0]=x&a[c][]=y` into nested JSON (objects, and arrays for `[]`); values stay
/// strings. A key used both as a value and as a parent is an error.
pub(crate) fn decode_form(s: &str) -> Result<Value, String> {
    let mut root = Value::Object(Map::new());
    for (k, v) in url::form_urlencoded::parse(s.as_bytes()) {
        let (head, rest) = match k.find('[') {
            Some(i) => (&k[..i], &k[i..]),
            None => (&k[..], ""),
        };
        let mut segs = vec![head.to_string()];
        let mut r = rest;
        while let Some(stripped) = r.strip_prefix('[') {
            let end = stripped
                .find(']')
                .ok_or_else(|| format!("unbalanced key {k:?}"))?;
            segs.push(stripped[..end].to_string());
            r = &stripped[end + 1..];
        }
        if !r.is_empty() {
            return Err(format!("malformed key {k:?}"));
        }
        let mut node = &mut root;
        for (i, seg) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            if seg.is_empty() {
                // `key[]=v`: append to an array.
                if !last {
                    return Err(format!("`[]` inside key {k:?}"));
                }
                match node {
                    Value::Array(a) => a.push(Value::String(v.to_string())),
                    _ => return Err(format!("key {k:?} mixes `[]` with other forms")),
                }
                break;
            }
            let next_is_append = segs.get(i + 1).is_some_and(String::is_empty);
            let map = node
                .as_object_mut()
                .ok_or_else(|| format!("key {k:?} conflicts with a value"))?;
            if last {
                if map
                    .insert(seg.clone(), Value::String(v.to_string()))
                    .is_some()
                {
                    return Err(format!("key {k:?} given twice"));
                }
                break;
            }
            node = map.entry(seg.clone()).or_insert_with(|| {
                if next_is_append {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
        }
    }
    Ok(root)
}

#[test]
fn decodes_nested_form_keys() {
    let v = decode_form("a=1&m%5Bk%5D=v&e%5B0%5D=x&e%5B1%5D=y&q[]=1&q[]=2&p[c][t]=z").unwrap();
    assert_eq!(
        v,
        json!({"a": "1", "m": {"k": "v"}, "e": {"0": "x", "1": "y"}, "q": ["1", "2"], "p": {"c": {"t": "z"}}})
    );
    assert!(decode_form("a=1&a[b]=2").is_err());
    assert!(decode_form("a=1&a=2").is_err());
}

#[test]
fn the_spec_loads_and_every_operation_compiles() {
    let c = contract();
    assert!(c.ops.len() >= 30, "{} operations", c.ops.len());
    assert!(c.find(&Method::POST, "/v1/customers").is_some());
    assert_eq!(
        c.find(&Method::GET, "/v1/customers/search")
            .map(|o| o.template.as_str()),
        Some("/v1/customers/search")
    );
    assert!(c.find(&Method::PUT, "/v1/customers").is_none());
}

//! Integration templates and the registry of integrations.
//!
//! A template describes one integration to a host and its UI: name, display name, category,
//! the JSON Schema of its config (which the host renders its form from), setup instructions in
//! Markdown, the provider API version, and whether it takes webhooks. Config fields marked
//! secret (`"format": "password"` or `"writeOnly": true`) are sealed in the credential store,
//! at any depth: top-level properties, nested object properties, array items and
//! `additionalProperties` values (found through `properties`, `items`, `additionalProperties`
//! and the subschemas of `allOf`/`anyOf`/`oneOf`; a `$ref` is not followed). The rest is
//! stored in the connection record.
//!
//! Config fields that hold a provider endpoint URL (Stripe's `base_url`, a host's `baseUrl`)
//! are declared with [`TemplateBuilder::endpoint_url_field`]. A tenant's config is not trusted
//! to point the pipeline anywhere: such a field must be an `https` URL whose host is not
//! loopback, private, link-local or a metadata service, unless the host application allowed that
//! host explicitly ([`EndpointPolicy`], set with `SwitchboardBuilder::allow_endpoint_host`).
//! `Connections` checks it at `create` and again when binding.
//!
//! An [`Integration`] pairs a template with the code that turns a validated config into a
//! working [`crate::Connection`]. Our connectors and a host's own are registered, validated,
//! stored and health-checked the same way.

mod activation;

pub use activation::{ActivationContext, ConfigChanges};

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::auth::Authenticator;
use crate::client::Connection;
use crate::connector::Connector;
use crate::error::{ConfigError, Error};
use crate::webhook::WebhookVerifier;

pub use crate::endpoint_policy::EndpointPolicy;

/// One problem found while validating a config: where (a JSON pointer) and what rule failed.
/// Never holds the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationIssue {
    /// A JSON pointer to the field at fault (a missing required field's own pointer; `""`
    /// for the whole config, e.g. a failed `oneOf` choice or unknown fields).
    pub pointer: String,
    /// What is wrong, in words a form can show next to the field: the field's schema `title`
    /// and the rule, from the template's `x-error-message` (or `errorMessage`) for that rule,
    /// else built from the rule itself ("Account SID must start with AC followed by 32
    /// hexadecimal characters", "Secret key is required"). Never the value.
    pub message: String,
}

/// Every problem found in a config, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config for `{template}`: {}", .issues.iter().map(|i| format!("{} {}", if i.pointer.is_empty() { "(root)" } else { &i.pointer }, i.message)).collect::<Vec<_>>().join("; "))]
#[non_exhaustive]
pub struct ValidationErrors {
    /// The template.
    pub template: String,
    /// The problems, in schema order.
    pub issues: Vec<ValidationIssue>,
}

impl From<ValidationErrors> for Error {
    fn from(e: ValidationErrors) -> Self {
        Error::validation(e.to_string()).with_source(e)
    }
}

/// An integration's description and config schema.
#[derive(Clone)]
pub struct IntegrationTemplate {
    name: String,
    display_name: String,
    category: String,
    config_schema: Value,
    setup_instructions: String,
    api_version: String,
    webhooks: bool,
    validator: Arc<jsonschema::Validator>,
    secret_fields: Vec<String>,
    endpoint_fields: Vec<String>,
    secret_paths: Vec<Vec<Seg>>,
}

/// One step of a path to secret values in a config, found in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// A named object property.
    Key(String),
    /// Every item of an array (`items`).
    Item,
    /// Every property of an object except the named ones (`additionalProperties`).
    OtherKeys(Vec<String>),
}

impl fmt::Debug for IntegrationTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationTemplate")
            .field("name", &self.name)
            .field("category", &self.category)
            .field("api_version", &self.api_version)
            .field("webhooks", &self.webhooks)
            .field("secret_fields", &self.secret_fields)
            .field("endpoint_fields", &self.endpoint_fields)
            .finish_non_exhaustive()
    }
}

/// Builds an [`IntegrationTemplate`].
#[derive(Debug, Clone)]
#[must_use]
pub struct TemplateBuilder {
    name: String,
    display_name: Option<String>,
    category: String,
    config_schema: Value,
    setup_instructions: String,
    api_version: String,
    webhooks: bool,
    endpoint_fields: Vec<String>,
}

impl IntegrationTemplate {
    /// Starts a template named `name` (stable, lower-case: `"ghl"`, `"acme-crm"`).
    pub fn builder(name: impl Into<String>) -> TemplateBuilder {
        TemplateBuilder {
            name: name.into(),
            display_name: None,
            category: "other".to_string(),
            config_schema: serde_json::json!({"type": "object"}),
            setup_instructions: String::new(),
            api_version: String::new(),
            webhooks: false,
            endpoint_fields: Vec::new(),
        }
    }

    /// The stable name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The name for people.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
    /// The category (`"payments"`, `"messaging"`, `"crm"`, `"mls"`, ...).
    pub fn category(&self) -> &str {
        &self.category
    }
    /// The JSON Schema of the config; what a host UI renders its form from.
    pub fn config_schema(&self) -> &Value {
        &self.config_schema
    }
    /// Setup instructions, in Markdown.
    pub fn setup_instructions(&self) -> &str {
        &self.setup_instructions
    }
    /// The provider API version the integration targets.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }
    /// Whether the integration receives webhooks.
    pub fn takes_webhooks(&self) -> bool {
        self.webhooks
    }
    /// The config fields that are secret (`format: password` or `writeOnly`): a top-level
    /// field by its name, a nested one as a JSON pointer in which `*` stands for every array
    /// item or every other property (`/oauth/client_secret`, `/headers/*/value`).
    pub fn secret_fields(&self) -> &[String] {
        &self.secret_fields
    }

    /// The top-level config fields that hold endpoint URLs
    /// ([`TemplateBuilder::endpoint_url_field`]).
    pub fn endpoint_fields(&self) -> &[String] {
        &self.endpoint_fields
    }

    /// Checks every endpoint URL field present in `config` against `policy`, reporting every
    /// refused field with its JSON pointer (the URL itself is not echoed).
    ///
    /// # Errors
    /// [`ValidationErrors`] listing each refused field.
    pub fn check_endpoints(
        &self,
        config: &Value,
        policy: &EndpointPolicy,
    ) -> Result<(), ValidationErrors> {
        let issues: Vec<ValidationIssue> = self
            .endpoint_fields
            .iter()
            .filter_map(|field| {
                let value = config.get(field)?;
                let problem = match value.as_str() {
                    Some(url) => policy.check(url).err()?,
                    None => "is an endpoint URL and must be a string".to_string(),
                };
                Some(ValidationIssue {
                    pointer: format!("/{}", escape_pointer(field)),
                    message: problem,
                })
            })
            .collect();
        self.no_issues(issues)
    }

    /// `Ok` when `issues` is empty, else every issue under this template's name.
    fn no_issues(&self, issues: Vec<ValidationIssue>) -> Result<(), ValidationErrors> {
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors {
                template: self.name.clone(),
                issues,
            })
        }
    }

    /// Validates `config`, reporting every problem at once with its JSON pointer. Values are
    /// never echoed, so a mistyped secret does not end up in an error or a log.
    ///
    /// # Errors
    /// [`ValidationErrors`] listing every issue.
    pub fn validate(&self, config: &Value) -> Result<(), ValidationErrors> {
        let issues: Vec<ValidationIssue> = self
            .validator
            .iter_errors(config)
            .map(|e| describe(&self.config_schema, &e))
            .collect();
        self.no_issues(issues)
    }

    /// Validates `config` and splits it into the plain part (stored in the record) and the
    /// secret fields (to be sealed).
    ///
    /// # Errors
    /// [`ValidationErrors`] as for [`Self::validate`], and for secret fields that are not
    /// strings.
    pub fn split(&self, config: &Value) -> Result<ConnectionConfig, ValidationErrors> {
        self.validate(config)?;
        let mut plain = config.clone();
        let mut secrets = BTreeMap::new();
        let mut issues = Vec::new();
        for path in &self.secret_paths {
            take_secrets(&mut plain, path, String::new(), &mut secrets, &mut issues);
        }
        self.no_issues(issues)?;
        if !plain.is_object() {
            plain = Value::Object(serde_json::Map::new());
        }
        Ok(ConnectionConfig { plain, secrets })
    }
}

/// Moves the values at `path` (below `value`, which sits at `pointer`) out of the plain
/// config into `out`, keyed by their JSON pointer. A removed object property is gone from the
/// plain config; a secret array item is replaced by `null`, so the other items keep their
/// indexes. A secret that is not a string is an issue (it is still removed from the plain
/// config, which is then discarded).
fn take_secrets(
    value: &mut Value,
    path: &[Seg],
    pointer: String,
    out: &mut BTreeMap<String, SecretString>,
    issues: &mut Vec<ValidationIssue>,
) {
    let Some((seg, rest)) = path.split_first() else {
        let taken = value.take();
        match taken {
            Value::String(s) => {
                out.insert(pointer, SecretString::from(s));
            }
            // An optional secret explicitly set to null carries nothing to seal.
            Value::Null => {}
            _ => issues.push(ValidationIssue {
                pointer,
                message: "a secret field must be a string".to_string(),
            }),
        }
        return;
    };
    let last = rest.is_empty();
    match (seg, value) {
        (Seg::Key(k), Value::Object(map)) => {
            let at = format!("{pointer}/{}", escape_pointer(k));
            if last {
                if let Some(mut v) = map.remove(k) {
                    take_secrets(&mut v, rest, at, out, issues);
                }
            } else if let Some(v) = map.get_mut(k) {
                take_secrets(v, rest, at, out, issues);
            }
        }
        (Seg::OtherKeys(named), Value::Object(map)) => {
            let keys: Vec<String> = map.keys().filter(|k| !named.contains(k)).cloned().collect();
            for k in keys {
                let at = format!("{pointer}/{}", escape_pointer(&k));
                if last {
                    if let Some(mut v) = map.remove(&k) {
                        take_secrets(&mut v, rest, at, out, issues);
                    }
                } else if let Some(v) = map.get_mut(&k) {
                    take_secrets(v, rest, at, out, issues);
                }
            }
        }
        (Seg::Item, Value::Array(items)) => {
            for (i, v) in items.iter_mut().enumerate() {
                // `take_secrets` at the end of the path leaves `null` in the item's place.
                take_secrets(v, rest, format!("{pointer}/{i}"), out, issues);
            }
        }
        // The config does not have this shape here (validation allowed it): nothing to take.
        _ => {}
    }
}

/// Whether a property schema marks its value secret.
fn is_secret_schema(p: &Value) -> bool {
    p.get("format").and_then(Value::as_str) == Some("password")
        || p.get("writeOnly").and_then(Value::as_bool) == Some(true)
}

/// Collects the paths to secret values under `schema` (at `path`). Depth is bounded so a
/// pathological schema cannot recurse without end.
fn secret_paths_in(schema: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>, depth: usize) {
    if depth > 32 {
        return;
    }
    if !path.is_empty() && is_secret_schema(schema) {
        if !out.contains(path) {
            out.push(path.clone());
        }
        return;
    }
    let mut named = Vec::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            named.push(k.clone());
            path.push(Seg::Key(k.clone()));
            secret_paths_in(p, path, out, depth + 1);
            path.pop();
        }
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        path.push(Seg::OtherKeys(named));
        secret_paths_in(extra, path, out, depth + 1);
        path.pop();
    }
    if let Some(items) = schema.get("items").filter(|v| v.is_object()) {
        path.push(Seg::Item);
        secret_paths_in(items, path, out, depth + 1);
        path.pop();
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for sub in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            secret_paths_in(sub, path, out, depth + 1);
        }
    }
}

/// How [`IntegrationTemplate::secret_fields`] shows a path: a top-level name bare, a nested
/// path as a JSON pointer with `*` for wildcards.
fn describe_path(path: &[Seg]) -> String {
    match path {
        [Seg::Key(k)] => k.clone(),
        _ => path
            .iter()
            .map(|s| match s {
                Seg::Key(k) => format!("/{}", escape_pointer(k)),
                Seg::Item | Seg::OtherKeys(_) => "/*".to_string(),
            })
            .collect(),
    }
}

impl TemplateBuilder {
    /// The name for people (default: the name).
    pub fn display_name(mut self, s: impl Into<String>) -> Self {
        self.display_name = Some(s.into());
        self
    }
    /// The category.
    pub fn category(mut self, s: impl Into<String>) -> Self {
        self.category = s.into();
        self
    }
    /// The JSON Schema of the config.
    pub fn config_schema(mut self, schema: Value) -> Self {
        self.config_schema = schema;
        self
    }
    /// Setup instructions in Markdown.
    pub fn setup_instructions(mut self, s: impl Into<String>) -> Self {
        self.setup_instructions = s.into();
        self
    }
    /// The provider API version.
    pub fn api_version(mut self, s: impl Into<String>) -> Self {
        self.api_version = s.into();
        self
    }
    /// Whether the integration takes webhooks.
    pub fn webhooks(mut self, yes: bool) -> Self {
        self.webhooks = yes;
        self
    }

    /// Declares that the top-level config field `field` holds a provider endpoint URL (a base
    /// URL the pipeline will call). Such a value comes from a tenant, so it must pass the
    /// [`EndpointPolicy`]: `https`, and a host that is not loopback, private, link-local or a
    /// metadata service, unless the host application allowed it. The field must be one of the
    /// schema's `properties`.
    pub fn endpoint_url_field(mut self, field: impl Into<String>) -> Self {
        self.endpoint_fields.push(field.into());
        self
    }

    /// Compiles the schema (remote `$ref`s are never fetched) and builds the template.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `template.name` or `template.config_schema`.
    pub fn build(self) -> Result<IntegrationTemplate, ConfigError> {
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(
                "template.name",
                "must be non-empty lower-case ASCII letters, digits, '-' or '_'",
            ));
        }
        if self.config_schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(ConfigError::new(
                "template.config_schema",
                "must be a schema of `\"type\": \"object\"`",
            ));
        }
        // Built without any retriever feature: a remote `$ref` fails here instead of fetching.
        let validator = jsonschema::validator_for(&self.config_schema).map_err(|e| {
            ConfigError::new("template.config_schema", format!("does not compile: {e}"))
        })?;
        let mut secret_paths = Vec::new();
        secret_paths_in(&self.config_schema, &mut Vec::new(), &mut secret_paths, 0);
        let secret_fields = secret_paths.iter().map(|p| describe_path(p)).collect();
        let properties = self
            .config_schema
            .get("properties")
            .and_then(Value::as_object);
        for field in &self.endpoint_fields {
            if !properties.is_some_and(|p| p.contains_key(field)) {
                return Err(ConfigError::new(
                    "template.endpoint_url_field",
                    format!("`{field}` is not a property of the config schema"),
                ));
            }
        }
        Ok(IntegrationTemplate {
            display_name: self.display_name.unwrap_or_else(|| self.name.clone()),
            name: self.name,
            category: self.category,
            config_schema: self.config_schema,
            setup_instructions: self.setup_instructions,
            api_version: self.api_version,
            webhooks: self.webhooks,
            validator: Arc::new(validator),
            secret_fields,
            endpoint_fields: self.endpoint_fields,
            secret_paths,
        })
    }
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The schema keywords that hold a template's own message for a failed rule: a string (for
/// any rule of that subschema) or an object keyed by rule (`{"pattern": "must start with AC"}`).
/// `x-error-message` is this library's; `errorMessage` is the ajv-errors spelling.
const MESSAGE_KEYWORDS: [&str; 2] = ["x-error-message", "errorMessage"];

/// The template's own message for `keyword` in `subschema`, if it gives one. With `keyed_only`
/// a plain-string message does not count (it describes the value, not its presence).
fn custom_message<'s>(subschema: &'s Value, keyword: &str, keyed_only: bool) -> Option<&'s str> {
    MESSAGE_KEYWORDS
        .iter()
        .find_map(|k| match subschema.get(*k)? {
            Value::String(m) if !keyed_only => Some(m.as_str()),
            Value::Object(by_rule) => by_rule.get(keyword).and_then(Value::as_str),
            _ => None,
        })
}

/// A schema value as a form shows it: strings bare, anything else as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One issue a form can show next to its field: the pointer of the field at fault (a missing
/// required field's own pointer, not its parent's) and a sentence built from the schema: the
/// field's `title`, then the template's own message for the rule (`x-error-message` or
/// `errorMessage`) or one in words from the rule (its pattern, limits, options, format), with
/// the field's `description` as a hint for patterns. Never the value that failed, and never a
/// Rust `Debug` rendering.
fn describe(schema: &Value, e: &jsonschema::ValidationError<'_>) -> ValidationIssue {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let keyword_path = e.schema_path().to_string();
    let (parent_path, keyword) = keyword_path
        .rsplit_once('/')
        .unwrap_or(("", keyword_path.as_str()));
    let null = Value::Null;
    let parent = schema.pointer(parent_path).unwrap_or(&null);
    let instance = e.instance_path().to_string();
    let title = |sub: &Value| sub.get("title").and_then(Value::as_str).map(str::to_string);
    let name_of = |pointer: &str| {
        pointer
            .rsplit('/')
            .next()
            .map(|n| format!("`{}`", n.replace("~1", "/").replace("~0", "~")))
    };
    let sentence = |subject: Option<String>, rule: String| match subject {
        Some(s) => format!("{s} {rule}"),
        None => rule,
    };
    if let K::Required { property } = e.kind() {
        let name = property.as_str().unwrap_or_default();
        let pointer = format!("{instance}/{}", escape_pointer(name));
        let field = parent.get("properties").and_then(|p| p.get(name));
        let subject = field.and_then(title).or_else(|| name_of(&pointer));
        let rule = field
            .and_then(|f| custom_message(f, "required", true))
            .or_else(|| custom_message(parent, "required", true))
            .map_or_else(|| "is required".to_string(), str::to_string);
        return ValidationIssue {
            pointer,
            message: sentence(subject, rule),
        };
    }
    let rule = match custom_message(parent, keyword, false) {
        Some(m) => m.to_string(),
        None => match e.kind() {
            K::Type { kind } => match kind {
                TypeKind::Single(t) => format!("must be a {t}"),
                TypeKind::Multiple(set) => format!(
                    "must be one of: {}",
                    set.iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            K::Pattern { pattern } => match parent.get("description").and_then(Value::as_str) {
                Some(d) => format!("must match the pattern `{pattern}` ({d})"),
                None => format!("must match the pattern `{pattern}`"),
            },
            K::MinLength { limit: 1 } => "must not be empty".to_string(),
            K::MinLength { limit } => format!("must be at least {limit} characters long"),
            K::MaxLength { limit } => format!("must be at most {limit} characters long"),
            K::Minimum { limit } => format!("must be at least {limit}"),
            K::Maximum { limit } => format!("must be at most {limit}"),
            K::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
            K::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
            K::MultipleOf { .. } => "must be a multiple of the allowed step".to_string(),
            K::Enum { options } => match options.as_array() {
                Some(o) => format!(
                    "must be one of: {}",
                    o.iter().map(shown).collect::<Vec<_>>().join(", ")
                ),
                None => "must be one of the allowed values".to_string(),
            },
            K::Constant { expected_value } => format!("must be {}", shown(expected_value)),
            K::Format { format } => match format.as_str() {
                "uri" | "url" => "must be a valid URL".to_string(),
                "email" => "must be a valid email address".to_string(),
                "date-time" => "must be a valid date and time".to_string(),
                other => format!("must be a valid {other}"),
            },
            K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
                format!(
                    "has fields this form does not know: {}",
                    unexpected.join(", ")
                )
            }
            K::MinItems { limit } => format!("must have at least {limit} items"),
            K::MaxItems { limit } => format!("must have at most {limit} items"),
            K::MinProperties { limit } => format!("must have at least {limit} fields"),
            K::MaxProperties { limit } => format!("must have at most {limit} fields"),
            K::UniqueItems => "must not repeat an item".to_string(),
            K::OneOfNotValid { .. } => {
                "must match exactly one of the allowed combinations of fields".to_string()
            }
            K::OneOfMultipleValid { .. } => {
                "matches more than one of the allowed combinations of fields; give only one"
                    .to_string()
            }
            K::AnyOf { .. } => {
                "must match at least one of the allowed combinations of fields".to_string()
            }
            K::Not { .. } => "holds a combination of fields that is not allowed".to_string(),
            K::FalseSchema => "is not allowed".to_string(),
            other => format!("does not satisfy the `{}` rule", other.keyword()),
        },
    };
    // A field's issue names the field; an issue of the whole config stands alone.
    let subject = if instance.is_empty() {
        None
    } else {
        title(parent).or_else(|| name_of(&instance))
    };
    ValidationIssue {
        pointer: instance,
        message: sentence(subject, rule),
    }
}

/// A validated config: the plain fields and the secret ones.
///
/// Secrets are keyed by JSON pointer (`/apiKey`, `/oauth/client_secret`, `/tokens/0`);
/// [`Self::secret`] also takes a top-level field by its bare name.
#[derive(Clone, Default)]
pub struct ConnectionConfig {
    plain: Value,
    secrets: BTreeMap<String, SecretString>,
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("plain", &self.plain)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A secret's key as stored: a JSON pointer as is, a bare name as the pointer to that
/// top-level field.
fn secret_key(field: &str) -> std::borrow::Cow<'_, str> {
    if field.starts_with('/') {
        std::borrow::Cow::Borrowed(field)
    } else {
        std::borrow::Cow::Owned(format!("/{}", escape_pointer(field)))
    }
}

impl ConnectionConfig {
    /// A config from its parts. `secrets` are keyed by top-level field name or by JSON pointer
    /// (a key starting with `/`; a top-level name that itself starts with `/` must be given
    /// as a pointer, `/~1name`).
    pub fn new(plain: Value, secrets: BTreeMap<String, SecretString>) -> Self {
        let secrets = secrets
            .into_iter()
            .map(|(k, v)| (secret_key(&k).into_owned(), v))
            .collect();
        ConnectionConfig { plain, secrets }
    }

    /// The plain (non-secret) fields.
    pub fn plain(&self) -> &Value {
        &self.plain
    }

    /// A plain string field.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.plain.get(field).and_then(Value::as_str)
    }

    /// A secret field: a top-level one by name (`"apiKey"`), any one by JSON pointer
    /// (`"/oauth/client_secret"`, `"/tokens/0"`).
    pub fn secret(&self, field: &str) -> Option<&SecretString> {
        self.secrets.get(secret_key(field).as_ref())
    }

    /// A secret field that must be present (a name or a JSON pointer, as for
    /// [`Self::secret`]).
    ///
    /// # Errors
    /// [`ErrorKind::Auth`](crate::ErrorKind::Auth) naming the missing field.
    pub fn require_secret(&self, field: &str) -> Result<&SecretString, Error> {
        self.secret(field)
            .ok_or_else(|| Error::auth(format!("secret config field `{field}` is missing")))
    }

    /// The JSON pointers of the secret fields present (never their values).
    pub fn secret_pointers(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    /// The secret fields as a flat JSON object, for sealing: a top-level secret under its
    /// bare name (the format records sealed before nested secrets existed use, so either
    /// build reads the other's top-level secrets), a nested one under its JSON pointer.
    pub(crate) fn secrets_json(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let map: serde_json::Map<String, Value> = self
            .secrets
            .iter()
            .map(|(k, v)| {
                let name = match k.strip_prefix('/') {
                    Some(top) if !top.contains('/') && !top.contains('~') => top.to_string(),
                    _ => k.clone(),
                };
                (name, Value::String(v.expose_secret().to_string()))
            })
            .collect();
        zeroize::Zeroizing::new(serde_json::to_vec(&map).unwrap_or_default())
    }

    /// The secret fields from a sealed JSON object (keys as [`Self::secrets_json`] writes
    /// them), keyed by JSON pointer.
    pub(crate) fn secrets_from_json(bytes: &[u8]) -> Result<BTreeMap<String, SecretString>, Error> {
        let map: serde_json::Map<String, Value> = serde_json::from_slice(bytes)
            .map_err(|_| Error::vault("sealed config is not a JSON object"))?;
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((secret_key(&k).into_owned(), SecretString::from(s))),
                _ => None,
            })
            .collect())
    }

    /// Every secret value, for scrubbing error messages.
    pub(crate) fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.secrets.values().map(|s| s.expose_secret())
    }
}

/// What an integration needs to make calls for a connection.
#[derive(Clone)]
#[non_exhaustive]
pub struct IntegrationBinding {
    /// The connector.
    pub connector: Arc<dyn Connector>,
    /// The provider base URL.
    pub base_url: String,
    /// How requests get credentials.
    pub auth: Option<Arc<dyn Authenticator>>,
    /// How the connection gets OAuth access tokens, when it uses them instead of a fixed
    /// `auth` ([`IntegrationBinding::with_token_grant`]).
    pub token_grant: Option<Arc<dyn crate::tokens::TokenGrant>>,
    /// The connector's per-connection settings, read back by its typed client with
    /// [`Connection::settings`](crate::Connection::settings).
    pub settings: Option<crate::client::ConnectionSettings>,
    /// What to tell the user when a call's failure moves the connection to `error`
    /// ([`IntegrationBinding::with_error_hint`]).
    pub error_hint: Option<ErrorHint>,
}

/// Turns a failure that moves a connection to `error` into advice for the user, appended to
/// the recorded message (DocuSign: "grant consent: open …" with the consent URL). `None`
/// adds nothing. Must not return secrets.
pub type ErrorHint = Arc<dyn Fn(&Error) -> Option<String> + Send + Sync>;

impl fmt::Debug for IntegrationBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationBinding")
            .field("connector", &self.connector)
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("token_grant", &self.token_grant)
            .field("settings", &self.settings.is_some())
            .field("error_hint", &self.error_hint.is_some())
            .finish()
    }
}

impl IntegrationBinding {
    /// A binding. The connector is taken by value (or as an `Arc`; see
    /// [`IntoConnector`](crate::connector::IntoConnector)).
    pub fn new(
        connector: impl crate::connector::IntoConnector,
        base_url: impl Into<String>,
        auth: Option<Arc<dyn Authenticator>>,
    ) -> Self {
        IntegrationBinding {
            connector: connector.into_connector(),
            base_url: base_url.into(),
            auth,
            token_grant: None,
            settings: None,
            error_hint: None,
        }
    }

    /// With advice for the user when a call's failure (an auth rejection, a 401 or 403) moves
    /// the connection to `error`: `hint`'s answer is appended to the recorded message.
    #[must_use]
    pub fn with_error_hint(mut self, hint: ErrorHint) -> Self {
        self.error_hint = Some(hint);
        self
    }

    /// Authenticates with OAuth access tokens obtained by `grant` (a JWT bearer grant, feature
    /// `jwt`, or an `OAuthClient`, feature `oauth`, refreshing the token stored after a code
    /// exchange) instead of a fixed `auth`. [`Connections`](crate::connections::Connections)
    /// registers the grant with its [`TokenManager`](crate::tokens::TokenManager) under the
    /// connection's tenant and id ([`Connections::with_tokens`](crate::connections::Connections::with_tokens)),
    /// so each connection's token is cached, sealed and renewed on its own, once across
    /// replicas, and requests carry `Authorization: Bearer …`.
    #[must_use]
    pub fn with_token_grant(mut self, grant: Arc<dyn crate::tokens::TokenGrant>) -> Self {
        self.token_grant = Some(grant);
        self.auth = None;
        self
    }

    /// With per-connection settings for the connector's typed client (never secrets: those
    /// belong in `auth`).
    #[must_use]
    pub fn with_settings<S: std::any::Any + Send + Sync>(mut self, settings: S) -> Self {
        self.settings = Some(Arc::new(settings));
        self
    }
}

/// Where a payload-routed provider names the connection an inbound webhook is for (Stripe
/// Connect's `account`, GoHighLevel's `locationId`), for [`Integration::webhook_routing`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookRouting {
    /// The plain (non-secret) config field holding the connection's routing key
    /// (`"account_id"`). Its value is stored as
    /// [`ConnectionRecord::webhook_routing_key`](crate::connections::ConnectionRecord::webhook_routing_key),
    /// unique per template across every tenant.
    pub config_field: String,
    /// The top-level string field of the JSON body holding the same value (`"account"`). The
    /// router reads only this field from the unverified body.
    pub body_field: String,
}

impl WebhookRouting {
    /// Routing by `config_field` in the config and `body_field` in the body.
    pub fn new(config_field: impl Into<String>, body_field: impl Into<String>) -> Self {
        WebhookRouting {
            config_field: config_field.into(),
            body_field: body_field.into(),
        }
    }
}

/// A template plus the code that turns a validated config into a binding, and checks that a
/// bound connection works. Our connectors and a host's own implement it.
///
/// `check` and the two activation hooks ([`Self::activate`], [`Self::deactivate`]) are async:
/// an integration writes its `impl` with `#[async_trait::async_trait]`.
#[async_trait]
pub trait Integration: Send + Sync + fmt::Debug {
    /// The template.
    fn template(&self) -> &IntegrationTemplate;

    /// Binds a validated config.
    ///
    /// # Errors
    /// When the config cannot make a working binding (an [`ErrorKind::Config`](crate::ErrorKind::Config) or
    /// [`ErrorKind::Auth`](crate::ErrorKind::Auth) error).
    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error>;

    /// Makes a cheap authenticated call through `connection` (bound by [`Self::bind`]) to prove
    /// it works. [`Connections::test_connection`](crate::connections::Connections::test_connection)
    /// and the health monitor call it.
    ///
    /// # Errors
    /// Whatever the call returned: an auth failure, a transport failure, a status.
    async fn check(&self, connection: &Connection) -> Result<(), Error>;

    /// The verifier for inbound webhooks of one connection, built from that connection's own
    /// config and secrets. The webhook router calls it (through
    /// [`Connections::webhook_verifier`](crate::connections::Connections::webhook_verifier),
    /// which caches the result) so that a webhook is only ever checked with the secrets of the
    /// connection its URL or routing key names.
    ///
    /// The default refuses: the integration takes no webhooks.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the integration takes no webhooks or the config lacks its
    /// webhook secret (the router then answers 401: it fails closed).
    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let _ = config;
        Err(ConfigError::new(
            "integration.webhook_verifier",
            format!(
                "integration `{}` does not verify webhooks",
                self.template().name()
            ),
        )
        .into())
    }

    /// For providers that post every connection's events to one URL and name the connection in
    /// the body: which config field and which body field hold the routing key. `None` (the
    /// default): each connection has its own webhook URL.
    fn webhook_routing(&self) -> Option<WebhookRouting> {
        None
    }

    /// Registers the connection with the provider after a successful check (its webhook, most
    /// often: Stripe's webhook endpoint, GoHighLevel's webhook id) and returns what to keep in
    /// the connection's config: the provider's ids as plain fields, a signing secret the
    /// provider returned as a sealed one. The default does nothing.
    ///
    /// [`Connections`](crate::connections::Connections) calls it after every successful
    /// [`test_connection`](crate::connections::Connections::test_connection) of a connection
    /// that is not `disconnected` (the health monitor's checks included), and from
    /// [`enable`](crate::connections::Connections::enable). It must therefore be idempotent:
    /// when the config already holds what an earlier activation stored, return no changes.
    /// The changes are written through the sealed merge-patch path of
    /// [`update_config`](crate::connections::Connections::update_config), in one
    /// compare-and-swap write, and only if the config did not change since the hook read it.
    ///
    /// When this fails, the connection does not become `active` (a check then records the
    /// error). When it succeeded but its changes cannot be written (an invalid field, a lost
    /// race, a store failure), [`Self::deactivate`] is called with the config the changes
    /// describe, so what the provider created is removed again; only a crash between the
    /// provider's answer and that write can leave it behind.
    ///
    /// # Errors
    /// The provider's error (its kind and status are kept).
    async fn activate(&self, context: &ActivationContext<'_>) -> Result<ConfigChanges, Error> {
        let _ = context;
        Ok(ConfigChanges::new())
    }

    /// Removes what [`Self::activate`] registered, reading the provider's ids from the stored
    /// config, and returns the fields to clear. The default does nothing.
    ///
    /// Called by [`disconnect`](crate::connections::Connections::disconnect) (after the
    /// connection is `disconnected`, so its calls stop first), by
    /// [`delete`](crate::connections::Connections::delete) (before the record and secrets go)
    /// and to undo an activation whose changes could not be written. A failure never blocks
    /// the disconnect or the delete; it is reported (see those methods). Something already
    /// gone at the provider is a success.
    ///
    /// # Errors
    /// The provider's error.
    async fn deactivate(&self, context: &ActivationContext<'_>) -> Result<ConfigChanges, Error> {
        let _ = context;
        Ok(ConfigChanges::new())
    }
}

/// The integrations a host offers, by template name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_name: HashMap<String, Arc<dyn Integration>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an integration.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `registry` when the name is taken.
    pub fn register(&mut self, integration: Arc<dyn Integration>) -> Result<(), ConfigError> {
        let name = integration.template().name().to_string();
        if self.by_name.contains_key(&name) {
            return Err(ConfigError::new(
                "registry",
                format!("template `{name}` is already registered"),
            ));
        }
        self.by_name.insert(name, integration);
        Ok(())
    }

    /// The integration for a template name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Integration>> {
        self.by_name.get(name)
    }

    /// Every template, sorted by name (for a host's "add integration" page).
    pub fn templates(&self) -> Vec<&IntegrationTemplate> {
        let mut t: Vec<_> = self.by_name.values().map(|i| i.template()).collect();
        t.sort_by(|a, b| a.name().cmp(b.name()));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The seed platform's GoHighLevel template, the model for ours.
    fn ghl() -> IntegrationTemplate {
        IntegrationTemplate::builder("ghl")
            .display_name("GoHighLevel")
            .category("crm")
            .config_schema(json!({
                "type": "object",
                "required": ["apiKey", "locationId"],
                "properties": {
                    "apiKey": {"type": "string", "title": "API Key", "format": "password"},
                    "locationId": {"type": "string", "title": "Location ID", "minLength": 3}
                },
                "additionalProperties": false
            }))
            .build()
            .unwrap()
    }

    #[test]
    fn reports_every_error_with_its_pointer_and_no_value() {
        let t = ghl();
        let err = t
            .validate(&json!({"apiKey": 12345, "locationId": "ab", "extra": "CANARY-extra"}))
            .unwrap_err();
        let pointers: Vec<&str> = err.issues.iter().map(|i| i.pointer.as_str()).collect();
        assert!(pointers.contains(&"/apiKey"), "{err}");
        assert!(pointers.contains(&"/locationId"), "{err}");
        assert_eq!(err.issues.len(), 3, "{err}");
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains("12345") && !text.contains("CANARY"),
            "{text}"
        );
        let err = t.validate(&json!({})).unwrap_err();
        assert_eq!(err.issues.len(), 2, "both required fields: {err}");
    }

    #[test]
    fn splits_secret_fields_from_plain_ones() {
        let t = ghl();
        assert_eq!(t.secret_fields(), ["apiKey"]);
        let c = t
            .split(&json!({"apiKey": "CANARY-key", "locationId": "loc_1"}))
            .unwrap();
        assert_eq!(c.plain(), &json!({"locationId": "loc_1"}));
        assert_eq!(c.secret("apiKey").unwrap().expose_secret(), "CANARY-key");
        assert!(!format!("{c:?}").contains("CANARY"));
    }

    #[test]
    fn sealed_secrets_keep_top_level_names_and_read_records_sealed_before_nesting() {
        // A record sealed by a build without nested secrets: bare top-level names.
        let old = br#"{"apiKey":"k1","other":"k2"}"#;
        let c = ConnectionConfig::new(json!({}), ConnectionConfig::secrets_from_json(old).unwrap());
        assert_eq!(c.secret("apiKey").unwrap().expose_secret(), "k1");
        assert_eq!(c.secret("/other").unwrap().expose_secret(), "k2");
        // Written back, top-level secrets keep their bare names; nested ones are pointers,
        // and a name a pointer could confuse is written as a pointer.
        let mut m = BTreeMap::new();
        m.insert("apiKey".to_string(), SecretString::from("k1"));
        m.insert("/a/b".to_string(), SecretString::from("k3"));
        m.insert("/~1odd".to_string(), SecretString::from("k4"));
        let c = ConnectionConfig::new(json!({}), m);
        let v: Value = serde_json::from_slice(&c.secrets_json()).unwrap();
        assert_eq!(v, json!({"apiKey": "k1", "/a/b": "k3", "/~1odd": "k4"}));
        let back = ConnectionConfig::new(
            json!({}),
            ConnectionConfig::secrets_from_json(&c.secrets_json()).unwrap(),
        );
        assert_eq!(back.secret("/a/b").unwrap().expose_secret(), "k3");
        assert_eq!(back.secret("/~1odd").unwrap().expose_secret(), "k4");
    }

    #[test]
    fn additional_properties_and_combinator_secrets_are_found() {
        let t = IntegrationTemplate::builder("x")
            .config_schema(json!({
                "type": "object",
                "properties": {"plain": {"type": "string"}},
                "additionalProperties": {"type": "string", "writeOnly": true},
                "oneOf": [{"properties": {"tok": {"type": "string", "format": "password"}}}]
            }))
            .build()
            .unwrap();
        let c = t
            .split(&json!({"plain": "p", "tok": "CANARY-t", "extra": "CANARY-e"}))
            .unwrap();
        assert_eq!(c.plain(), &json!({"plain": "p"}));
        assert_eq!(c.secret("tok").unwrap().expose_secret(), "CANARY-t");
        assert_eq!(c.secret("extra").unwrap().expose_secret(), "CANARY-e");
    }

    #[test]
    fn bad_templates_are_refused_at_build() {
        let e = IntegrationTemplate::builder("Bad Name")
            .build()
            .unwrap_err();
        assert_eq!(e.setting, "template.name");
        let e = IntegrationTemplate::builder("x")
            .config_schema(json!({"type": "string"}))
            .build()
            .unwrap_err();
        assert_eq!(e.setting, "template.config_schema");
        let e = IntegrationTemplate::builder("x")
            .config_schema(json!({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}))
            .build()
            .unwrap_err();
        assert_eq!(
            e.setting, "template.config_schema",
            "remote refs are never fetched"
        );
    }
}

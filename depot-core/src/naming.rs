//! Key naming across languages. Every JSON shape the shared Rust layer hands to the packages
//! (build events, registry progress, error reports) has snake_case keys, which the Python
//! package keeps; the Node package renames them with [`camel_case_keys`], so both languages carry
//! the same fields, each in its own naming. Values (an event's `type`, a code) are never renamed.

use serde_json::{Map, Value};

/// `value` with every object key, at any depth, turned from snake_case into camelCase
/// (`duration_ms` → `durationMs`).
///
/// ```
/// use depot_core::naming::camel_case_keys;
/// let event = serde_json::json!({"type": "vertex_started", "started_ms": 1, "a_b": [{"c_d": 2}]});
/// assert_eq!(
///     camel_case_keys(event),
///     serde_json::json!({"type": "vertex_started", "startedMs": 1, "aB": [{"cD": 2}]})
/// );
/// ```
pub fn camel_case_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (camel_case(&key), camel_case_keys(value)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case_keys).collect()),
        other => other,
    }
}

/// `snake_case` → `snakeCase`.
fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

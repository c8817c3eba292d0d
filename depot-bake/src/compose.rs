//! Compose files as buildx bake reads them: each service with a `build` section is a target
//! (its name with `.` turned into `_`), all of them in the `default` group. `${VAR}` (with
//! `:-`, `-`, `:+`, `+`, `:?`, `?` forms, and `$$` for `$`) is replaced from the environment
//! then the `.env` file of the working directory ([`crate::dot_env`]), as buildx does; `args` given without a value
//! come from the service's `environment`, then the environment; the service's `image` is the
//! tag when `build` names none; `x-bake` adds bake fields compose lacks.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::files::BakeFile;
use crate::model::Declared;
use crate::{Error, Location};

/// The compose files' targets, and the `default` group naming them.
pub(crate) fn targets(
    files: &[&BakeFile],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Declared)>, Error> {
    let mut targets: Vec<(String, Declared)> = Vec::new();
    for file in files {
        let invalid = |message: String| Error::Invalid {
            at: Location::file(&file.name),
            message,
        };
        let document: Value = serde_yaml_ng::from_str(&file.data).map_err(|err| {
            let location = err.location();
            Error::Parse {
                file: file.name.clone(),
                line: location.as_ref().map_or(0, |l| l.line()),
                column: location.as_ref().map_or(0, |l| l.column()),
                message: err.to_string(),
            }
        })?;
        let document = interpolate(document, env).map_err(invalid)?;
        let Some(services) = document.get("services").and_then(Value::as_object) else {
            continue;
        };
        let secrets = document.get("secrets").and_then(Value::as_object);
        for (service, config) in services {
            let Some(build) = config.get("build") else {
                continue;
            };
            let name = service.replace('.', "_");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(invalid(format!(
                    "invalid service name {name:?}: only \"[a-zA-Z0-9_-]+\" are allowed"
                )));
            }
            let target = service_target(config, build, secrets, env)
                .map_err(|message| invalid(format!("service {service:?}: {message}")))?;
            match targets.iter_mut().find(|(known, _)| *known == name) {
                Some((_, known)) => known.merge(&target),
                None => targets.push((name, target)),
            }
        }
    }
    Ok(targets)
}

fn service_target(
    service: &Value,
    build: &Value,
    secrets: Option<&serde_json::Map<String, Value>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Declared, String> {
    let mut target = Declared::default();
    let build = match build {
        Value::String(context) => {
            target.context = Some(clean_path(context));
            return finish(target, service);
        }
        Value::Object(build) => build,
        _ => return Err("build must be a path or a mapping".into()),
    };
    let text = |key: &str| build.get(key).and_then(scalar).filter(|s| !s.is_empty());
    target.context = text("context").map(|context| clean_path(&context));
    target.dockerfile = text("dockerfile");
    target.dockerfile_inline = text("dockerfile_inline");
    target.target = text("target");
    target.tags = list(build.get("tags"));
    target.cache_from = list(build.get("cache_from"));
    target.cache_to = list(build.get("cache_to"));
    target.contexts = build.get("additional_contexts").map(|contexts| {
        mapping(contexts)
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    });
    target.labels = Some(
        mapping(build.get("labels").unwrap_or(&Value::Null))
            .into_iter()
            .map(|(k, v)| (k, Some(v.unwrap_or_default())))
            .collect(),
    );
    if let Some(args) = build.get("args") {
        let environment = mapping(service.get("environment").unwrap_or(&Value::Null));
        let args: BTreeMap<String, Option<String>> = mapping(args)
            .into_iter()
            .filter_map(|(k, v)| {
                let v = v
                    .or_else(|| environment.get(&k).cloned().flatten())
                    .or_else(|| env(&k))?;
                Some((k, Some(v)))
            })
            .collect();
        if !args.is_empty() {
            target.args = Some(args);
        }
    }
    if let Some(Value::Array(used)) = build.get("secrets") {
        let mut specs = Vec::new();
        for secret in used {
            let source = match secret {
                Value::String(source) => source.clone(),
                Value::Object(long) => long
                    .get("source")
                    .and_then(scalar)
                    .ok_or("a secret needs its source")?,
                _ => return Err("secrets are names or mappings".into()),
            };
            let defined = secrets.and_then(|s| s.get(&source));
            if defined
                .and_then(|d| d.get("external"))
                .is_some_and(|e| e == &Value::Bool(true))
            {
                return Err(format!("unsupported external secret {source}"));
            }
            let mut attrs = vec![format!("id={source}")];
            if let Some(file) = defined.and_then(|d| d.get("file")).and_then(scalar) {
                attrs.push(format!("src={file}"));
            }
            if let Some(var) = defined.and_then(|d| d.get("environment")).and_then(scalar) {
                attrs.push(format!("env={var}"));
            }
            specs.push(attrs.join(","));
        }
        target.secrets = Some(specs);
    }
    if let Some(extension) = build.get("x-bake") {
        x_bake(&mut target, extension)?;
    }
    finish(target, service)
}

/// The image name as the tag when the build names none.
fn finish(mut target: Declared, service: &Value) -> Result<Declared, String> {
    if target.tags.as_ref().is_none_or(Vec::is_empty)
        && let Some(image) = service
            .get("image")
            .and_then(scalar)
            .filter(|i| !i.is_empty())
    {
        target.tags = Some(vec![image]);
    }
    Ok(target)
}

/// `x-bake`: bake fields compose has no key for (lists add to compose's).
fn x_bake(target: &mut Declared, extension: &Value) -> Result<(), String> {
    let Value::Object(fields) = extension else {
        return Err("x-bake must be a mapping".into());
    };
    let add = |into: &mut Option<Vec<String>>, key: &str| {
        let more = list(fields.get(key)).unwrap_or_default();
        if !more.is_empty() {
            let mut all = into.take().unwrap_or_default();
            for item in more {
                if !all.contains(&item) {
                    all.push(item);
                }
            }
            *into = Some(all);
        }
    };
    add(&mut target.tags, "tags");
    add(&mut target.cache_from, "cache-from");
    add(&mut target.cache_to, "cache-to");
    add(&mut target.secrets, "secret");
    add(&mut target.ssh, "ssh");
    add(&mut target.platforms, "platforms");
    add(&mut target.outputs, "output");
    add(&mut target.no_cache_filter, "no-cache-filter");
    let boolean = |key: &str| fields.get(key).and_then(Value::as_bool);
    if let Some(pull) = boolean("pull") {
        target.pull = Some(pull);
    }
    if let Some(no_cache) = boolean("no-cache") {
        target.no_cache = Some(no_cache);
    }
    if let Some(contexts) = fields.get("contexts") {
        let into = target.contexts.get_or_insert_with(BTreeMap::new);
        for (k, v) in mapping(contexts) {
            into.entry(k).or_insert_with(|| v.unwrap_or_default());
        }
    }
    Ok(())
}

/// A path cleaned as Go's `filepath.Clean` does (as compose does to build contexts): `.`
/// and empty parts dropped, `..` applied where it can be, no trailing `/`.
fn clean_path(path: &str) -> String {
    if path.contains("://") || path.contains('@') {
        // URLs and git references are left as they are.
        return path.to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// A scalar as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string or a list of strings, as a list.
fn list(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => Some(items.iter().filter_map(scalar).collect()),
        _ => None,
    }
}

/// A mapping (`KEY: value`) or a list (`KEY=value`, or `KEY` without a value).
fn mapping(value: &Value) -> BTreeMap<String, Option<String>> {
    match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(scalar)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (item, None),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Every string of `value` with `${…}` replaced from `env`.
fn interpolate(value: Value, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(substitute(&s, env)?),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| interpolate(item, env))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, interpolate(v, env)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other,
    })
}

/// Compose's variable substitution in one string.
pub(crate) fn substitute(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("invalid interpolation format for {text:?}"))?;
            out.push_str(&expand(&braced[..end], env)?);
            rest = &braced[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&env(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// One `${…}` expression.
fn expand(expr: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let name_len = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_len);
    let value = env(name);
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    Ok(match op {
        "" => value.unwrap_or_default(),
        _ if op.starts_with(":-") => {
            if set_nonempty {
                value.unwrap_or_default()
            } else {
                op[2..].to_owned()
            }
        }
        _ if op.starts_with('-') => value.unwrap_or_else(|| op[1..].to_owned()),
        _ if op.starts_with(":+") => {
            if set_nonempty {
                op[2..].to_owned()
            } else {
                String::new()
            }
        }
        _ if op.starts_with('+') => {
            if value.is_some() {
                op[1..].to_owned()
            } else {
                String::new()
            }
        }
        _ if op.starts_with(":?") => {
            if set_nonempty {
                value.unwrap_or_default()
            } else {
                return Err(format!(
                    "required variable {name} is missing a value: {}",
                    &op[2..]
                ));
            }
        }
        _ if op.starts_with('?') => match value {
            Some(value) => value,
            None => {
                return Err(format!(
                    "required variable {name} is missing a value: {}",
                    &op[1..]
                ));
            }
        },
        _ => return Err(format!("invalid interpolation format for ${{{expr}}}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_like_compose() {
        let env = |name: &str| match name {
            "SET" => Some("v".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let cases = [
            ("${SET}", "v"),
            ("$SET-x", "v-x"),
            ("$$SET", "$SET"),
            ("${UNSET:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${UNSET-d}", "d"),
            ("${SET:+alt}", "alt"),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("a ${SET} b", "a v b"),
        ];
        for (text, expected) in cases {
            assert_eq!(substitute(text, &env).unwrap(), expected, "{text}");
        }
        assert!(
            substitute("${UNSET:?needed}", &env)
                .unwrap_err()
                .contains("needed")
        );
    }

    #[test]
    fn contexts_are_cleaned_like_go_paths() {
        for (path, clean) in [
            ("./web", "web"),
            ("web/", "web"),
            ("../shared/./x/..", "../shared"),
            (".", "."),
            ("./", "."),
            ("/abs//dir/", "/abs/dir"),
            ("https://github.com/x/y.git", "https://github.com/x/y.git"),
        ] {
            assert_eq!(clean_path(path), clean, "{path}");
        }
    }
}

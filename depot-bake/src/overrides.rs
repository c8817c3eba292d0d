//! `--set target.key=value` overrides, as buildx applies them: `target` may be a pattern
//! (`*`, `?`, `[…]`) matching target names; list keys (`tags`, `platform`, `output`,
//! `cache-from`, `cache-to`, `secrets`, `ssh`, `attest`, …) collect every value given and
//! replace the list (`annotations` and `attest` add to it); `args.NAME` without a value takes
//! `NAME` from the environment.

use std::collections::BTreeMap;

use crate::Error;
use crate::model::Declared;

/// The overrides of each target, by key.
#[derive(Debug, Default)]
pub(crate) struct Overrides {
    by_target: BTreeMap<String, BTreeMap<String, Override>>,
}

#[derive(Debug, Default, Clone)]
struct Override {
    value: String,
    values: Vec<String>,
}

const LIST_KEYS: [&str; 8] = [
    "output",
    "cache-to",
    "cache-from",
    "tags",
    "platform",
    "secrets",
    "ssh",
    "attest",
];

impl Overrides {
    /// Parses `--set` values against the known `targets`.
    pub fn parse(
        sets: &[String],
        targets: &[&str],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Overrides, Error> {
        let mut overrides = Overrides::default();
        for set in sets {
            let (key, value) = match set.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (set.as_str(), None),
            };
            let keys: Vec<&str> = key.splitn(3, '.').collect();
            if keys.len() < 2 {
                return Err(Error::Definition(format!(
                    "invalid override key {key}, expected target.name"
                )));
            }
            if value.is_none() && keys[1] != "args" {
                return Err(Error::Definition(format!(
                    "invalid override {set}, expected target.name=value"
                )));
            }
            let field = key.split_once('.').map_or("", |(_, field)| field);
            if matches!(keys[1], "args" | "contexts" | "labels") && keys.len() != 3 {
                return Err(Error::Definition(format!(
                    "invalid key {key}, {} requires name",
                    keys[1]
                )));
            }
            let value = match value {
                Some(value) => value.to_owned(),
                None => match env(keys[2]) {
                    Some(value) => value,
                    None => continue,
                },
            };
            for target in matching(keys[0], targets)? {
                let entry = overrides
                    .by_target
                    .entry(target)
                    .or_default()
                    .entry(field.to_owned())
                    .or_default();
                if LIST_KEYS.contains(&keys[1]) || keys[1] == "annotations" {
                    entry.values.push(value.clone());
                }
                entry.value = value.clone();
            }
        }
        Ok(overrides)
    }

    /// Applies `name`'s overrides to `target`.
    pub fn apply(&self, name: &str, target: &mut Declared) -> Result<(), Error> {
        let Some(overrides) = self.by_target.get(name) else {
            return Ok(());
        };
        for (key, o) in overrides {
            let (head, rest) = match key.split_once('.') {
                Some((head, rest)) => (head, Some(rest)),
                None => (key.as_str(), None),
            };
            let value = Some(o.value.clone());
            let values = Some(o.values.clone());
            let boolean = |value: &str| {
                parse_bool(value).ok_or_else(|| {
                    Error::Definition(format!("invalid value {value} for boolean key {head}"))
                })
            };
            match (head, rest) {
                ("context", _) => target.context = value,
                ("dockerfile", _) => target.dockerfile = value,
                ("args", Some(arg)) => {
                    target
                        .args
                        .get_or_insert_with(BTreeMap::new)
                        .insert(arg.into(), value);
                }
                ("labels", Some(label)) => {
                    target
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(label.into(), value);
                }
                ("contexts", Some(context)) => {
                    target
                        .contexts
                        .get_or_insert_with(BTreeMap::new)
                        .insert(context.into(), o.value.clone());
                }
                ("tags", _) => target.tags = values,
                ("cache-from", _) => target.cache_from = values,
                ("cache-to", _) => target.cache_to = values,
                ("target", _) => target.target = value,
                ("secrets", _) => target.secrets = values,
                ("ssh", _) => target.ssh = values,
                ("platform", _) => target.platforms = values,
                ("output", _) => target.outputs = values,
                ("annotations", _) => target
                    .annotations
                    .get_or_insert_with(Vec::new)
                    .extend(o.values.iter().cloned()),
                ("attest", _) => target
                    .attest
                    .get_or_insert_with(Vec::new)
                    .extend(o.values.iter().cloned()),
                ("no-cache", _) => target.no_cache = Some(boolean(&o.value)?),
                ("pull", _) => target.pull = Some(boolean(&o.value)?),
                ("no-cache-filter", _) => target.no_cache_filter = values,
                ("shm-size", _) => target.shm_size = value,
                ("ulimits", _) => target.ulimits = values,
                ("push", _) => {
                    boolean(&o.value)?;
                    let outputs = target.outputs.get_or_insert_with(Vec::new);
                    if outputs.is_empty() {
                        outputs.push("type=image,push=true".into());
                    } else {
                        for output in outputs.iter_mut() {
                            let kind = output
                                .split(',')
                                .find_map(|f| f.strip_prefix("type="))
                                .unwrap_or_default();
                            if kind == "image" || kind == "registry" {
                                output.push_str(&format!(",push={}", o.value));
                            }
                        }
                    }
                }
                (other, _) => {
                    return Err(Error::Definition(format!("unknown key: {other}")));
                }
            }
        }
        Ok(())
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The targets `pattern` names: itself if a target has that name, else those it matches.
fn matching(pattern: &str, targets: &[&str]) -> Result<Vec<String>, Error> {
    if targets.contains(&pattern) {
        return Ok(vec![pattern.to_owned()]);
    }
    let names: Vec<String> = targets
        .iter()
        .filter(|name| glob(pattern.as_bytes(), name.as_bytes()))
        .map(|name| (*name).to_owned())
        .collect();
    if names.is_empty() {
        return Err(Error::Definition(format!(
            "could not find any target matching '{pattern}'"
        )));
    }
    Ok(names)
}

/// Shell-style matching of a whole name: `*`, `?` and `[…]` classes.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|skip| glob(&pattern[1..], &name[skip..])),
        Some(b'?') => !name.is_empty() && glob(&pattern[1..], &name[1..]),
        Some(b'[') => {
            let Some(end) = pattern.iter().position(|&b| b == b']') else {
                return false;
            };
            let (class, negate) = match pattern.get(1) {
                Some(b'^' | b'!') => (&pattern[2..end], true),
                _ => (&pattern[1..end], false),
            };
            let Some(&c) = name.first() else {
                return false;
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob(&pattern[end + 1..], &name[1..])
        }
        Some(&b) => name.first() == Some(&b) && glob(&pattern[1..], &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names() {
        assert!(glob(b"*", b"web"));
        assert!(glob(b"w?b", b"web"));
        assert!(glob(b"[a-w]eb", b"web"));
        assert!(!glob(b"[!w]eb", b"web"));
        assert!(!glob(b"we", b"web"));
        assert_eq!(matching("w*", &["web", "api"]).unwrap(), ["web"]);
        assert!(matching("x*", &["web"]).is_err());
    }
}

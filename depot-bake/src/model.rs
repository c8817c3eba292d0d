//! A bake definition as `docker buildx bake --print` writes it: groups and targets, each field
//! named as buildx names it, maps sorted, empty fields left out.

use std::collections::BTreeMap;

use serde::Serialize;

/// The targets and groups of a bake, as `--print` writes them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Definition {
    /// The groups asked for (and `default`, naming the targets asked for).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub group: BTreeMap<String, Group>,
    /// Every target to build (those asked for and those they use through `target:` contexts).
    pub target: BTreeMap<String, Target>,
}

impl Definition {
    /// The definition as `docker buildx bake --print` writes it: indented by two spaces, with
    /// `<`, `>` and `&` escaped as Go's JSON encoder does.
    pub fn to_json(&self) -> String {
        escape_like_go(&serde_json::to_string_pretty(self).expect("a definition serializes"))
    }
}

/// JSON as Go's `json.Marshal` writes it (compact; `<`, `>`, `&`, U+2028 and U+2029 escaped).
pub(crate) fn go_json(value: &serde_json::Value) -> String {
    escape_like_go(&value.to_string())
}

/// These characters only occur inside strings of serialized JSON, so replacing them anywhere
/// escapes them in strings.
fn escape_like_go(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A group: targets (or groups) built together.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Group {
    /// Its targets and groups, in order.
    pub targets: Vec<String>,
}

/// One image build.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Target {
    /// Targets whose fields this one starts from (resolved away before printing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inherits: Vec<String>,
    /// `--annotation`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// `--attest`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attest: Vec<String>,
    /// The build context (default `.`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Named contexts (`target:<name>` for another target's result).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts: BTreeMap<String, String>,
    /// The Dockerfile (default `Dockerfile`), relative to the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// A Dockerfile given inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    /// Build arguments.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Image names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `--cache-from`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    /// `--cache-to`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    /// The Dockerfile stage to build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `--secret`s.
    #[serde(rename = "secret", skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// `--ssh`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh: Vec<String>,
    /// Target platforms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// `--output`s.
    #[serde(rename = "output", skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// `--pull`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull: Option<bool>,
    /// `--no-cache`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_cache: Option<bool>,
    /// `--no-cache-filter`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_cache_filter: Vec<String>,
    /// `--shm-size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    /// `--ulimit`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<String>,
}

/// A target as a file declares it: fields it sets, and those it leaves to what it inherits
/// (`None`), before `inherits` and overrides are applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Declared {
    pub inherits: Vec<String>,
    pub annotations: Option<Vec<String>>,
    pub attest: Option<Vec<String>>,
    pub context: Option<String>,
    pub contexts: Option<BTreeMap<String, String>>,
    pub dockerfile: Option<String>,
    pub dockerfile_inline: Option<String>,
    /// `None` values are declared without a value (left to inherited targets).
    pub args: Option<BTreeMap<String, Option<String>>>,
    pub labels: Option<BTreeMap<String, Option<String>>>,
    pub tags: Option<Vec<String>>,
    pub cache_from: Option<Vec<String>>,
    pub cache_to: Option<Vec<String>>,
    pub target: Option<String>,
    pub secrets: Option<Vec<String>>,
    pub ssh: Option<Vec<String>>,
    pub platforms: Option<Vec<String>>,
    pub outputs: Option<Vec<String>>,
    pub pull: Option<bool>,
    pub no_cache: Option<bool>,
    pub no_cache_filter: Option<Vec<String>>,
    pub shm_size: Option<String>,
    pub ulimits: Option<Vec<String>>,
}

impl Declared {
    /// Lays `other` over `self` as buildx merges an inherited target with the one inheriting:
    /// lists of caches, secrets, SSH, attestations and annotations add up, other fields are
    /// replaced, and maps merge key by key.
    pub fn merge(&mut self, other: &Declared) {
        fn replace<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
            if from.is_some() {
                into.clone_from(from);
            }
        }
        fn append(into: &mut Option<Vec<String>>, from: &Option<Vec<String>>) {
            if let Some(from) = from {
                into.get_or_insert_with(Vec::new)
                    .extend(from.iter().cloned());
            }
        }
        fn merge_map(
            into: &mut Option<BTreeMap<String, Option<String>>>,
            from: &Option<BTreeMap<String, Option<String>>>,
        ) {
            for (key, value) in from.iter().flatten() {
                if let Some(value) = value {
                    into.get_or_insert_with(BTreeMap::new)
                        .insert(key.clone(), Some(value.clone()));
                }
            }
        }
        replace(&mut self.context, &other.context);
        replace(&mut self.dockerfile, &other.dockerfile);
        replace(&mut self.dockerfile_inline, &other.dockerfile_inline);
        merge_map(&mut self.args, &other.args);
        if let Some(contexts) = &other.contexts {
            self.contexts
                .get_or_insert_with(BTreeMap::new)
                .extend(contexts.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        merge_map(&mut self.labels, &other.labels);
        replace(&mut self.tags, &other.tags);
        replace(&mut self.target, &other.target);
        append(&mut self.annotations, &other.annotations);
        if other.attest.is_some() {
            append(&mut self.attest, &other.attest);
            self.attest = self.attest.take().map(|attest| attest_dedup(&attest));
        }
        append(&mut self.secrets, &other.secrets);
        append(&mut self.ssh, &other.ssh);
        replace(&mut self.platforms, &other.platforms);
        append(&mut self.cache_from, &other.cache_from);
        replace(&mut self.cache_to, &other.cache_to);
        replace(&mut self.outputs, &other.outputs);
        replace(&mut self.pull, &other.pull);
        replace(&mut self.no_cache, &other.no_cache);
        append(&mut self.no_cache_filter, &other.no_cache_filter);
        replace(&mut self.shm_size, &other.shm_size);
        append(&mut self.ulimits, &other.ulimits);
        self.inherits.extend(other.inherits.iter().cloned());
    }

    /// The target as printed: lists without duplicates or empty entries, contexts without
    /// empty values, arguments and labels without value left out.
    pub fn finish(self) -> Target {
        let list = |list: Option<Vec<String>>| dedup(list.unwrap_or_default());
        let map = |map: Option<BTreeMap<String, Option<String>>>| {
            map.unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect()
        };
        Target {
            inherits: Vec::new(),
            annotations: list(self.annotations),
            attest: self.attest.map(|a| attest_dedup(&a)).unwrap_or_default(),
            context: self.context,
            contexts: self
                .contexts
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            dockerfile: self.dockerfile,
            dockerfile_inline: self.dockerfile_inline,
            args: map(self.args),
            labels: map(self.labels),
            tags: list(self.tags),
            cache_from: list(self.cache_from),
            cache_to: list(self.cache_to),
            target: self.target,
            secrets: list(self.secrets),
            ssh: list(self.ssh),
            platforms: list(self.platforms),
            outputs: list(self.outputs),
            pull: self.pull,
            no_cache: self.no_cache,
            no_cache_filter: list(self.no_cache_filter),
            shm_size: self.shm_size,
            ulimits: list(self.ulimits),
        }
    }
}

/// `list` without duplicates or empty strings, in order.
fn dedup(list: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter()
        .filter(|item| !item.is_empty() && seen.insert(item.clone()))
        .collect()
}

/// Attestations with one entry per `type=` (the last given replaces the first in place).
fn attest_dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for entry in list {
        let kind = entry
            .split(',')
            .find_map(|field| field.strip_prefix("type="))
            .map(str::to_owned);
        match kind {
            Some(kind) => match kinds.get(&kind) {
                Some(&index) => out[index] = entry.clone(),
                None => {
                    kinds.insert(kind, out.len());
                    out.push(entry.clone());
                }
            },
            None => out.push(entry.clone()),
        }
    }
    out
}

//! Bake files evaluated as buildx does: every file's `variable`s (defaults overridden by the
//! environment, converted to the default's type), top-level attributes, `target` and `group`
//! blocks, merged in file order (a later file's attribute replaces an earlier one's, block by
//! block); expressions and `${}` templates evaluated with the variables and the standard
//! functions.

use std::collections::BTreeMap;

use hcl::eval::Context;
use hcl::{BlockLabel, Expression, Value};
use hcl_edit::Span;
use hcl_edit::structure::{Block, Body, Structure};

use crate::files::{BakeFile, Format};
use crate::functions;
use crate::model::Declared;
use crate::try_can;
use crate::user_functions::{self, UserFunction};
use crate::{Error, Location};

/// The targets and groups of the merged files, in the order they were first declared.
#[derive(Debug, Default)]
pub(crate) struct Config {
    pub targets: Vec<(String, Declared)>,
    pub groups: Vec<(String, Vec<String>)>,
}

/// An expression and where it was written.
#[derive(Clone, Debug)]
struct Sourced {
    at: Location,
    expr: Expression,
}

/// A block's attributes, in order.
type Attributes = Vec<(String, Sourced)>;

/// What the files declare, before evaluation.
#[derive(Default)]
struct Declarations {
    /// Variables and their defaults (the last file's wins).
    variables: Vec<(String, Option<Sourced>)>,
    /// Top-level attributes, usable like variables (the environment does not override them).
    attributes: Vec<(String, Sourced)>,
    /// Each target's blocks (one per file that declares it), merged once evaluated.
    targets: Vec<(String, Vec<Attributes>)>,
    /// Each group's attributes (a later file's replace an earlier one's).
    groups: Vec<(String, Attributes)>,
    /// User functions (a later file's replaces an earlier one of the same name).
    functions: Vec<UserFunction>,
}

/// Parses and evaluates `files`; `env` looks variables up (`compose_env` for compose files),
/// `builtins` are variables every file sees (`BAKE_CMD_CONTEXT`, `BAKE_LOCAL_PLATFORM`).
pub(crate) fn evaluate(
    files: &[BakeFile],
    env: &dyn Fn(&str) -> Option<String>,
    compose_env: &dyn Fn(&str) -> Option<String>,
    builtins: &[(&str, String)],
) -> Result<Config, Error> {
    let mut declarations = Declarations::default();
    let mut compose_files = Vec::new();
    for file in files {
        let body = match file.format() {
            Format::Hcl => {
                hcl_edit::parser::parse_body(&file.data).map_err(|err| parse_error(file, err))?
            }
            Format::Json => Body::from(crate::json_file::to_body(file)?),
            Format::Compose => {
                compose_files.push(file);
                continue;
            }
        };
        declarations.add(file, body)?;
    }
    let mut config = Config::default();
    // Compose services come first: a bake file's target of the same name merges over one.
    let compose_targets = crate::compose::targets(&compose_files, compose_env)?;
    if !compose_targets.is_empty() {
        let names = compose_targets
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        config.groups.push(("default".into(), names));
        config.targets = compose_targets;
    }
    let _installed = InstalledFunctions::install(std::mem::take(&mut declarations.functions))
        .map_err(Error::Definition)?;
    let mut ctx = Context::new();
    functions::declare(&mut ctx);
    user_functions::declare(&mut ctx);
    for (name, value) in builtins {
        ctx.declare_var(*name, value.clone());
    }
    let values = resolve_variables(&declarations, env, builtins, &ctx)?;
    for (name, value) in &values {
        ctx.declare_var(name.as_str(), value.clone());
    }
    share_with_functions(builtins, &values);
    for (name, blocks) in &declarations.targets {
        if blocks
            .iter()
            .any(|attributes| attributes.iter().any(|(key, _)| key == "matrix"))
        {
            let expanded = matrix_targets(name, blocks, &ctx)?;
            let names: Vec<String> = expanded.iter().map(|(name, _)| name.clone()).collect();
            for (expanded_name, declared) in expanded {
                add_target(&mut config, expanded_name, declared);
            }
            if names != [name.clone()] {
                config.groups.push((name.clone(), names));
            }
            continue;
        }
        let mut merged = Declared::default();
        for attributes in blocks {
            merged.merge(&target(name, attributes, &ctx)?);
        }
        add_target(&mut config, name.clone(), merged);
    }
    for (name, attributes) in &declarations.groups {
        let mut targets = Vec::new();
        for (key, sourced) in attributes {
            match key.as_str() {
                "targets" => {
                    targets =
                        strings(&eval(sourced, &ctx, "group", name, key)?).ok_or_else(|| {
                            invalid(sourced, "group", name, key, "a list of target names")
                        })?
                }
                other => {
                    return Err(Error::Invalid {
                        at: sourced.at.clone(),
                        message: format!(
                            "group {name:?}: unsupported argument {other:?} (a group has targets)"
                        ),
                    });
                }
            }
        }
        config.groups.push((name.clone(), targets));
    }
    Ok(config)
}

impl Declarations {
    fn add(&mut self, file: &BakeFile, body: Body) -> Result<(), Error> {
        for structure in body {
            match structure {
                Structure::Attribute(attribute) => {
                    let sourced = Sourced {
                        at: Location::of_span(&file.name, &file.data, attribute.span()),
                        expr: attribute.value.into(),
                    };
                    upsert(&mut self.attributes, attribute.key.to_string(), sourced);
                }
                Structure::Block(block) => self.add_block(file, block)?,
            }
        }
        Ok(())
    }

    fn add_block(&mut self, file: &BakeFile, block: Block) -> Result<(), Error> {
        let at = |span| Location::of_span(&file.name, &file.data, span);
        let block_at = at(block.span());
        let kind = block.ident.to_string();
        let name = match &block.labels[..] {
            [label] => label_text(&label.clone().into()),
            _ => {
                return Err(Error::Invalid {
                    at: block_at,
                    message: format!("a {kind} block takes one name: {kind} \"name\" {{ … }}"),
                });
            }
        };
        let attributes = block.body.into_iter().map(|structure| match structure {
            Structure::Attribute(attribute) => Ok((
                attribute.key.to_string(),
                Sourced {
                    at: at(attribute.span()),
                    expr: attribute.value.into(),
                },
            )),
            Structure::Block(inner) => Err(Error::Invalid {
                at: at(inner.span()),
                message: format!(
                    "{kind} {name:?}: unexpected block {:?}",
                    inner.ident.to_string()
                ),
            }),
        });
        let attributes = attributes.collect::<Result<Vec<_>, _>>()?;
        match kind.as_str() {
            "variable" => {
                let mut default = None;
                for (key, sourced) in attributes {
                    match key.as_str() {
                        "default" => default = Some(sourced),
                        // Descriptions and validation are accepted and not checked.
                        "description" | "validation" => {}
                        other => {
                            return Err(Error::Invalid {
                                at: sourced.at,
                                message: format!(
                                    "variable {name:?}: unsupported argument {other:?}"
                                ),
                            });
                        }
                    }
                }
                match self.variables.iter_mut().find(|(known, _)| *known == name) {
                    // A later file's default replaces the earlier one; no default keeps it.
                    Some((_, known)) => {
                        if default.is_some() {
                            *known = default;
                        }
                    }
                    None => self.variables.push((name, default)),
                }
            }
            // Blocks of one target in several files merge like an inherited target (maps
            // key by key, caches and secrets added up), as buildx merges them.
            "target" => match self.targets.iter_mut().find(|(known, _)| *known == name) {
                Some((_, blocks)) => blocks.push(attributes),
                None => self.targets.push((name, vec![attributes])),
            },
            "group" => {
                let merged = match self.groups.iter_mut().find(|(known, _)| *known == name) {
                    Some((_, merged)) => merged,
                    None => {
                        self.groups.push((name, Vec::new()));
                        &mut self.groups.last_mut().expect("just pushed").1
                    }
                };
                for (key, sourced) in attributes {
                    upsert(merged, key, sourced);
                }
            }
            "function" => {
                let function = user_function(block_at, name, attributes)?;
                match self.functions.iter_mut().find(|f| f.name == function.name) {
                    Some(known) => *known = function,
                    None => self.functions.push(function),
                }
            }
            other => {
                return Err(Error::Invalid {
                    at: block_at,
                    message: format!(
                        "unknown block {other:?}: bake files have variable, target, group and \
                         function blocks"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Sets `key` in `list`, replacing an earlier value in place.
fn upsert<T>(list: &mut Vec<(String, T)>, key: String, value: T) {
    match list.iter_mut().find(|(known, _)| *known == key) {
        Some((_, known)) => *known = value,
        None => list.push((key, value)),
    }
}

fn label_text(label: &BlockLabel) -> String {
    match label {
        BlockLabel::Identifier(ident) => ident.to_string(),
        BlockLabel::String(text) => text.clone(),
    }
}

/// Every variable's and top-level attribute's value. Defaults may use other variables: they
/// are evaluated once what they use is known (a cycle is an error).
fn resolve_variables(
    declarations: &Declarations,
    env: &dyn Fn(&str) -> Option<String>,
    builtins: &[(&str, String)],
    base: &Context<'_>,
) -> Result<BTreeMap<String, Value>, Error> {
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    let mut pending: Vec<(&str, Option<&Sourced>, bool)> = Vec::new();
    for (name, default) in &declarations.variables {
        if builtins.iter().any(|(builtin, _)| builtin == name) {
            continue;
        }
        pending.push((name, default.as_ref(), true));
    }
    for (name, sourced) in &declarations.attributes {
        pending.push((name, Some(sourced), false));
    }
    loop {
        let mut progressed = false;
        let mut waiting = Vec::new();
        let mut last_error = None;
        let unresolved: Vec<&str> = pending.iter().map(|(name, _, _)| *name).collect();
        for (name, default, is_variable) in pending {
            let Some(sourced) = default else {
                values.insert(
                    name.to_owned(),
                    Value::String(env(name).unwrap_or_default()),
                );
                progressed = true;
                continue;
            };
            // `try` and `can` would take a variable not known yet for one that fails: wait for
            // the variables they name.
            if try_can::mentions_try_or_can(&sourced.expr)
                && try_can::variables(&sourced.expr).iter().any(|needed| {
                    needed != name
                        && unresolved.contains(&needed.as_str())
                        && !values.contains_key(needed)
                })
            {
                waiting.push((name, default, is_variable));
                continue;
            }
            let mut ctx = base.clone();
            for (known, value) in &values {
                ctx.declare_var(known.as_str(), value.clone());
            }
            share_with_functions(builtins, &values);
            match try_can::evaluate(&sourced.expr, &ctx) {
                Ok(value) => {
                    let value = match env(name).filter(|_| is_variable) {
                        Some(text) => from_env(name, &value, text, &sourced.at)?,
                        None => value,
                    };
                    values.insert(name.to_owned(), value);
                    progressed = true;
                }
                Err(err) => {
                    last_error = Some((sourced.at.clone(), name.to_owned(), err));
                    waiting.push((name, default, is_variable));
                }
            }
        }
        if waiting.is_empty() {
            return Ok(values);
        }
        if !progressed {
            let Some((at, name, err)) = last_error else {
                // Only defaults waiting for each other through `try`/`can`.
                let (name, default, _) = waiting[0];
                return Err(Error::Invalid {
                    at: default.map_or_else(|| Location::file("-"), |d| d.at.clone()),
                    message: format!("variable cycle not allowed for {name}"),
                });
            };
            let cycle = matches!(err.kind(), hcl::eval::ErrorKind::UndefinedVar(needed)
                if waiting.iter().any(|(waiting, _, _)| *waiting == needed.as_str()));
            let message = if cycle {
                format!("variable cycle not allowed for {name}")
            } else {
                format!("variable {name:?}: {err}")
            };
            return Err(Error::Invalid { at, message });
        }
        pending = waiting;
    }
}

/// Lets user functions see the built-in variables and `values`.
fn share_with_functions(builtins: &[(&str, String)], values: &BTreeMap<String, Value>) {
    user_functions::set_globals(
        builtins
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Value::from(value.as_str())))
            .chain(values.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect(),
    );
}

/// A variable's value from the environment, converted to its default's type.
fn from_env(name: &str, default: &Value, text: String, at: &Location) -> Result<Value, Error> {
    let invalid = |kind: &str| Error::Invalid {
        at: at.clone(),
        message: format!("variable {name:?}: {text:?} from the environment is not a {kind}"),
    };
    Ok(match default {
        Value::Bool(_) => Value::Bool(match text.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
            "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
            _ => return Err(invalid("boolean")),
        }),
        Value::Number(_) => {
            let number: f64 = text.parse().map_err(|_| invalid("number"))?;
            hcl::Number::from_f64(number)
                .map(Value::Number)
                .ok_or_else(|| invalid("number"))?
        }
        Value::String(_) | Value::Null => Value::String(text),
        _ => {
            return Err(Error::Invalid {
                at: at.clone(),
                message: format!(
                    "variable {name:?}: a list or object cannot be set from the environment"
                ),
            });
        }
    })
}

fn eval(
    sourced: &Sourced,
    ctx: &Context<'_>,
    kind: &str,
    name: &str,
    key: &str,
) -> Result<Value, Error> {
    try_can::evaluate(&sourced.expr, ctx).map_err(|err| Error::Invalid {
        at: sourced.at.clone(),
        message: format!("{kind} {name:?}: {key}: {err}"),
    })
}

fn invalid(sourced: &Sourced, kind: &str, name: &str, key: &str, expected: &str) -> Error {
    Error::Invalid {
        at: sourced.at.clone(),
        message: format!("{kind} {name:?}: {key} must be {expected}"),
    }
}

/// A target block's attributes, evaluated.
fn target(
    name: &str,
    attributes: &[(String, Sourced)],
    ctx: &Context<'_>,
) -> Result<Declared, Error> {
    let mut declared = Declared::default();
    for (key, sourced) in attributes {
        let value = eval(sourced, ctx, "target", name, key)?;
        if value.is_null() {
            continue;
        }
        let bad = |expected: &str| invalid(sourced, "target", name, key, expected);
        let list = || strings(&value).ok_or_else(|| bad("a list of strings"));
        let text = || string(&value).ok_or_else(|| bad("a string"));
        let map = || string_map(&value).ok_or_else(|| bad("a map of strings"));
        let boolean = || match &value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            _ => Err(bad("a boolean")),
        };
        match key.as_str() {
            "inherits" => declared.inherits = list()?,
            "annotations" => declared.annotations = Some(list()?),
            "attest" => declared.attest = Some(list()?),
            "context" => declared.context = Some(text()?),
            "contexts" => {
                declared.contexts = Some(
                    map()?
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect(),
                )
            }
            "dockerfile" => declared.dockerfile = Some(text()?),
            "dockerfile-inline" => declared.dockerfile_inline = Some(text()?),
            "args" => declared.args = Some(map()?),
            "labels" => declared.labels = Some(map()?),
            "tags" => declared.tags = Some(list()?),
            "cache-from" => declared.cache_from = Some(list()?),
            "cache-to" => declared.cache_to = Some(list()?),
            "target" => declared.target = Some(text()?),
            "secret" => declared.secrets = Some(list()?),
            "ssh" => declared.ssh = Some(list()?),
            "platforms" => declared.platforms = Some(list()?),
            "output" => declared.outputs = Some(list()?),
            "pull" => declared.pull = Some(boolean()?),
            "no-cache" => declared.no_cache = Some(boolean()?),
            "no-cache-filter" => declared.no_cache_filter = Some(list()?),
            "shm-size" => declared.shm_size = Some(text()?),
            "ulimits" => declared.ulimits = Some(list()?),
            "matrix" => {}
            "name" => {
                return Err(Error::Invalid {
                    at: sourced.at.clone(),
                    message: format!("target {name:?}: name requires matrix"),
                });
            }
            other => {
                return Err(Error::Invalid {
                    at: sourced.at.clone(),
                    message: format!("target {name:?}: unsupported argument {other:?}"),
                });
            }
        }
    }
    Ok(declared)
}

/// A scalar as a string (numbers and booleans converted, as buildx does).
fn string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of scalars as strings.
fn strings(value: &Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(string).collect()
}

/// An object of scalars (or nulls) as strings.
fn string_map(value: &Value) -> Option<BTreeMap<String, Option<String>>> {
    value
        .as_object()?
        .iter()
        .map(|(k, v)| {
            let v = if v.is_null() { None } else { Some(string(v)?) };
            Some((k.clone(), v))
        })
        .collect()
}

/// A parse error with its file, line and column.
fn parse_error(file: &BakeFile, err: hcl_edit::parser::Error) -> Error {
    let location = err.location();
    Error::Parse {
        file: file.name.clone(),
        line: location.line(),
        column: location.column(),
        message: err.message().to_owned(),
    }
}

/// The user functions installed while a definition is evaluated.
struct InstalledFunctions;

impl InstalledFunctions {
    fn install(functions: Vec<UserFunction>) -> Result<InstalledFunctions, String> {
        user_functions::install(functions)?;
        Ok(InstalledFunctions)
    }
}

impl Drop for InstalledFunctions {
    fn drop(&mut self) {
        user_functions::clear();
    }
}

/// A `function` block: `params = [a, b]`, optional `variadic_params = rest`, `result = …`.
fn user_function(
    at: Location,
    name: String,
    attributes: Attributes,
) -> Result<UserFunction, Error> {
    let invalid = |message: &str| Error::Invalid {
        at: at.clone(),
        message: format!("function {name:?}: {message}"),
    };
    let identifier = |expr: &Expression| match expr {
        Expression::Variable(variable) => Some(variable.to_string()),
        _ => None,
    };
    let (mut params, mut variadic, mut result) = (None, None, None);
    for (key, sourced) in attributes {
        match key.as_str() {
            "params" => {
                let Expression::Array(items) = &sourced.expr else {
                    return Err(invalid("params must be a list of names"));
                };
                params = Some(
                    items
                        .iter()
                        .map(identifier)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| invalid("each parameter name must be an identifier"))?,
                );
            }
            "variadic_params" => {
                variadic = Some(
                    identifier(&sourced.expr)
                        .ok_or_else(|| invalid("variadic_params must be a name"))?,
                );
            }
            "result" => result = Some(sourced.expr),
            other => return Err(invalid(&format!("unsupported argument {other:?}"))),
        }
    }
    Ok(UserFunction {
        params: params.ok_or_else(|| invalid("empty params not allowed"))?,
        variadic,
        result: result.ok_or_else(|| invalid("empty result not allowed"))?,
        name,
    })
}

/// Adds a target, merged into an earlier one of the same name (a matrix may make one).
fn add_target(config: &mut Config, name: String, declared: Declared) {
    match config.targets.iter_mut().find(|(known, _)| *known == name) {
        Some((_, known)) => known.merge(&declared),
        None => config.targets.push((name, declared)),
    }
}

/// The targets of a `matrix` block: one per combination of its values, named by its `name`
/// (evaluated with the combination's variables). Keys are combined in name order.
fn matrix_targets(
    label: &str,
    blocks: &[Attributes],
    ctx: &Context<'_>,
) -> Result<Vec<(String, Declared)>, Error> {
    let [attributes] = blocks else {
        return Err(Error::Definition(format!(
            "target {label:?}: a matrix target is declared in one block"
        )));
    };
    let sourced = |key: &str| attributes.iter().find(|(k, _)| k == key).map(|(_, s)| s);
    let matrix = sourced("matrix").expect("a matrix target");
    let value = eval(matrix, ctx, "target", label, "matrix")?;
    let Value::Object(map) = value else {
        return Err(invalid(matrix, "target", label, "matrix", "a map"));
    };
    let mut keys: Vec<_> = map.into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let mut combinations: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (key, values) in keys {
        let Value::Array(values) = values else {
            return Err(invalid(matrix, "target", label, "matrix", "a map of lists"));
        };
        let mut next = Vec::new();
        for value in &values {
            for combination in &combinations {
                let mut combination = combination.clone();
                combination.push((key.clone(), value.clone()));
                next.push(combination);
            }
        }
        combinations = next;
    }
    let mut targets = Vec::new();
    for combination in combinations {
        let mut child = ctx.clone();
        for (key, value) in &combination {
            child.declare_var(key.as_str(), value.clone());
        }
        let name = match sourced("name") {
            Some(name) => string(&eval(name, &child, "target", label, "name")?)
                .ok_or_else(|| invalid(name, "target", label, "name", "a string"))?,
            None => label.to_owned(),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::Invalid {
                at: matrix.at.clone(),
                message: format!(
                    "target {label:?}: name {name:?}: only \"[a-zA-Z0-9_-]+\" are allowed"
                ),
            });
        }
        if targets.iter().any(|(known, _)| *known == name) {
            return Err(Error::Invalid {
                at: matrix.at.clone(),
                message: format!("target {label:?}: duplicate name {name:?}"),
            });
        }
        let rest: Attributes = attributes
            .iter()
            .filter(|(key, _)| key != "name")
            .cloned()
            .collect();
        targets.push((name.clone(), target(&name, &rest, &child)?));
    }
    Ok(targets)
}

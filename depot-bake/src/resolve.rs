//! From evaluated files to the targets to build, as `docker buildx bake` resolves them: the
//! names asked for (groups expanded, recursively), each target's `inherits` applied in order,
//! then `--set` overrides, defaults (`context` `.`, `dockerfile` `Dockerfile`), and targets
//! used through `target:` contexts added (without outputs).

use std::collections::BTreeMap;

use crate::Error;
use crate::evaluate::Config;
use crate::model::{Declared, Definition, Group, Target};
use crate::overrides::Overrides;

/// The definition of `names` (`default` when empty).
pub(crate) fn resolve(
    config: &Config,
    names: &[String],
    overrides: &Overrides,
) -> Result<Definition, Error> {
    let names: Vec<String> = if names.is_empty() {
        vec!["default".into()]
    } else {
        names.iter().map(|name| name.replace('.', "_")).collect()
    };
    let mut definition = Definition::default();
    for name in &names {
        let (targets, groups) = expand(config, name);
        for target in targets {
            let resolved = resolve_target(config, &target, overrides)?;
            definition.target.insert(target, resolved);
        }
        for group in groups {
            if let Some((_, targets)) = config.groups.iter().find(|(g, _)| *g == group) {
                definition.group.insert(
                    group.clone(),
                    Group {
                        targets: targets.clone(),
                    },
                );
            }
        }
    }
    for name in &names {
        if name == "default" {
            continue;
        }
        let default = definition.group.entry("default".into()).or_default();
        if !default.targets.contains(name) {
            default.targets.push(name.clone());
        }
    }
    let requested: Vec<String> = definition.target.keys().cloned().collect();
    for name in requested {
        link(
            config,
            &name,
            &mut definition.target,
            overrides,
            &mut Vec::new(),
        )?;
    }
    Ok(definition)
}

/// The targets and groups `name` stands for: a group's members (recursively), else the
/// target itself.
fn expand(config: &Config, name: &str) -> (Vec<String>, Vec<String>) {
    fn walk(
        config: &Config,
        name: &str,
        seen: &mut Vec<String>,
        targets: &mut Vec<String>,
        groups: &mut Vec<String>,
    ) {
        let Some((_, members)) = config.groups.iter().find(|(group, _)| group == name) else {
            if !targets.iter().any(|t| t == name) {
                targets.push(name.to_owned());
            }
            return;
        };
        if seen.iter().any(|s| s == name) {
            return;
        }
        seen.push(name.to_owned());
        if !groups.iter().any(|g| g == name) {
            groups.push(name.to_owned());
        }
        for member in members {
            walk(config, member, seen, targets, groups);
        }
    }
    let (mut targets, mut groups) = (Vec::new(), Vec::new());
    walk(config, name, &mut Vec::new(), &mut targets, &mut groups);
    (targets, groups)
}

/// One target with what it inherits, its overrides and the defaults.
fn resolve_target(config: &Config, name: &str, overrides: &Overrides) -> Result<Target, Error> {
    let mut declared = inherited(config, name, overrides, &mut Vec::new())?;
    declared.context.get_or_insert_with(|| ".".into());
    declared
        .dockerfile
        .get_or_insert_with(|| "Dockerfile".into());
    Ok(declared.finish())
}

/// `name`'s fields over those of the targets it inherits (in order), then its overrides (an
/// inherited target brings its own overrides, as in buildx).
fn inherited(
    config: &Config,
    name: &str,
    overrides: &Overrides,
    path: &mut Vec<String>,
) -> Result<Declared, Error> {
    let Some((_, own)) = config.targets.iter().find(|(target, _)| target == name) else {
        let known: Vec<&str> = config
            .targets
            .iter()
            .map(|(t, _)| t.as_str())
            .chain(config.groups.iter().map(|(g, _)| g.as_str()))
            .collect();
        return Err(Error::UnknownTarget {
            name: name.to_owned(),
            known: known.join(", "),
        });
    };
    if path.iter().any(|seen| seen == name) {
        return Ok(Declared::default());
    }
    path.push(name.to_owned());
    let mut merged = Declared::default();
    for parent in &own.inherits {
        let parent = inherited(config, parent, overrides, path)?;
        merged.merge(&parent);
    }
    path.pop();
    merged.merge(own);
    merged.inherits.clear();
    overrides.apply(name, &mut merged)?;
    Ok(merged)
}

/// Adds the targets `name` uses through `target:` contexts (without their outputs).
fn link(
    config: &Config,
    name: &str,
    targets: &mut BTreeMap<String, Target>,
    overrides: &Overrides,
    path: &mut Vec<String>,
) -> Result<(), Error> {
    path.push(name.to_owned());
    let contexts: Vec<String> = targets[name].contexts.values().cloned().collect();
    for context in contexts {
        let Some(used) = context.strip_prefix("target:") else {
            continue;
        };
        if used == name {
            return Err(Error::Definition(format!(
                "target {used} cannot link to itself"
            )));
        }
        if path.iter().any(|seen| seen == used) {
            return Err(Error::Definition(format!(
                "infinite loop from {name} to {used}"
            )));
        }
        if !targets.contains_key(used) {
            let mut target = resolve_target(config, used, overrides)?;
            target.outputs.clear();
            targets.insert(used.to_owned(), target);
        }
        link(config, used, targets, overrides, path)?;
        let (this, other) = (&targets[name].platforms, &targets[used].platforms);
        if this.len() > 1 && other.len() > 1 && this != other {
            return Err(Error::Definition(format!(
                "target {used} can't be used by {name} because it is defined for different \
                 platforms {other:?} and {this:?}"
            )));
        }
    }
    path.pop();
    Ok(())
}

//! The `.env` file of the working directory, which compose files read variables from when the
//! environment lacks them (as `docker buildx bake` does; bake files' own variables do not see
//! it). Lines are `KEY=VALUE` (an `export ` prefix allowed, `#` comments); values may be
//! single-quoted (literal), double-quoted (escapes `\n`, `\t`, `\"`, `\\` and `${VAR}`) or bare
//! (trimmed, a ` #` comment cut, `${VAR}` expanded); `${VAR}` names a variable set earlier in the
//! file.

use std::path::Path;

use crate::Error;
use crate::compose::substitute;

/// The `.env` file of `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(dir.join(".env")) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            file: ".env".into(),
            source,
        }),
    }
}

/// The variables `text` sets, in order.
pub(crate) fn parse(text: &str) -> Result<Vec<(String, String)>, Error> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let invalid = |message: String| Error::Parse {
            file: ".env".into(),
            line: index + 1,
            column: 1,
            message,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, raw)) = line.split_once('=') else {
            return Err(invalid(format!("{line:?} is not KEY=VALUE")));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        {
            return Err(invalid(format!("{key:?} is not a variable name")));
        }
        let earlier = |name: &str| {
            vars.iter()
                .rev()
                .find(|(known, _)| known == name)
                .map(|(_, value)| value.clone())
        };
        let raw = raw.trim();
        let value = if let Some(quoted) = raw.strip_prefix('\'') {
            let end = quoted
                .find('\'')
                .ok_or_else(|| invalid("unterminated single quote".into()))?;
            quoted[..end].to_owned()
        } else if let Some(quoted) = raw.strip_prefix('"') {
            let mut unescaped = String::new();
            let mut chars = quoted.chars();
            loop {
                match chars.next() {
                    None => return Err(invalid("unterminated double quote".into())),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => unescaped.push('\n'),
                        Some('t') => unescaped.push('\t'),
                        Some('r') => unescaped.push('\r'),
                        Some(other) => unescaped.push(other),
                        None => return Err(invalid("unterminated double quote".into())),
                    },
                    Some(c) => unescaped.push(c),
                }
            }
            substitute(&unescaped, &earlier).map_err(invalid)?
        } else {
            let bare = raw.split(" #").next().unwrap_or_default().trim_end();
            substitute(bare, &earlier).map_err(invalid)?
        };
        vars.push((key.to_owned(), value));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_unquoted_and_expanded() {
        let vars = parse(
            "# comment\n\nexport TAG=v1 # inline\nQUOTED=\"a \\\"b\\\"\\n${TAG}\"\nLITERAL='${TAG} $x'\nEMPTY=\nREF=${TAG}-${MISSING:-d}\n",
        )
        .unwrap();
        assert_eq!(
            vars,
            [
                ("TAG".into(), "v1".into()),
                ("QUOTED".into(), "a \"b\"\nv1".into()),
                ("LITERAL".into(), "${TAG} $x".into()),
                ("EMPTY".into(), String::new()),
                ("REF".into(), "v1-d".into()),
            ]
        );
        let bad = parse("A=1\nNOEQUALS\n").unwrap_err().to_string();
        assert!(bad.starts_with(".env:2:1:"), "{bad}");
    }
}

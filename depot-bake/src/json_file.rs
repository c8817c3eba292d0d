//! JSON bake files: the same blocks as HCL (`variable`, `target`, `group` objects keyed by
//! name), with strings that may hold `${}` templates, as HCL's JSON syntax reads them.

use hcl::expr::TemplateExpr;
use hcl::{Attribute, Block, Body, Expression, Identifier, Structure};
use serde_json::Value;

use crate::files::BakeFile;
use crate::{Error, Location};

/// The file as an HCL body.
pub(crate) fn to_body(file: &BakeFile) -> Result<Body, Error> {
    let value: Value = serde_json::from_str(&file.data).map_err(|err| Error::Parse {
        file: file.name.clone(),
        line: err.line(),
        column: err.column(),
        message: err.to_string(),
    })?;
    let invalid = |message: String| Error::Invalid {
        at: Location::file(&file.name),
        message,
    };
    let Value::Object(top) = value else {
        return Err(invalid("a JSON bake file is an object".into()));
    };
    let mut structures = Vec::new();
    for (key, value) in top {
        match key.as_str() {
            "variable" | "target" | "group" | "function" => {
                let Value::Object(blocks) = value else {
                    return Err(invalid(format!("{key:?} must map names to objects")));
                };
                for (name, body) in blocks {
                    let Value::Object(attributes) = body else {
                        return Err(invalid(format!("{key} {name:?} must be an object")));
                    };
                    let mut block = Block::new(identifier(&key, file)?);
                    block.labels.push(hcl::BlockLabel::String(name));
                    for (attribute, value) in attributes {
                        block.body.0.push(Structure::Attribute(Attribute::new(
                            identifier(&attribute, file)?,
                            expression(value),
                        )));
                    }
                    structures.push(Structure::Block(block));
                }
            }
            _ => structures.push(Structure::Attribute(Attribute::new(
                identifier(&key, file)?,
                expression(value),
            ))),
        }
    }
    Ok(Body::from(structures))
}

fn identifier(name: &str, file: &BakeFile) -> Result<Identifier, Error> {
    Identifier::new(name).map_err(|err| Error::Invalid {
        at: Location::file(&file.name),
        message: format!("{name:?} is not a valid name: {err}"),
    })
}

/// A JSON value as an expression; strings are templates.
fn expression(value: Value) -> Expression {
    match value {
        Value::Null => Expression::Null,
        Value::Bool(b) => Expression::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Expression::from(i),
            None => Expression::from(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) if s.contains("${") || s.contains("%{") => {
            Expression::TemplateExpr(Box::new(TemplateExpr::QuotedString(s)))
        }
        Value::String(s) => Expression::String(s),
        Value::Array(items) => Expression::Array(items.into_iter().map(expression).collect()),
        Value::Object(map) => Expression::Object(
            map.into_iter()
                .map(|(k, v)| (hcl::ObjectKey::from(k), expression(v)))
                .collect(),
        ),
    }
}

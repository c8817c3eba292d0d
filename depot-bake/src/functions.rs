//! The standard functions bake files call, as buildx defines them (go-cty's standard library):
//! strings, collections, numbers, logic and encodings. Those not here yet fail as undefined
//! functions, naming the function.

use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};

type Result = std::result::Result<Value, String>;

/// Declares the functions in `ctx`.
pub(crate) fn declare(ctx: &mut Context<'_>) {
    use ParamType::{Any, Array, Number, Object, String};
    let s = || String;
    let n = || Number;
    let list = || Array(Box::new(Any));
    let one =
        |param: ParamType, f: fn(FuncArgs) -> Result| FuncDef::builder().param(param).build(f);
    let two = |a: ParamType, b: ParamType, f: fn(FuncArgs) -> Result| {
        FuncDef::builder().param(a).param(b).build(f)
    };
    let three = |a: ParamType, b: ParamType, c: ParamType, f: fn(FuncArgs) -> Result| {
        FuncDef::builder().param(a).param(b).param(c).build(f)
    };
    let variadic = |param: ParamType, f: fn(FuncArgs) -> Result| {
        FuncDef::builder().variadic_param(param).build(f)
    };
    let defs: Vec<(&str, FuncDef)> = vec![
        ("upper", one(s(), |a| Ok(text(&a[0]).to_uppercase().into()))),
        ("lower", one(s(), |a| Ok(text(&a[0]).to_lowercase().into()))),
        ("title", one(s(), |a| Ok(title(text(&a[0])).into()))),
        ("trimspace", one(s(), |a| Ok(text(&a[0]).trim().into()))),
        (
            "chomp",
            one(s(), |a| {
                Ok(text(&a[0]).trim_end_matches(['\n', '\r']).into())
            }),
        ),
        (
            "strlen",
            one(s(), |a| Ok(text(&a[0]).chars().count().into())),
        ),
        (
            "trim",
            two(s(), s(), |a| {
                let cut: Vec<char> = text(&a[1]).chars().collect();
                Ok(text(&a[0]).trim_matches(&cut[..]).into())
            }),
        ),
        (
            "trimprefix",
            two(s(), s(), |a| {
                let (t, p) = (text(&a[0]), text(&a[1]));
                Ok(t.strip_prefix(p).unwrap_or(t).into())
            }),
        ),
        (
            "trimsuffix",
            two(s(), s(), |a| {
                let (t, p) = (text(&a[0]), text(&a[1]));
                Ok(t.strip_suffix(p).unwrap_or(t).into())
            }),
        ),
        (
            "replace",
            three(s(), s(), s(), |a| {
                Ok(text(&a[0]).replace(text(&a[1]), text(&a[2])).into())
            }),
        ),
        (
            "substr",
            three(s(), n(), n(), |a| {
                substr(text(&a[0]), int(&a[1])?, int(&a[2])?)
            }),
        ),
        (
            "join",
            FuncDef::builder()
                .param(s())
                .variadic_param(list())
                .build(|a| {
                    let sep = text(&a[0]).to_owned();
                    let mut parts = Vec::new();
                    for list in a.variadic_args() {
                        for item in items(list) {
                            parts.push(scalar(item)?);
                        }
                    }
                    Ok(parts.join(&sep).into())
                }),
        ),
        (
            "split",
            two(s(), s(), |a| {
                let (sep, t) = (text(&a[0]), text(&a[1]));
                Ok(Value::Array(t.split(sep).map(Value::from).collect()))
            }),
        ),
        (
            "format",
            FuncDef::builder()
                .param(s())
                .variadic_param(Any)
                .build(|a| format(text(&a[0]), &a.variadic_args().cloned().collect::<Vec<_>>())),
        ),
        (
            "concat",
            variadic(list(), |a| {
                Ok(Value::Array(
                    a.iter().flat_map(|l| items(l).iter().cloned()).collect(),
                ))
            }),
        ),
        (
            "contains",
            two(list(), Any, |a| Ok(items(&a[0]).contains(&a[1]).into())),
        ),
        (
            "distinct",
            one(list(), |a| {
                let mut out: Vec<Value> = Vec::new();
                for item in items(&a[0]) {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Ok(Value::Array(out))
            }),
        ),
        (
            "compact",
            one(list(), |a| {
                Ok(Value::Array(
                    items(&a[0])
                        .iter()
                        .filter(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
                        .cloned()
                        .collect(),
                ))
            }),
        ),
        (
            "element",
            two(list(), n(), |a| {
                let list = items(&a[0]);
                if list.is_empty() {
                    return Err("cannot use element function with an empty list".into());
                }
                let index = usize::try_from(int(&a[1])?).map_err(|_| "a negative index")?;
                Ok(list[index % list.len()].clone())
            }),
        ),
        (
            "index",
            two(Any, Any, |a| match &a[0] {
                Value::Array(list) => {
                    let index = usize::try_from(int(&a[1])?).map_err(|_| "a negative index")?;
                    list.get(index)
                        .cloned()
                        .ok_or_else(|| "the index is out of range".to_owned())
                }
                Value::Object(map) => map
                    .get(&scalar(&a[1])?)
                    .cloned()
                    .ok_or_else(|| "the given key does not exist".to_owned()),
                _ => Err("index needs a list or a map".into()),
            }),
        ),
        (
            "flatten",
            one(list(), |a| Ok(Value::Array(flatten(items(&a[0]))))),
        ),
        (
            "reverse",
            one(s(), |a| {
                Ok(text(&a[0])
                    .chars()
                    .rev()
                    .collect::<std::string::String>()
                    .into())
            }),
        ),
        (
            "reverselist",
            one(list(), |a| {
                Ok(Value::Array(items(&a[0]).iter().rev().cloned().collect()))
            }),
        ),
        (
            "slice",
            three(list(), n(), n(), |a| {
                let list = items(&a[0]);
                let (from, to) = (int(&a[1])?, int(&a[2])?);
                let (from, to) = (usize::try_from(from).ok(), usize::try_from(to).ok());
                match (from, to) {
                    (Some(from), Some(to)) if from <= to && to <= list.len() => {
                        Ok(Value::Array(list[from..to].to_vec()))
                    }
                    _ => Err("slice indices out of range".into()),
                }
            }),
        ),
        (
            "sort",
            one(list(), |a| {
                let mut texts = items(&a[0])
                    .iter()
                    .map(scalar)
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                texts.sort();
                Ok(Value::Array(texts.into_iter().map(Value::from).collect()))
            }),
        ),
        (
            "length",
            one(Any, |a| {
                Ok(match &a[0] {
                    Value::Array(items) => items.len(),
                    Value::Object(map) => map.len(),
                    _ => return Err("collection must be a list, a map or a tuple".into()),
                }
                .into())
            }),
        ),
        (
            "keys",
            one(Object(Box::new(Any)), |a| {
                Ok(Value::Array(
                    sorted(object(&a[0]))
                        .into_iter()
                        .map(|(k, _)| Value::from(k.as_str()))
                        .collect(),
                ))
            }),
        ),
        (
            "values",
            one(Object(Box::new(Any)), |a| {
                Ok(Value::Array(
                    sorted(object(&a[0]))
                        .into_iter()
                        .map(|(_, v)| v.clone())
                        .collect(),
                ))
            }),
        ),
        (
            "lookup",
            three(Object(Box::new(Any)), s(), Any, |a| {
                Ok(object(&a[0])
                    .get(text(&a[1]))
                    .cloned()
                    .unwrap_or_else(|| a[2].clone()))
            }),
        ),
        (
            "merge",
            variadic(Object(Box::new(Any)), |a| {
                let mut merged = hcl::Map::new();
                for map in a.iter() {
                    merged.extend(object(map).iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                Ok(Value::Object(merged))
            }),
        ),
        (
            "zipmap",
            two(list(), list(), |a| {
                let (keys, values) = (items(&a[0]), items(&a[1]));
                if keys.len() != values.len() {
                    return Err("zipmap needs as many keys as values".into());
                }
                let mut map = hcl::Map::new();
                for (k, v) in keys.iter().zip(values) {
                    map.insert(scalar(k)?, v.clone());
                }
                Ok(Value::Object(map))
            }),
        ),
        (
            "coalesce",
            variadic(Any, |a| {
                a.iter()
                    .find(|v| !matches!(v, Value::Null))
                    .cloned()
                    .ok_or_else(|| "no non-null arguments".to_owned())
            }),
        ),
        ("equal", two(Any, Any, |a| Ok((a[0] == a[1]).into()))),
        ("notequal", two(Any, Any, |a| Ok((a[0] != a[1]).into()))),
        (
            "and",
            two(ParamType::Bool, ParamType::Bool, |a| {
                Ok((boolean(&a[0]) && boolean(&a[1])).into())
            }),
        ),
        (
            "or",
            two(ParamType::Bool, ParamType::Bool, |a| {
                Ok((boolean(&a[0]) || boolean(&a[1])).into())
            }),
        ),
        (
            "not",
            one(ParamType::Bool, |a| Ok((!boolean(&a[0])).into())),
        ),
        ("add", two(n(), n(), |a| number(num(&a[0]) + num(&a[1])))),
        (
            "subtract",
            two(n(), n(), |a| number(num(&a[0]) - num(&a[1]))),
        ),
        (
            "multiply",
            two(n(), n(), |a| number(num(&a[0]) * num(&a[1]))),
        ),
        (
            "divide",
            two(n(), n(), |a| {
                if num(&a[1]) == 0.0 {
                    return Err("divide by zero".into());
                }
                number(num(&a[0]) / num(&a[1]))
            }),
        ),
        ("modulo", two(n(), n(), |a| number(num(&a[0]) % num(&a[1])))),
        ("negate", one(n(), |a| number(-num(&a[0])))),
        ("absolute", one(n(), |a| number(num(&a[0]).abs()))),
        ("ceil", one(n(), |a| number(num(&a[0]).ceil()))),
        ("floor", one(n(), |a| number(num(&a[0]).floor()))),
        (
            "max",
            variadic(n(), |a| number(a.iter().map(num).fold(f64::MIN, f64::max))),
        ),
        (
            "min",
            variadic(n(), |a| number(a.iter().map(num).fold(f64::MAX, f64::min))),
        ),
        (
            "greaterthan",
            two(n(), n(), |a| Ok((num(&a[0]) > num(&a[1])).into())),
        ),
        (
            "lessthan",
            two(n(), n(), |a| Ok((num(&a[0]) < num(&a[1])).into())),
        ),
        (
            "greaterthanorequalto",
            two(n(), n(), |a| Ok((num(&a[0]) >= num(&a[1])).into())),
        ),
        (
            "lessthanorequalto",
            two(n(), n(), |a| Ok((num(&a[0]) <= num(&a[1])).into())),
        ),
        ("int", one(n(), |a| number(num(&a[0]).trunc()))),
        (
            "jsonencode",
            one(Any, |a| Ok(crate::model::go_json(&to_json(&a[0])).into())),
        ),
        (
            "jsondecode",
            one(s(), |a| {
                serde_json::from_str(text(&a[0])).map_err(|e| e.to_string())
            }),
        ),
        (
            "base64encode",
            one(s(), |a| {
                use base64::Engine as _;
                Ok(base64::engine::general_purpose::STANDARD
                    .encode(text(&a[0]))
                    .into())
            }),
        ),
        (
            "base64decode",
            one(s(), |a| {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text(&a[0]))
                    .map_err(|e| format!("failed to decode base64 data: {e}"))?;
                std::string::String::from_utf8(bytes)
                    .map(Value::from)
                    .map_err(|_| {
                        "the result of decoding the provided string is not valid UTF-8".into()
                    })
            }),
        ),
        (
            "sha256",
            one(s(), |a| {
                use sha2::Digest as _;
                Ok(hex::encode(sha2::Sha256::digest(text(&a[0]))).into())
            }),
        ),
        (
            "sha512",
            one(s(), |a| {
                use sha2::Digest as _;
                Ok(hex::encode(sha2::Sha512::digest(text(&a[0]))).into())
            }),
        ),
        (
            "urlencode",
            one(s(), |a| Ok(query_escape(text(&a[0])).into())),
        ),
        (
            "range",
            variadic(n(), |a| range(&a.iter().map(num).collect::<Vec<_>>())),
        ),
        (
            "parseint",
            two(s(), n(), |a| {
                let base = u32::try_from(int(&a[1])?).map_err(|_| "invalid base")?;
                if !(2..=62).contains(&base) {
                    return Err("base must be a whole number between 2 and 62 inclusive".into());
                }
                i64::from_str_radix(text(&a[0]), base)
                    .map(Value::from)
                    .map_err(|_| format!("cannot parse {:?} as a base {base} integer", text(&a[0])))
            }),
        ),
        (
            "pow",
            two(n(), n(), |a| number(num(&a[0]).powf(num(&a[1])))),
        ),
        (
            "signum",
            one(n(), |a| {
                number(num(&a[0]).signum() * f64::from(u8::from(num(&a[0]) != 0.0)))
            }),
        ),
        (
            "hasindex",
            two(Any, Any, |a| {
                Ok(match &a[0] {
                    Value::Array(list) => {
                        int(&a[1]).is_ok_and(|i| usize::try_from(i).is_ok_and(|i| i < list.len()))
                    }
                    Value::Object(map) => scalar(&a[1]).is_ok_and(|key| map.contains_key(&key)),
                    _ => false,
                }
                .into())
            }),
        ),
        (
            "chunklist",
            two(list(), n(), |a| {
                let size =
                    usize::try_from(int(&a[1])?).map_err(|_| "the size must not be negative")?;
                let list = items(&a[0]);
                if size == 0 {
                    return Ok(Value::Array(vec![Value::Array(list.to_vec())]));
                }
                Ok(Value::Array(
                    list.chunks(size)
                        .map(|c| Value::Array(c.to_vec()))
                        .collect(),
                ))
            }),
        ),
        (
            "coalescelist",
            variadic(list(), |a| {
                a.iter()
                    .find(|l| !items(l).is_empty())
                    .cloned()
                    .ok_or_else(|| "no non-null arguments".to_owned())
            }),
        ),
        (
            "indent",
            two(n(), s(), |a| {
                let pad = " ".repeat(usize::try_from(int(&a[0])?).unwrap_or(0));
                Ok(text(&a[1]).replace('\n', &format!("\n{pad}")).into())
            }),
        ),
        (
            "regex_replace",
            three(s(), s(), s(), |a| {
                let re =
                    regex::Regex::new(text(&a[1])).map_err(|e| format!("invalid regex: {e}"))?;
                Ok(re.replace_all(text(&a[0]), text(&a[2])).into_owned().into())
            }),
        ),
        (
            "setunion",
            variadic(list(), |a| Ok(set(a.iter().flat_map(items).cloned()))),
        ),
        (
            "setintersection",
            variadic(list(), |a| {
                let first = a.first().map(items).unwrap_or_default();
                Ok(set(first
                    .iter()
                    .filter(|v| a.iter().all(|l| items(l).contains(v)))
                    .cloned()))
            }),
        ),
        (
            "setsubtract",
            two(list(), list(), |a| {
                Ok(set(items(&a[0])
                    .iter()
                    .filter(|v| !items(&a[1]).contains(v))
                    .cloned()))
            }),
        ),
        (
            "sethaselement",
            two(list(), Any, |a| Ok(items(&a[0]).contains(&a[1]).into())),
        ),
        (
            "setsymmetricdifference",
            variadic(list(), |a| {
                let all: Vec<&Value> = a.iter().flat_map(items).collect();
                Ok(set(all
                    .iter()
                    .filter(|v| a.iter().filter(|l| items(l).contains(v)).count() % 2 == 1)
                    .map(|v| (*v).clone())))
            }),
        ),
        (
            "setproduct",
            variadic(list(), |a| {
                let mut product: Vec<Vec<Value>> = vec![Vec::new()];
                for list in a.iter() {
                    product = product
                        .iter()
                        .flat_map(|prefix| {
                            items(list).iter().map(move |item| {
                                let mut next = prefix.clone();
                                next.push(item.clone());
                                next
                            })
                        })
                        .collect();
                }
                Ok(Value::Array(
                    product.into_iter().map(Value::Array).collect(),
                ))
            }),
        ),
        (
            "md5",
            one(s(), |a| {
                use md5::Digest as _;
                Ok(hex::encode(md5::Md5::digest(text(&a[0]))).into())
            }),
        ),
        (
            "sha1",
            one(s(), |a| {
                use sha1::Digest as _;
                Ok(hex::encode(sha1::Sha1::digest(text(&a[0]))).into())
            }),
        ),
        (
            "log",
            two(n(), n(), |a| number(num(&a[0]).ln() / num(&a[1]).ln())),
        ),
        (
            "regex",
            two(s(), s(), |a| {
                let re =
                    regex::Regex::new(text(&a[0])).map_err(|e| format!("invalid regex: {e}"))?;
                let captures = re
                    .captures(text(&a[1]))
                    .ok_or("pattern did not match any part of the given string")?;
                Ok(captured(&re, &captures))
            }),
        ),
        (
            "regexall",
            two(s(), s(), |a| {
                let re =
                    regex::Regex::new(text(&a[0])).map_err(|e| format!("invalid regex: {e}"))?;
                Ok(Value::Array(
                    re.captures_iter(text(&a[1]))
                        .map(|c| captured(&re, &c))
                        .collect(),
                ))
            }),
        ),
        (
            "formatlist",
            FuncDef::builder()
                .param(s())
                .variadic_param(Any)
                .build(|a| {
                    let args: Vec<Value> = a.variadic_args().cloned().collect();
                    let lengths: Vec<usize> = args
                        .iter()
                        .filter_map(|v| v.as_array().map(Vec::len))
                        .collect();
                    let Some(&length) = lengths.first() else {
                        return Ok(Value::Array(vec![format(text(&a[0]), &args)?]));
                    };
                    if lengths.iter().any(|l| *l != length) {
                        return Err("all list arguments must have the same length".into());
                    }
                    let mut out = Vec::new();
                    for index in 0..length {
                        let row: Vec<Value> = args
                            .iter()
                            .map(|arg| match arg {
                                Value::Array(list) => list[index].clone(),
                                other => other.clone(),
                            })
                            .collect();
                        out.push(format(text(&a[0]), &row)?);
                    }
                    Ok(Value::Array(out))
                }),
        ),
    ];
    let more = [
        crate::datetime::functions(),
        crate::cidr::functions(),
        crate::identifiers::functions(),
        crate::try_can::functions(),
    ];
    for (name, def) in defs.into_iter().chain(more.into_iter().flatten()) {
        ctx.declare_func(name, def);
    }
}

/// An object's entries in key order, as cty keeps them.
fn sorted(map: &hcl::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// A value as JSON with object keys in order.
fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => serde_json::to_value(n).unwrap_or_default(),
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => items.iter().map(to_json).collect(),
        Value::Object(map) => serde_json::Value::Object(
            sorted(map)
                .into_iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// What `regex` gives for a match: the match itself without groups, the groups in a list,
/// or named groups in an object.
fn captured(re: &regex::Regex, captures: &regex::Captures<'_>) -> Value {
    let group =
        |m: Option<regex::Match<'_>>| m.map_or(Value::from(""), |m| Value::from(m.as_str()));
    if re.captures_len() == 1 {
        return group(captures.get(0));
    }
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    if names.iter().all(Option::is_some) {
        let mut map = hcl::Map::new();
        for name in names.into_iter().flatten() {
            map.insert(name.to_owned(), group(captures.name(name)));
        }
        return Value::Object(map);
    }
    Value::Array(
        (1..re.captures_len())
            .map(|i| group(captures.get(i)))
            .collect(),
    )
}

/// A set as cty orders it: strings sorted, each once.
fn set(values: impl Iterator<Item = Value>) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out.sort_by(|a, b| match (a, b) {
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        _ => std::cmp::Ordering::Equal,
    });
    Value::Array(out)
}

/// `range(end)`, `range(start, end)` or `range(start, end, step)`.
fn range(args: &[f64]) -> Result {
    let (start, end, step) = match *args {
        [end] => (0.0, end, 1.0),
        [start, end] => (start, end, if end < start { -1.0 } else { 1.0 }),
        [start, end, step] => (start, end, step),
        _ => return Err("range takes one, two or three numbers".into()),
    };
    if step == 0.0 {
        return Err("step must not be zero".into());
    }
    let mut out = Vec::new();
    let mut at = start;
    while (step > 0.0 && at < end) || (step < 0.0 && at > end) {
        out.push(number(at)?);
        at += step;
        if out.len() > 1024 {
            return Err("more than 1024 values were generated".into());
        }
    }
    Ok(Value::Array(out))
}

/// Go's `url.QueryEscape`.
fn query_escape(text: &str) -> std::string::String {
    let mut out = std::string::String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

fn object(value: &Value) -> &hcl::Map<String, Value> {
    static EMPTY: std::sync::OnceLock<hcl::Map<String, Value>> = std::sync::OnceLock::new();
    value
        .as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(hcl::Map::new))
}

fn boolean(value: &Value) -> bool {
    value.as_bool().unwrap_or_default()
}

fn num(value: &Value) -> f64 {
    value.as_f64().unwrap_or_default()
}

fn int(value: &Value) -> std::result::Result<i64, String> {
    let n = num(value);
    if n.fract() != 0.0 {
        return Err(format!("{n} is not a whole number"));
    }
    Ok(n as i64)
}

fn number(n: f64) -> Result {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        return Ok(Value::from(n as i64));
    }
    hcl::Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| format!("{n} is not a number"))
}

/// A scalar as text (numbers and booleans converted).
fn scalar(value: &Value) -> std::result::Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("{other} is not a string")),
    }
}

fn flatten(list: &[Value]) -> Vec<Value> {
    list.iter()
        .flat_map(|item| match item {
            Value::Array(inner) => flatten(inner),
            other => vec![other.clone()],
        })
        .collect()
}

fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

fn substr(text: &str, offset: i64, length: i64) -> Result {
    let chars: Vec<char> = text.chars().collect();
    let len = chars.len() as i64;
    let start = if offset < 0 {
        (len + offset).max(0)
    } else {
        offset.min(len)
    };
    let end = if length < 0 {
        len
    } else {
        (start + length).min(len)
    };
    Ok(chars[start as usize..end.max(start) as usize]
        .iter()
        .collect::<String>()
        .into())
}

/// `format` for the verbs bake files use: `%s`, `%d`, `%v`, `%q`, `%%`.
fn format(spec: &str, args: &[Value]) -> Result {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("format ends with %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().ok_or("not enough arguments for format")?;
        match verb {
            's' | 'v' | 'd' => out.push_str(&scalar(arg)?),
            'q' => out.push_str(&serde_json::to_string(&scalar(arg)?).map_err(|e| e.to_string())?),
            other => return Err(format!("unsupported format verb %{other}")),
        }
    }
    Ok(out.into())
}

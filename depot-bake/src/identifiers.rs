//! The identifier and record functions of buildx's standard library: `uuidv4`, `uuidv5`
//! (RFC 4122, name-based with SHA-1), `bcrypt` (a `$2a$` hash, cost 10 unless given) and
//! `csvdecode` (a header line, then one object per record).

use hcl::eval::{FuncArgs, FuncDef, ParamType};
use hcl::{Map, Value};
use sha1::{Digest, Sha1};

type Result = std::result::Result<Value, String>;

/// The functions, by name.
pub(crate) fn functions() -> Vec<(&'static str, FuncDef)> {
    use ParamType::{Number, String};
    vec![
        ("uuidv4", FuncDef::builder().build(uuidv4)),
        (
            "uuidv5",
            FuncDef::builder().param(String).param(String).build(uuidv5),
        ),
        (
            "bcrypt",
            FuncDef::builder()
                .param(String)
                .variadic_param(Number)
                .build(bcrypt),
        ),
        (
            "csvdecode",
            FuncDef::builder().param(String).build(csvdecode),
        ),
    ]
}

fn uuidv4(_: FuncArgs) -> Result {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(uuid_text(bytes).into())
}

fn uuidv5(args: FuncArgs) -> Result {
    let namespace = args[0].as_str().unwrap_or_default();
    let namespace = match namespace {
        "dns" => "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "url" => "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
        "oid" => "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
        "x500" => "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
        other => other,
    };
    let namespace = hex::decode(namespace.replace('-', ""))
        .ok()
        .filter(|bytes| bytes.len() == 16)
        .ok_or_else(|| format!("uuidv5() doesn't support namespace {}", args[0]))?;
    let mut hasher = Sha1::new();
    hasher.update(&namespace);
    hasher.update(args[1].as_str().unwrap_or_default().as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(uuid_text(bytes).into())
}

fn uuid_text(bytes: [u8; 16]) -> String {
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn bcrypt(args: FuncArgs) -> Result {
    let cost = match args.get(1) {
        None => 10,
        Some(cost) => {
            let cost = cost.as_f64().unwrap_or_default();
            if cost.fract() != 0.0 || !(4.0..=31.0).contains(&cost) {
                return Err(format!("bcrypt: cost {cost} is outside 4 to 31"));
            }
            cost as u32
        }
    };
    if args.len() > 2 {
        return Err("bcrypt: at most one cost argument".into());
    }
    let hashed = ::bcrypt::hash_with_result(args[0].as_str().unwrap_or_default(), cost)
        .map_err(|err| format!("bcrypt: {err}"))?;
    Ok(hashed.format_for_version(::bcrypt::Version::TwoA).into())
}

fn csvdecode(args: FuncArgs) -> Result {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(args[0].as_str().unwrap_or_default().as_bytes());
    let mut records = reader.records();
    let headers = match records.next() {
        Some(headers) => headers.map_err(|err| format!("csvdecode: {err}"))?,
        None => return Err("missing header line".into()),
    };
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|err| format!("csvdecode: {err}"))?;
        let row: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(key, value)| (key.to_owned(), Value::from(value)))
            .collect();
        rows.push(Value::Object(row));
    }
    Ok(Value::Array(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::{Context, Evaluate};

    fn eval(expression: &str) -> std::result::Result<Value, String> {
        let mut ctx = Context::new();
        for (name, def) in functions() {
            ctx.declare_func(name, def);
        }
        let expr: hcl::Expression = expression.parse().unwrap();
        expr.evaluate(&ctx).map_err(|err| err.to_string())
    }

    #[test]
    fn uuids_bcrypt_and_csv() {
        assert_eq!(
            eval(r#"uuidv5("dns", "www.terraform.io")"#).unwrap(),
            Value::from("a5008fae-b28c-5ba5-96cd-82b4c53552d6")
        );
        assert_eq!(
            eval(r#"uuidv5("url", "https://www.terraform.io/")"#).unwrap(),
            Value::from("9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5")
        );
        assert_eq!(
            eval(r#"uuidv5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.terraform.io")"#).unwrap(),
            Value::from("a5008fae-b28c-5ba5-96cd-82b4c53552d6")
        );
        assert!(
            eval(r#"uuidv5("nope", "x")"#)
                .unwrap_err()
                .contains("namespace")
        );
        let v4 = eval("uuidv4()").unwrap();
        assert_eq!(v4.as_str().unwrap().as_bytes()[14], b'4');

        let hashed = eval(r#"bcrypt("hello", 4)"#).unwrap();
        let hashed = hashed.as_str().unwrap();
        assert!(hashed.starts_with("$2a$04$"), "{hashed}");
        assert!(::bcrypt::verify("hello", hashed).unwrap());
        assert!(
            eval(r#"bcrypt("hello")"#)
                .unwrap()
                .as_str()
                .unwrap()
                .starts_with("$2a$10$")
        );

        let rows = eval(r#"csvdecode("a,b\n1,\"x,y\"\n3,4\n")"#).unwrap();
        assert_eq!(
            serde_json::to_string(&rows).unwrap(),
            r#"[{"a":"1","b":"x,y"},{"a":"3","b":"4"}]"#
        );
        assert!(
            eval(r#"csvdecode("")"#)
                .unwrap_err()
                .contains("missing header line")
        );
        assert!(eval(r#"csvdecode("a,b\n1\n")"#).is_err());
    }
}

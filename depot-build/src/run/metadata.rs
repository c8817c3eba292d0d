//! The build's metadata (`depot build --metadata-file`): the exporters' response as JSON, like
//! the official CLI writes it. Values that are base64 of a JSON object are decoded, others stay
//! strings; SBOM entries are left out, Depot's own annotations are taken off the image
//! descriptor, and `depot.build` names the build.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The metadata of a build whose exporters answered `raw`.
pub fn metadata(raw: &BTreeMap<String, String>, build_id: &str, project_id: &str) -> Value {
    let mut out = serde_json::Map::new();
    for (key, value) in raw {
        if key.contains("sbom") {
            continue;
        }
        let mut decoded = decode(value);
        if key == "containerimage.descriptor" {
            strip_depot_annotations(&mut decoded);
        }
        out.insert(key.clone(), decoded);
    }
    out.insert(
        "depot.build".into(),
        json!({ "buildID": build_id, "projectID": project_id }),
    );
    Value::Object(out)
}

/// A non-empty JSON object if `value` is base64 of one, else the string.
fn decode(value: &str) -> Value {
    STANDARD
        .decode(value)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .unwrap_or_else(|| Value::String(value.to_owned()))
}

fn strip_depot_annotations(descriptor: &mut Value) {
    if let Some(annotations) = descriptor
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.retain(|key, _| !key.starts_with("depot.containerimage."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_json_values_and_names_the_build() {
        let descriptor = STANDARD.encode(
            r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:ab","size":482,"annotations":{"depot.containerimage.index":"x","org.opencontainers.image.created":"now"}}"#,
        );
        let raw: BTreeMap<String, String> = [
            ("containerimage.digest", "sha256:ab".to_owned()),
            ("containerimage.descriptor", descriptor),
            ("image.name", "r/a:1,r/a:2".to_owned()),
            ("buildx.build.provenance", STANDARD.encode("{}")),
            ("sbom.spdx", STANDARD.encode(r#"{"a":1}"#)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let value = metadata(&raw, "b1", "p1");
        let text = serde_json::to_string_pretty(&value).unwrap();
        assert_eq!(
            text,
            r#"{
  "buildx.build.provenance": "e30=",
  "containerimage.descriptor": {
    "annotations": {
      "org.opencontainers.image.created": "now"
    },
    "digest": "sha256:ab",
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "size": 482
  },
  "containerimage.digest": "sha256:ab",
  "depot.build": {
    "buildID": "b1",
    "projectID": "p1"
  },
  "image.name": "r/a:1,r/a:2"
}"#
        );
    }
}

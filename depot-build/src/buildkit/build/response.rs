//! The exporters' response, typed.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type (an image manifest or index).
    pub media_type: String,
    /// The content digest.
    pub digest: String,
    /// The content size in bytes.
    pub size: u64,
}

/// What the exporters reported. With several exporters the daemon merges their maps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExporterResponse {
    /// The image's manifest (or index) digest (`containerimage.digest`).
    pub image_digest: Option<String>,
    /// The image config's digest (`containerimage.config.digest`).
    pub config_digest: Option<String>,
    /// The image's descriptor (`containerimage.descriptor`).
    pub descriptor: Option<Descriptor>,
    /// The names given (`image.name`).
    pub image_name: Option<String>,
    /// Every key as the daemon sent it.
    pub raw: BTreeMap<String, String>,
}

impl ExporterResponse {
    /// Types the daemon's map; entries that do not parse are only kept in `raw`.
    pub fn from_raw(raw: impl IntoIterator<Item = (String, String)>) -> Self {
        let raw: BTreeMap<String, String> = raw.into_iter().collect();
        let get = |key: &str| raw.get(key).filter(|v| !v.is_empty()).cloned();
        let descriptor = get("containerimage.descriptor").and_then(|encoded| {
            let json = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()?;
            serde_json::from_slice(&json).ok()
        });
        ExporterResponse {
            image_digest: get("containerimage.digest"),
            config_digest: get("containerimage.config.digest"),
            image_name: get("image.name"),
            descriptor,
            raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_the_image_keys() {
        let descriptor = base64::engine::general_purpose::STANDARD.encode(
            r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:ab","size":482,"annotations":{}}"#,
        );
        let response = ExporterResponse::from_raw([
            ("containerimage.digest".to_owned(), "sha256:ab".to_owned()),
            (
                "containerimage.config.digest".to_owned(),
                "sha256:cd".to_owned(),
            ),
            ("containerimage.descriptor".to_owned(), descriptor),
            ("image.name".to_owned(), "r/a:1,r/a:2".to_owned()),
            ("other".to_owned(), "x".to_owned()),
        ]);
        assert_eq!(response.image_digest.as_deref(), Some("sha256:ab"));
        assert_eq!(response.config_digest.as_deref(), Some("sha256:cd"));
        assert_eq!(response.image_name.as_deref(), Some("r/a:1,r/a:2"));
        assert_eq!(response.descriptor.unwrap().size, 482);
        assert_eq!(response.raw.len(), 5);
        assert_eq!(ExporterResponse::from_raw([]), ExporterResponse::default());
    }
}

//! `--output` values as `docker buildx build` takes them (`type=local,dest=out`, `type=oci,
//! dest=image.tar`, `type=registry`, a bare directory, `-` for a tarball on stdout), kept as a
//! kind and attributes until they become an [`Output`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use super::output::Output;
use crate::buildkit::session::TarDestination;

/// One parsed `--output`: an exporter kind and its attributes, as the user wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// `local`, `tar`, `oci`, `docker`, `image`, `registry` or `cacheonly`.
    pub kind: String,
    /// Every `key=value` but `type`.
    pub attrs: BTreeMap<String, String>,
}

impl FromStr for OutputSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "-" {
            return Ok(OutputSpec {
                kind: "tar".into(),
                attrs: [("dest".to_owned(), "-".to_owned())].into(),
            });
        }
        if !text.contains('=') {
            return Ok(OutputSpec {
                kind: "local".into(),
                attrs: [("dest".to_owned(), text.to_owned())].into(),
            });
        }
        let mut kind = None;
        let mut attrs = BTreeMap::new();
        for field in csv_fields(text)? {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| format!("invalid output {text:?}: {field:?} is not key=value"))?;
            if key == "type" {
                kind = Some(value.to_owned());
            } else {
                attrs.insert(key.to_owned(), value.to_owned());
            }
        }
        let kind = kind.ok_or_else(|| {
            format!("invalid output {text:?}: type=… is required (local, tar, oci, docker, image, registry)")
        })?;
        Ok(OutputSpec { kind, attrs })
    }
}

/// Splits `text` at commas outside double quotes, like buildx's CSV reading
/// (`type=image,"name=a:1,b:2"`); quotes are removed.
fn csv_fields(text: &str) -> Result<Vec<String>, String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().expect("one field at least").push(c),
        }
    }
    if quoted {
        return Err(format!("invalid output {text:?}: unbalanced quotes"));
    }
    Ok(fields)
}

impl OutputSpec {
    /// Whether this output is an image in a registry or the daemon's store (`image`,
    /// `registry`).
    pub fn is_image(&self) -> bool {
        matches!(self.kind.as_str(), "image" | "registry")
    }

    /// The output to hand to BuildKit; `tags` name an image output that has no `name`, and
    /// `stdout` is where `dest=-` goes. `cacheonly` yields none.
    pub fn into_output(
        mut self,
        tags: &[String],
        stdout: impl FnOnce() -> TarDestination,
    ) -> Result<Option<Output>, String> {
        let dest = self.attrs.remove("dest");
        let tar_dest = |dest: Option<String>, kind: &str| match dest.as_deref() {
            None => Err(format!(
                "output type={kind} needs dest=<file>, or dest=- for stdout"
            )),
            Some("-") => Ok(stdout()),
            Some(path) => Ok(TarDestination::File(PathBuf::from(path))),
        };
        let output = match self.kind.as_str() {
            "local" => Output::Local {
                dir: dest
                    .map(PathBuf::from)
                    .ok_or("output type=local needs dest=<directory>")?,
            },
            "tar" => Output::Tar {
                dest: tar_dest(dest, "tar")?,
            },
            "oci" => Output::Oci {
                dest: tar_dest(dest, "oci")?,
                attrs: self.attrs,
            },
            "docker" => Output::Docker {
                dest: tar_dest(dest, "docker")?,
                attrs: self.attrs,
            },
            "image" | "registry" => {
                let names = match self.attrs.remove("name") {
                    Some(names) => names.split(',').map(str::to_owned).collect(),
                    None => tags.to_vec(),
                };
                let push = self.kind == "registry"
                    || self.attrs.remove("push").is_some_and(|p| p == "true");
                Output::Image {
                    names,
                    push,
                    attrs: self.attrs,
                }
            }
            "cacheonly" => return Ok(None),
            other => {
                return Err(format!(
                    "unknown output type {other:?}: use local, tar, oci, docker, image, registry or cacheonly"
                ));
            }
        };
        Ok(Some(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdout() -> TarDestination {
        TarDestination::Writer(Box::new(tokio::io::sink()))
    }

    #[test]
    fn parses_like_buildx() {
        let spec: OutputSpec = "type=oci,dest=x.tar,name=app".parse().unwrap();
        assert_eq!(spec.kind, "oci");
        assert_eq!(spec.attrs["dest"], "x.tar");
        assert_eq!(
            "out".parse::<OutputSpec>().unwrap(),
            OutputSpec {
                kind: "local".into(),
                attrs: [("dest".to_owned(), "out".to_owned())].into()
            }
        );
        assert_eq!("-".parse::<OutputSpec>().unwrap().kind, "tar");
        assert!(
            "dest=x"
                .parse::<OutputSpec>()
                .unwrap_err()
                .contains("type=")
        );
        assert!("type=oci,junk".parse::<OutputSpec>().is_err());
        assert!(r#"type=oci,"dest=x"#.parse::<OutputSpec>().is_err());
    }

    #[test]
    fn becomes_typed_outputs() {
        let tags = vec!["reg/app:1".to_owned()];
        let image = "type=registry,compression=zstd"
            .parse::<OutputSpec>()
            .unwrap()
            .into_output(&tags, stdout)
            .unwrap();
        match image {
            Some(Output::Image { names, push, attrs }) => {
                assert_eq!(names, tags);
                assert!(push);
                assert_eq!(attrs["compression"], "zstd");
            }
            other => panic!("{other:?}"),
        }
        let named = r#"type=image,"name=a:1,b:2""#
            .parse::<OutputSpec>()
            .unwrap()
            .into_output(&tags, stdout)
            .unwrap();
        assert!(
            matches!(named, Some(Output::Image { names, push: false, .. }) if names == ["a:1", "b:2"])
        );
        let oci = "type=oci,dest=-"
            .parse::<OutputSpec>()
            .unwrap()
            .into_output(&tags, stdout)
            .unwrap();
        assert!(matches!(
            oci,
            Some(Output::Oci {
                dest: TarDestination::Writer(_),
                ..
            })
        ));
        let missing = "type=docker".parse::<OutputSpec>().unwrap();
        assert!(
            missing
                .into_output(&tags, stdout)
                .unwrap_err()
                .contains("dest=")
        );
        let cache = "type=cacheonly".parse::<OutputSpec>().unwrap();
        assert!(cache.into_output(&tags, stdout).unwrap().is_none());
        let unknown = "type=zip".parse::<OutputSpec>().unwrap();
        assert!(unknown.into_output(&tags, stdout).is_err());
    }
}

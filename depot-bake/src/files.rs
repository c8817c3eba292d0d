//! Finding and reading bake files, as buildx does: without `-f`, the compose files and
//! `docker-bake[.override].{json,hcl}` of the current directory that exist, in that order;
//! with `-f` (repeatable, `-` for standard input), those, merged in order.

use std::path::Path;

/// The files looked for without `-f`, in the order they are merged.
pub const DEFAULT_FILES: [&str; 8] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "docker-bake.json",
    "docker-bake.override.json",
    "docker-bake.hcl",
    "docker-bake.override.hcl",
];

/// A bake file: its name (for messages and the format) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BakeFile {
    /// The name it was given by (`docker-bake.hcl`, `-`).
    pub name: String,
    /// Its contents.
    pub data: String,
}

/// The default files present in `dir`, read.
pub fn default_files(dir: &Path) -> Result<Vec<BakeFile>, crate::Error> {
    let mut files = Vec::new();
    for name in DEFAULT_FILES {
        let path = dir.join(name);
        if path.is_file() {
            files.push(read_file(&path, name)?);
        }
    }
    Ok(files)
}

/// Reads the file at `path`, named `name`.
pub fn read_file(path: &Path, name: &str) -> Result<BakeFile, crate::Error> {
    let data = std::fs::read_to_string(path).map_err(|source| crate::Error::Read {
        file: name.to_owned(),
        source,
    })?;
    Ok(BakeFile {
        name: name.to_owned(),
        data,
    })
}

/// How a file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Hcl,
    Json,
    Compose,
}

impl BakeFile {
    /// Its format, from its extension; without one, JSON when it parses as JSON, else HCL.
    pub(crate) fn format(&self) -> Format {
        let name = self.name.to_ascii_lowercase();
        if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".yml") || name.ends_with(".yaml") {
            Format::Compose
        } else if name.ends_with(".hcl") {
            Format::Hcl
        } else if serde_json::from_str::<serde_json::Value>(&self.data).is_ok() {
            Format::Json
        } else {
            Format::Hcl
        }
    }
}

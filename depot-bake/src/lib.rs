//! depot-bake: `docker buildx bake` definitions for depot-rs.
//!
//! Bake files (HCL, JSON and compose) are found like buildx finds
//! them ([`files`]), evaluated — variables with their defaults and environment overrides,
//! top-level attributes, the standard functions and user `function` blocks, `${}` templates,
//! `matrix` targets — and resolved into the
//! targets to build: groups expanded, `inherits` applied, `--set` overrides, defaults, and
//! targets used through `target:` contexts. [`Definition`] is what `--print` writes, the same
//! JSON as `docker buildx bake --print`.
//!
//! ```
//! use depot_bake::{BakeFile, Request, read};
//! let file = BakeFile {
//!     name: "docker-bake.hcl".into(),
//!     data: r#"
//!         variable "TAG" { default = "dev" }
//!         group "default" { targets = ["app"] }
//!         target "app" { tags = ["app:${TAG}"] }
//!     "#.into(),
//! };
//! let definition = read(&[file], &Request::default(), &|_| None).unwrap();
//! assert_eq!(definition.target["app"].tags, ["app:dev"]);
//! ```

mod cidr;
mod compose;
mod datetime;
pub mod dot_env;
mod evaluate;
pub mod files;
mod functions;
mod identifiers;
mod json_file;
mod location;
mod model;
mod overrides;
mod resolve;
mod try_can;
mod user_functions;

pub use files::{BakeFile, DEFAULT_FILES, default_files, read_file};
pub use location::Location;
pub use model::{Definition, Group, Target};

/// Why a bake definition cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("reading {file}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid HCL or JSON.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The line (from 1).
        line: usize,
        /// The column (from 1).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A file's contents cannot be evaluated.
    #[error("{at}: {message}")]
    Invalid {
        /// Where the offending block or attribute is.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// A target asked for (or inherited) is not defined.
    #[error("failed to find target {name} (the files define: {known})")]
    UnknownTarget {
        /// The name asked for.
        name: String,
        /// The targets and groups the files define.
        known: String,
    },
    /// No file was given or found.
    #[error(
        "couldn't find a bake definition: name one with -f, or add docker-bake.hcl (or \
         docker-bake.json, compose.yaml) to this directory"
    )]
    NoFiles,
    /// The definition is inconsistent (bad `--set`, a target linking to itself…).
    #[error("{0}")]
    Definition(String),
}

/// What to read from the files.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Targets or groups to build (`default` when empty).
    pub targets: Vec<String>,
    /// `--set target.key=value` overrides.
    pub overrides: Vec<String>,
    /// `BAKE_CMD_CONTEXT` (default `cwd://`).
    pub command_context: Option<String>,
    /// The working directory's `.env` file ([`dot_env::read`]): compose files take the
    /// variables the environment lacks from it.
    pub dot_env: Option<String>,
}

/// Reads the definition of `request`'s targets from `files`; `env` looks variables up (the
/// process environment, usually: `&|name| std::env::var(name).ok()`).
pub fn read(
    files: &[BakeFile],
    request: &Request,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Definition, Error> {
    if files.is_empty() {
        return Err(Error::NoFiles);
    }
    let builtins = [
        (
            "BAKE_CMD_CONTEXT",
            request
                .command_context
                .clone()
                .unwrap_or_else(|| "cwd://".into()),
        ),
        ("BAKE_LOCAL_PLATFORM", local_platform()),
    ];
    let dot_env = match &request.dot_env {
        Some(text) => dot_env::parse(text)?,
        None => Vec::new(),
    };
    let compose_env = |name: &str| {
        env(name).or_else(|| {
            dot_env
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    };
    let config = evaluate::evaluate(files, env, &compose_env, &builtins)?;
    let names: Vec<&str> = config
        .targets
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    let overrides = overrides::Overrides::parse(&request.overrides, &names, env)?;
    resolve::resolve(&config, &request.targets, &overrides)
}

/// This machine's platform as buildx names it (`linux/amd64`, `linux/arm64`).
fn local_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_hcl(data: &str, env: &[(&str, &str)]) -> Result<Definition, Error> {
        let file = BakeFile {
            name: "docker-bake.hcl".into(),
            data: data.into(),
        };
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        read(&[file], &Request::default(), &lookup)
    }

    fn error(data: &str, env: &[(&str, &str)]) -> String {
        read_hcl(data, env).unwrap_err().to_string()
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        let cycle = error(
            "variable \"A\" { default = B }\nvariable \"B\" { default = A }\ntarget \"default\" {}",
            &[],
        );
        assert!(cycle.contains("variable cycle not allowed for"), "{cycle}");
        let recursion = error(
            "function \"f\" {\n params = [x]\n result = f(x)\n}\ntarget \"default\" { tags = [f(1)] }",
            &[],
        );
        assert!(
            recursion.contains("function cycle not allowed for f"),
            "{recursion}"
        );
        let name = error("target \"default\" { name = \"x\" }", &[]);
        assert!(name.contains("name requires matrix"), "{name}");
        let duplicate = error(
            "target \"default\" {\n matrix = { v = [\"a\", \"b\"] }\n name = \"same\"\n}",
            &[],
        );
        assert!(duplicate.contains("duplicate name \"same\""), "{duplicate}");
        let bad_name = error(
            "target \"default\" {\n matrix = { v = [\"a b\"] }\n name = v\n}",
            &[],
        );
        assert!(
            bad_name.contains("only \"[a-zA-Z0-9_-]+\" are allowed"),
            "{bad_name}"
        );
        let boolean = error(
            "variable \"DEBUG\" { default = false }\ntarget \"default\" {}",
            &[("DEBUG", "maybe")],
        );
        assert!(boolean.contains("is not a boolean"), "{boolean}");
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        let undefined = error(
            "target \"default\" {\n  context = \".\"\n  tags = [\"app:${TAG}\"]\n}",
            &[],
        );
        assert!(
            undefined.starts_with("docker-bake.hcl:3:3: target \"default\": tags:"),
            "{undefined}"
        );
        assert!(undefined.contains("TAG"), "{undefined}");
        let block = error("target \"a\" {}\n\n  image \"x\" {}", &[]);
        assert!(
            block.starts_with("docker-bake.hcl:3:3: unknown block \"image\""),
            "{block}"
        );
        let syntax = error("target \"a\" {\n  tags = [\n}", &[]);
        assert!(syntax.starts_with("docker-bake.hcl:3:"), "{syntax}");
    }

    #[test]
    fn try_waits_for_the_variables_it_names() {
        let definition = read_hcl(
            "variable \"TAG\" { default = try(LATER, \"fallback\") }\n\
             variable \"LATER\" { default = upper(\"v1\") }\n\
             variable \"NONE\" { default = try(UNDECLARED, \"none\") }\n\
             target \"default\" { tags = [TAG, NONE, can(LATER) ? \"can\" : \"cannot\"] }",
            &[],
        )
        .unwrap();
        assert_eq!(definition.target["default"].tags, ["V1", "none", "can"]);
        let cycle = error(
            "variable \"A\" { default = try(B, 1) }\nvariable \"B\" { default = try(A, 2) }\n\
             target \"default\" {}",
            &[],
        );
        assert!(
            cycle.contains("variable cycle not allowed for A"),
            "{cycle}"
        );
    }

    #[test]
    fn variables_without_a_default_come_from_the_environment() {
        let definition = read_hcl(
            "variable \"TAG\" {}\ntarget \"default\" { tags = [\"app:${TAG}\"] }",
            &[("TAG", "v2")],
        )
        .unwrap();
        assert_eq!(definition.target["default"].tags, ["app:v2"]);
        let definition = read_hcl(
            "variable \"TAG\" {}\ntarget \"default\" { tags = [\"app:${TAG}\"] }",
            &[],
        )
        .unwrap();
        assert_eq!(definition.target["default"].tags, ["app:"]);
    }
}

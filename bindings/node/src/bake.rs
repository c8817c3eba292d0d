//! Bakes: buildx bake files (or a definition's text) evaluated and built as one bake through
//! [`depot_build::run::start_definition`], as `depot bake` builds them; the handle is a
//! [`NativeBuild`] whose events carry their `target`.

use std::collections::HashMap;
use std::path::PathBuf;

use depot_build::flags::StandardOutput;
use depot_build::run::{BakeOptions as Options, BakeSource, LoadAfter, start_definition};
use napi_derive::napi;

use crate::builds::NativeBuild;
use crate::client::NativeClient;
use crate::error::fail;

/// A bake, with the options of `depot bake`.
#[napi(object)]
#[derive(Default)]
pub struct BakeOptions {
    /// Bake files (HCL, JSON, compose), merged in order, relative to `dir`. Without files or
    /// `definition`: the default files of `dir` (`docker-bake.hcl`, `compose.yaml`, …).
    pub files: Option<Vec<String>>,
    /// A definition's text (HCL or JSON), merged after the files.
    pub definition: Option<String>,
    /// Targets or groups to build (default: the `default` group).
    pub targets: Option<Vec<String>>,
    /// Overrides, as `--set` takes them: `target.key=value` (`*` patterns).
    pub set: Option<Vec<String>>,
    /// Variables, over the process environment.
    pub variables: Option<HashMap<String, String>>,
    /// Where the files, contexts and Dockerfiles are (default: the working directory).
    pub dir: Option<String>,
    /// The project (default: the client's).
    pub project: Option<String>,
    /// Save every target in the project's registry (`<build>-<target>`).
    pub save: Option<bool>,
    /// More tags for the saved targets (implies `save`).
    pub save_tags: Option<Vec<String>>,
    /// Push every target's image to its tags.
    pub push: Option<bool>,
    /// Load every target that has tags into the Docker Engine, named with them.
    pub load: Option<bool>,
    /// Provenance attestation for every target: `true`, `false` or `mode=max`.
    pub provenance: Option<String>,
    /// SBOM attestation for every target: `true`, `false` or `generator=…`.
    pub sbom: Option<String>,
}

#[napi]
impl NativeClient {
    /// Evaluates the bake files and starts the bake of their targets.
    #[napi]
    pub async fn bake(&self, options: Option<BakeOptions>) -> napi::Result<NativeBuild> {
        let options = options.unwrap_or_default();
        let source = BakeSource {
            files: options
                .files
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            inline: options.definition,
            targets: options.targets.unwrap_or_default(),
            overrides: options.set.unwrap_or_default(),
            env: options.variables.unwrap_or_default().into_iter().collect(),
        };
        let dir = options.dir.map(PathBuf::from);
        let definition = source.read(dir.as_deref()).map_err(fail)?;
        let load = options.load.unwrap_or(false);
        let bake = Options {
            project: options.project.or_else(|| self.project_id()),
            save: options.save.unwrap_or(false),
            save_tags: options.save_tags.unwrap_or_default(),
            push: options.push.unwrap_or(false),
            load,
            provenance: options.provenance,
            sbom: options.sbom,
            dir,
        };
        let running = start_definition(
            &self.client,
            &definition,
            &bake,
            StandardOutput::Refused,
            false,
        )
        .await
        .map_err(fail)?;
        let load = load.then_some(LoadAfter::Targets(definition));
        Ok(NativeBuild::new(self.client.clone(), running, load))
    }
}

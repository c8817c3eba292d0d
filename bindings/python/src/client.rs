//! `Client`: configuration resolved like the CLI, and the API calls on projects and tokens.

use depot_core::ErrorKind;
use std::collections::BTreeMap;
use std::path::PathBuf;

use depot_core::DepotClient;
use depot_core::config::{Environment, ResolvedConfig, find_project_config};
use depot_core::proto::depot::cli::v1::GetPullTokenRequest;
use depot_core::proto::depot::cli::v1beta1::ListProjectsRequest;
use depot_core::proto::depot::core::v1::CreateProjectRequest;
use pyo3::prelude::*;
use serde_json::json;

use crate::convert::Json;
use crate::errors::Failure;
use crate::json_call;
use crate::runtime::awaitable;
use depot_build::flags::BuildFlags;
use depot_build::run::{BakeOptions, BakeSource};
use depot_core::insights::{self, Period};
use depot_registry::client::{
    CopyOptions, PullDestination, PullRequest, pull_reference, push_build,
};

/// A client of a Depot API (depot-server or Depot's hosted API).
#[pyclass(frozen, module = "depot_rs._native")]
pub struct Client {
    pub(crate) api: DepotClient,
    pub(crate) config: ResolvedConfig,
}

impl Client {
    /// The project given by `project`, else the resolved one.
    pub(crate) fn project_or(&self, project: Option<String>) -> Result<String, Failure> {
        match project.filter(|p| !p.is_empty()) {
            Some(project) => Ok(project),
            None => Ok(self.config.require_project()?.to_owned()),
        }
    }
}

#[pymethods]
impl Client {
    /// Resolves URL, token and project like the `depot` CLI and returns a client.
    #[staticmethod]
    #[pyo3(signature = (token=None, api_url=None, project=None, cwd=None))]
    fn connect(
        py: Python<'_>,
        token: Option<String>,
        api_url: Option<String>,
        project: Option<String>,
        cwd: Option<PathBuf>,
    ) -> PyResult<Bound<'_, PyAny>> {
        let mut vars: Vec<(String, String)> = std::env::vars().collect();
        if let Some(url) = api_url {
            vars.push(("DEPOT_API_URL".into(), url));
        }
        awaitable(py, async move {
            let dir = match cwd {
                Some(dir) => dir,
                None => std::env::current_dir().map_err(|e| {
                    Failure::message(
                        ErrorKind::Config,
                        format!("cannot read the working directory: {e}"),
                    )
                })?,
            };
            let env = Environment::from_vars(vars);
            let config =
                ResolvedConfig::resolve_in(&env, token.as_deref(), project.as_deref(), &dir)
                    .await?;
            config.require_token()?;
            let api = DepotClient::new(config.client_options())?;
            Ok(Client { api, config })
        })
    }

    /// The resolved project ID, if any.
    #[getter]
    fn project(&self) -> Option<String> {
        self.config.project.as_ref().map(|(id, _)| id.clone())
    }

    /// The API base URL.
    #[getter]
    fn api_url(&self) -> String {
        self.config.api_url.clone()
    }

    /// The projects the token can see.
    fn list_projects<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let api = self.api.clone();
        awaitable(py, async move {
            let projects = api
                .projects()
                .list_projects(ListProjectsRequest {})
                .await?
                .projects;
            Ok(Json(
                projects
                    .into_iter()
                    .map(|p| {
                        let org_name = Some(p.org_name).filter(|name| !name.is_empty());
                        json!({"id": p.id, "name": p.name, "org_id": p.org_id, "org_name": org_name})
                    })
                    .collect(),
            ))
        })
    }

    /// Creates a project; returns it.
    #[pyo3(signature = (name, *, organization_id=None, region_id=None))]
    fn create_project<'py>(
        &self,
        py: Python<'py>,
        name: String,
        organization_id: Option<String>,
        region_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let api = self.api.clone();
        let organization_id = organization_id.or_else(|| self.config.org_id.clone());
        awaitable(py, async move {
            let created = api
                .project_admin()
                .create_project(CreateProjectRequest {
                    name,
                    organization_id,
                    region_id: region_id.unwrap_or_default(),
                    cache_policy: None,
                })
                .await?;
            let project = created.project.unwrap_or_default();
            Ok(Json(json!({
                "id": project.project_id,
                "name": project.name,
                "org_id": project.organization_id,
                "org_name": null,
            })))
        })
    }

    /// A short-lived, read-only registry token for a project (or one build's image).
    #[pyo3(signature = (*, project=None, build_id=None))]
    fn pull_token<'py>(
        &self,
        py: Python<'py>,
        project: Option<String>,
        build_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let api = self.api.clone();
        let project_id = match (&project, &build_id) {
            (None, Some(_)) => None,
            _ => Some(self.project_or(project)?),
        };
        awaitable(py, async move {
            let token = api
                .builds()
                .get_pull_token(GetPullTokenRequest {
                    project_id,
                    build_id,
                })
                .await?;
            Ok(Json(
                json!({"token": token.token, "registry_host": token.registry_host}),
            ))
        })
    }

    /// Acquires a builder for `project` (default: the resolved one); see `AcquiredBuilder`.
    #[pyo3(signature = (*, project=None, platform=None))]
    fn acquire_builder<'py>(
        &self,
        py: Python<'py>,
        project: Option<String>,
        platform: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::builder::acquire(py, &self.api, self.project_or(project)?, platform)
    }

    /// Pulls a saved build (by ID; one bake `target` of it) or a tag of the project's
    /// repository into the Docker Engine, or into the OCI image layout directory `oci_layout`;
    /// returns `{"reference", "digest"}` (digest only for layouts).
    #[pyo3(signature = (reference, *, project=None, target=None, oci_layout=None, tags=Vec::new(), platform=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn pull<'py>(
        &self,
        py: Python<'py>,
        reference: String,
        project: Option<String>,
        target: Option<String>,
        oci_layout: Option<PathBuf>,
        tags: Vec<String>,
        platform: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let api = self.api.clone();
        let project = project.or_else(|| self.project());
        let progress = crate::registry::progress_sink(progress);
        awaitable(py, async move {
            let request = PullRequest {
                project: project.as_deref(),
                target: target.as_deref(),
                destination: oci_layout.map_or(PullDestination::Docker, PullDestination::Layout),
                names: &tags,
                platform: platform.as_deref(),
            };
            let pulled = pull_reference(&api, &reference, &request, &progress).await?;
            Ok(Json(
                json!({"reference": pulled.reference, "digest": pulled.digest}),
            ))
        })
    }

    /// Pushes a saved build (one bake `target` of it) to every tag of `tags`, recorded with
    /// StartPush/FinishPush like `depot push`; returns `{"digest"}`, the same everywhere.
    #[pyo3(signature = (build_id, tags, *, target=None, credentials=None, progress=None))]
    fn push<'py>(
        &self,
        py: Python<'py>,
        build_id: String,
        tags: Vec<String>,
        target: Option<String>,
        credentials: Option<(String, String)>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let api = self.api.clone();
        let progress = crate::registry::progress_sink(progress);
        awaitable(py, async move {
            let pushed = push_build(
                &api,
                &build_id,
                target.as_deref(),
                &tags,
                credentials.map(crate::registry::basic),
                &CopyOptions::default(),
                &progress,
            )
            .await?;
            Ok(Json(json!({"digest": pushed.digest})))
        })
    }

    /// The images of the project's registry.
    #[pyo3(signature = (*, project=None))]
    fn list_images<'py>(
        &self,
        py: Python<'py>,
        project: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::registry::list_images(py, &self.api, self.project_or(project)?)
    }

    /// Deletes tags from the project's registry.
    #[pyo3(signature = (tags, *, project=None))]
    fn delete_images<'py>(
        &self,
        py: Python<'py>,
        tags: Vec<String>,
        project: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::registry::delete_images(py, &self.api, self.project_or(project)?, tags)
    }

    /// A build's summary.
    fn get_build<'py>(&self, py: Python<'py>, build_id: String) -> PyResult<Bound<'py, PyAny>> {
        json_call::call(py, &self.api, move |api| async move {
            insights::get_build(&api, &build_id).await
        })
    }

    /// The project's builds, newest first.
    #[pyo3(signature = (*, project=None, limit=None))]
    fn list_builds<'py>(
        &self,
        py: Python<'py>,
        project: Option<String>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let project = self.project_or(project)?;
        json_call::call(py, &self.api, move |api| async move {
            insights::list_builds(&api, &project, limit).await
        })
    }

    /// Every step of a build.
    fn build_steps<'py>(&self, py: Python<'py>, build_id: String) -> PyResult<Bound<'py, PyAny>> {
        json_call::call(py, &self.api, move |api| async move {
            insights::build_steps(&api, &build_id).await
        })
    }

    /// Every kept line of one step of a build.
    fn build_step_logs<'py>(
        &self,
        py: Python<'py>,
        build_id: String,
        digest: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        json_call::call(py, &self.api, move |api| async move {
            insights::build_step_logs(&api, &build_id, &digest).await
        })
    }

    /// Shares a build; its link.
    fn share_build<'py>(&self, py: Python<'py>, build_id: String) -> PyResult<Bound<'py, PyAny>> {
        json_call::call(py, &self.api, move |api| async move {
            insights::share_build(&api, &build_id).await
        })
    }

    /// Stops sharing a build.
    fn stop_sharing_build<'py>(
        &self,
        py: Python<'py>,
        build_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        json_call::call(py, &self.api, move |api| async move {
            insights::stop_sharing_build(&api, &build_id).await
        })
    }

    /// Usage of every project the token administers, in a period (milliseconds).
    #[pyo3(signature = (*, start=None, end=None))]
    fn usage<'py>(
        &self,
        py: Python<'py>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        json_call::call(py, &self.api, move |api| async move {
            insights::usage(&api, Period { start, end }).await
        })
    }

    /// One project's builds in a period (milliseconds).
    #[pyo3(signature = (*, project=None, start=None, end=None))]
    fn project_usage<'py>(
        &self,
        py: Python<'py>,
        project: Option<String>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let project = self.project_or(project)?;
        json_call::call(py, &self.api, move |api| async move {
            insights::project_usage(&api, &project, Period { start, end }).await
        })
    }

    /// The project's tokens.
    #[pyo3(signature = (*, project=None))]
    fn list_tokens<'py>(
        &self,
        py: Python<'py>,
        project: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let project = self.project_or(project)?;
        json_call::call(py, &self.api, move |api| async move {
            insights::list_tokens(&api, &project).await
        })
    }

    /// Creates a project token.
    #[pyo3(signature = (description, *, project=None))]
    fn create_token<'py>(
        &self,
        py: Python<'py>,
        description: String,
        project: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let project = self.project_or(project)?;
        json_call::call(py, &self.api, move |api| async move {
            insights::create_token(&api, &project, &description).await
        })
    }

    /// Changes a project token's description.
    fn update_token<'py>(
        &self,
        py: Python<'py>,
        token_id: String,
        description: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        json_call::call(py, &self.api, move |api| async move {
            insights::update_token(&api, &token_id, &description).await
        })
    }

    /// Deletes a project token.
    fn delete_token<'py>(&self, py: Python<'py>, token_id: String) -> PyResult<Bound<'py, PyAny>> {
        json_call::call(py, &self.api, move |api| async move {
            insights::delete_token(&api, &token_id).await
        })
    }

    /// Exchanges a CI job's OIDC token for a short-lived project token.
    #[pyo3(signature = (*, project=None, token=None))]
    fn exchange_ci_token<'py>(
        &self,
        py: Python<'py>,
        project: Option<String>,
        token: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::oidc::exchange(py, &self.api, self.project_or(project)?, token)
    }

    /// Starts a build (see `depot build`'s flags); returns a `BuildHandle` once it is
    /// registered. The project is `project`, else the client's, else the nearest `depot.json`
    /// above the context.
    #[pyo3(signature = (
        context=PathBuf::from("."), *, dockerfile=None, tags=Vec::new(), build_args=BTreeMap::new(),
        target=None, platforms=Vec::new(), no_cache=false, no_cache_filter=Vec::new(), save=false,
        save_tags=Vec::new(), push=false, load=false, outputs=Vec::new(), labels=BTreeMap::new(),
        build_contexts=BTreeMap::new(), secrets=Vec::new(), ssh=Vec::new(), cache_from=Vec::new(),
        cache_to=Vec::new(), add_hosts=Vec::new(), network=None, allow=Vec::new(),
        build_platform=None, provenance=None, sbom=None, lint=false, project=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn build<'py>(
        &self,
        py: Python<'py>,
        context: PathBuf,
        dockerfile: Option<PathBuf>,
        tags: Vec<String>,
        build_args: BTreeMap<String, String>,
        target: Option<String>,
        platforms: Vec<String>,
        no_cache: bool,
        no_cache_filter: Vec<String>,
        save: bool,
        save_tags: Vec<String>,
        push: bool,
        load: bool,
        outputs: Vec<String>,
        labels: BTreeMap<String, String>,
        build_contexts: BTreeMap<String, String>,
        secrets: Vec<String>,
        ssh: Vec<String>,
        cache_from: Vec<String>,
        cache_to: Vec<String>,
        add_hosts: Vec<String>,
        network: Option<String>,
        allow: Vec<String>,
        build_platform: Option<String>,
        provenance: Option<String>,
        sbom: Option<String>,
        lint: bool,
        project: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let project = match project.or_else(|| self.project()) {
            Some(project) => Some(project),
            None => find_project_config(&context)
                .map_err(Failure::from)?
                .map(|(id, _)| id),
        };
        let flags = BuildFlags {
            context,
            file: dockerfile,
            tags,
            target,
            build_args: BuildFlags::pairs(build_args),
            labels: BuildFlags::pairs(labels),
            platforms,
            no_cache,
            no_cache_filter,
            build_contexts: BuildFlags::pairs(build_contexts),
            add_hosts,
            network,
            cache_from,
            cache_to,
            secrets,
            ssh,
            allow,
            outputs,
            push,
            load,
            provenance,
            sbom,
            save,
            save_tags,
            build_platform,
            lint,
            project,
        };
        crate::build::start(py, &self.api, flags)
    }

    /// Evaluates bake files (`files`, else `definition`'s text, else the default files of
    /// `dir`) and starts the bake of their targets (see `depot bake`'s flags); returns a
    /// `BuildHandle` whose events carry their `target`.
    #[pyo3(signature = (
        targets=Vec::new(), *, files=Vec::new(), definition=None, set=Vec::new(),
        variables=BTreeMap::new(), dir=None, save=false, save_tags=Vec::new(), push=false,
        load=false, provenance=None, sbom=None, project=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn bake<'py>(
        &self,
        py: Python<'py>,
        targets: Vec<String>,
        files: Vec<PathBuf>,
        definition: Option<String>,
        set: Vec<String>,
        variables: BTreeMap<String, String>,
        dir: Option<PathBuf>,
        save: bool,
        save_tags: Vec<String>,
        push: bool,
        load: bool,
        provenance: Option<String>,
        sbom: Option<String>,
        project: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let source = BakeSource {
            files,
            inline: definition,
            targets,
            overrides: set,
            env: variables,
        };
        let options = BakeOptions {
            project: project.or_else(|| self.project()),
            save,
            save_tags,
            push,
            load,
            provenance,
            sbom,
            dir,
        };
        crate::build::start_bake(py, &self.api, source, options)
    }
}

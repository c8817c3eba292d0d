//! Builds (`depot.cli.v1.BuildService`): the control-plane records of builds, their listing,
//! and pull tokens. Builder acquisition is served by depot-build's builder pool.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use prost::Message as _;

use super::{ControlPlane, timestamp};
use crate::auth::{Access, Principal};
use crate::ids::is_valid_id;
use crate::store::{self, NewToken};
use crate::tokens::TokenKind;
use depot_core::connect::ConnectError;
use depot_core::proto::depot::cli::v1::{self as api, BuildStatus, finish_build_request};

/// Builds returned per `ListBuilds` page when the request does not say.
pub const DEFAULT_PAGE_SIZE: i32 = 100;
/// Most builds returned per `ListBuilds` page.
pub const MAX_PAGE_SIZE: i32 = 1000;

impl ControlPlane {
    pub(super) async fn create_build(
        &self,
        principal: Principal,
        mut request: api::CreateBuildRequest,
    ) -> Result<api::CreateBuildResponse, ConnectError> {
        let project_id = request
            .project_id
            .take()
            .filter(|p| !p.is_empty())
            .or_else(|| principal.bound_project().map(str::to_owned))
            // `not_found` makes the official CLI offer its project picker.
            .ok_or_else(|| ConnectError::not_found("no project given: pass --project"))?;
        let save_tags = request
            .options
            .iter()
            .flat_map(|o| o.save_tags.iter())
            .map(|tag| validate_tag(tag).map(|()| tag.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let project = principal
            .authorize_project(&self.store, &project_id, Access::Build)
            .await?;
        let isolated = principal.is_isolated();
        if isolated && let Some(flag) = request.options.iter().find_map(registry_flag) {
            return Err(ConnectError::permission_denied(format!(
                "this build is isolated (a pull request from a fork): it cannot use the \
                 project's registry, so {flag} is not available; build without it, or with \
                 --output to write the image locally"
            )));
        }
        let recorded = api::CreateBuildRequest {
            project_id: Some(project.id.clone()),
            ..request.clone()
        };
        let (build, token) = self
            .store
            .create_build(
                &project,
                STANDARD.encode(recorded.encode_to_vec()),
                self.config.build_token_ttl,
                isolated,
            )
            .await?;
        let registry = &self.config.registry_host;
        let repository = format!("{registry}/{}", project.id);
        // An isolated build gets no registry tags or credentials: it cannot save.
        let additional_tags = std::iter::once(build.id.as_str())
            .chain(save_tags)
            .filter(|_| !isolated)
            .map(|tag| api::create_build_response::Tag {
                tag: format!("{repository}:{tag}"),
                push: true,
            })
            .collect();
        let additional_credentials = (!isolated)
            .then(|| api::create_build_response::Credential {
                host: registry.clone(),
                token: STANDARD.encode(format!("x-token:{}", token.expose())),
            })
            .into_iter()
            .collect();
        Ok(api::CreateBuildResponse {
            build_url: self.build_url(&build.id),
            build_id: build.id,
            build_token: token.expose().to_owned(),
            registry: Some(api::Registry {
                can_use_local_registry: false,
                proxy_image: String::new(),
                load_using_registry: true,
            }),
            profiler: None,
            project_id: project.id,
            additional_credentials,
            additional_tags,
        })
    }

    pub(super) async fn get_build(
        &self,
        principal: Principal,
        request: api::GetBuildRequest,
    ) -> Result<api::GetBuildResponse, ConnectError> {
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Read)
            .await?;
        Ok(api::GetBuildResponse {
            build_url: self.build_url(&build.id),
            build_id: build.id,
            project_id: build.project_id,
        })
    }

    pub(super) async fn finish_build(
        &self,
        principal: Principal,
        request: api::FinishBuildRequest,
    ) -> Result<api::FinishBuildResponse, ConnectError> {
        let (status, error) = match &request.result {
            Some(finish_build_request::Result::Success(_)) => (BuildStatus::Finished, None),
            Some(finish_build_request::Result::Error(e)) => {
                (BuildStatus::Failed, Some(e.error.as_str()))
            }
            Some(finish_build_request::Result::Canceled(_)) => (BuildStatus::Canceled, None),
            None => {
                return Err(ConnectError::invalid_argument(
                    "FinishBuild needs a result: success, error or canceled",
                ));
            }
        };
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Write)
            .await?;
        // A second FinishBuild (the CLI also sends one from its signal handler) keeps the first
        // result.
        self.end_build(&build.id, status, error).await?;
        Ok(api::FinishBuildResponse {})
    }

    pub(super) async fn list_builds(
        &self,
        principal: Principal,
        request: api::ListBuildsRequest,
    ) -> Result<api::ListBuildsResponse, ConnectError> {
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            n => {
                return Err(ConnectError::invalid_argument(format!(
                    "page_size {n} is out of range 1-{MAX_PAGE_SIZE}"
                )));
            }
        };
        let cursor = match request.page_token.as_str() {
            "" => None,
            token => Some(decode_page_token(token)?),
        };
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Read)
            .await?;
        let mut builds = self
            .store
            .list_builds(
                &project.id,
                i64::from(page_size) + 1,
                cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
            )
            .await?;
        let next_page_token = if builds.len() > page_size as usize {
            builds.truncate(page_size as usize);
            builds.last().map(encode_page_token).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(api::ListBuildsResponse {
            builds: builds
                .into_iter()
                .map(|b| api::Build {
                    id: b.id,
                    status: b.status as i32,
                    created_at: Some(timestamp(b.created_at)),
                    finished_at: b.finished_at.map(timestamp),
                })
                .collect(),
            next_page_token,
        })
    }

    pub(super) async fn get_pull_info(
        &self,
        principal: Principal,
        request: api::GetPullInfoRequest,
    ) -> Result<api::GetPullInfoResponse, ConnectError> {
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Read)
            .await?;
        if build.isolated != 0 {
            return Err(ConnectError::failed_precondition(format!(
                "build {} is isolated (a pull request from a fork): it was not saved, so there is \
                 nothing to pull",
                build.id
            )));
        }
        let options = build
            .request
            .as_deref()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| api::CreateBuildRequest::decode(&r[..]).ok())
            .map(|r| r.options)
            .unwrap_or_default();
        let (_, secret) = self
            .store
            .create_token(&NewToken {
                kind: TokenKind::Pull,
                description: format!("pull build {}", build.id),
                user_id: None,
                org_id: None,
                project_id: Some(build.project_id.clone()),
                build_id: Some(build.id.clone()),
                ttl: Some(self.config.pull_token_ttl),
            })
            .await?;
        let registry = &self.config.registry_host;
        Ok(api::GetPullInfoResponse {
            reference: format!("{registry}/{}:{}", build.project_id, build.id),
            username: "x-token".into(),
            password: secret.expose().to_owned(),
            save_for_load: options.iter().any(|o| o.load),
            options,
            registry_host: registry.clone(),
        })
    }

    pub(super) async fn get_pull_token(
        &self,
        principal: Principal,
        request: api::GetPullTokenRequest,
    ) -> Result<api::GetPullTokenResponse, ConnectError> {
        // The official CLI sends both optional fields, empty when unset.
        let project_id = request.project_id.filter(|p| !p.is_empty());
        let build_id = request.build_id.filter(|b| !b.is_empty());
        let project_id = match &build_id {
            Some(build_id) => {
                let build = self
                    .authorize_build(&principal, build_id, Access::Read)
                    .await?;
                if project_id.as_ref().is_some_and(|p| *p != build.project_id) {
                    return Err(ConnectError::invalid_argument(format!(
                        "build {build_id} does not belong to project {}",
                        project_id.unwrap_or_default()
                    )));
                }
                build.project_id
            }
            None => {
                let project_id = project_id
                    .or_else(|| principal.bound_project().map(str::to_owned))
                    .ok_or_else(|| {
                        ConnectError::invalid_argument(
                            "a pull token needs a project: pass --project or a build ID",
                        )
                    })?;
                principal
                    .authorize_project(&self.store, &project_id, Access::Read)
                    .await?
                    .id
            }
        };
        let (_, secret) = self
            .store
            .create_token(&NewToken {
                kind: TokenKind::Pull,
                description: "pull token".into(),
                user_id: None,
                org_id: None,
                project_id: Some(project_id),
                build_id,
                ttl: Some(self.config.pull_token_ttl),
            })
            .await?;
        Ok(api::GetPullTokenResponse {
            token: secret.expose().to_owned(),
            registry_host: self.config.registry_host.clone(),
        })
    }

    /// Loads a build and checks `principal` may act on it: its own build token, or `access`
    /// to its project.
    pub(super) async fn authorize_build(
        &self,
        principal: &Principal,
        build_id: &str,
        access: Access,
    ) -> Result<store::Build, ConnectError> {
        if build_id.is_empty() {
            return Err(ConnectError::invalid_argument("build_id is required"));
        }
        let not_found = || ConnectError::not_found(format!("build {build_id} not found"));
        if !is_valid_id(build_id) {
            return Err(not_found());
        }
        let build = self
            .store
            .get_build(build_id)
            .await?
            .ok_or_else(not_found)?;
        match principal {
            Principal::Build { build_id: own, .. } if *own == build.id => Ok(build),
            Principal::Build { .. } | Principal::Pull { .. } => {
                Err(principal.denied(&format!("build {build_id}")))
            }
            _ => {
                principal
                    .authorize_project(&self.store, &build.project_id, access)
                    .await?;
                Ok(build)
            }
        }
    }
}

/// The first flag of `options` that needs the project's registry (`--save`, `--save-tag`,
/// `--load`, which loads through the registry), if any.
fn registry_flag(options: &api::BuildOptions) -> Option<&'static str> {
    if !options.save_tags.is_empty() {
        Some("--save-tag")
    } else if options.save {
        Some("--save")
    } else if options.load {
        Some("--load")
    } else {
        None
    }
}

/// Checks a `--save-tag` against the OCI tag grammar.
fn validate_tag(tag: &str) -> Result<(), ConnectError> {
    let mut bytes = tag.bytes();
    let valid = tag.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(ConnectError::invalid_argument(format!(
            "invalid save tag {tag:?}: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        )))
    }
}

fn encode_page_token(build: &store::Build) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", build.created_at, build.id))
}

fn decode_page_token(token: &str) -> Result<(i64, String), ConnectError> {
    let invalid = || ConnectError::invalid_argument("invalid page_token");
    let text = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let (at, id) = text.split_once(':').ok_or_else(invalid)?;
    let at = at.parse().map_err(|_| invalid())?;
    if !is_valid_id(id) {
        return Err(invalid());
    }
    Ok((at, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_tags_follow_the_oci_grammar() {
        assert!(validate_tag("v1.2-rc_3").is_ok());
        assert!(validate_tag("_x").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let build = store::Build {
            id: "abc123".into(),
            project_id: "p".into(),
            status: 1,
            error: None,
            created_at: 42,
            finished_at: None,
            request: None,
            last_seen_at: None,
            cancel_requested_at: None,
            isolated: 0,
        };
        let token = encode_page_token(&build);
        assert_eq!(
            decode_page_token(&token).unwrap(),
            (42, "abc123".to_owned())
        );
        assert!(decode_page_token("!!").is_err());
        assert!(decode_page_token(&URL_SAFE_NO_PAD.encode("x:abc")).is_err());
        assert!(decode_page_token(&URL_SAFE_NO_PAD.encode("1:../x")).is_err());
    }
}

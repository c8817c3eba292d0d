//! `--push`, `--save` and `--load` as BuildKit outputs, the way the official CLI turns them:
//! `--push` pushes the first image output (or a new one named by the tags); `--save` pushes
//! every image output to the build's registry tags, which replace the user's tags unless they
//! are pushed too; `--load` on a server that loads through its registry saves the build, to be
//! pulled into Docker afterwards.

use super::{BuildInfo, BuilderRequest, Error};
use crate::buildkit::Output;

/// The outputs of a build on `info`'s builder: `outputs` (the parsed `--output`s) adjusted for
/// `request`'s push, save and load.
pub fn plan_outputs(
    mut outputs: Vec<Output>,
    request: &BuilderRequest,
    info: &BuildInfo,
) -> Result<Vec<Output>, Error> {
    if request.load && !info.load_using_registry {
        return Err(Error::Unsupported(
            "--load needs a server that loads builds through its registry \
             (load_using_registry); use --output type=docker,dest=<file> and `docker load`"
                .into(),
        ));
    }
    let save = request.save || request.load;
    if request.push && !outputs.iter().any(is_image) {
        outputs.push(Output::Image {
            names: request.tags.clone(),
            push: true,
            attrs: Default::default(),
        });
    }
    if let Some(Output::Image { push, .. }) = outputs.iter_mut().find(|o| is_image(o)) {
        *push |= request.push;
    }
    if save {
        if info.additional_tags.is_empty() {
            return Err(Error::Protocol(format!(
                "the server gave build {} no registry tags to save it to",
                info.build_id
            )));
        }
        if !outputs.iter().any(is_image) {
            outputs.push(Output::Image {
                names: Vec::new(),
                push: true,
                attrs: Default::default(),
            });
        }
        for output in &mut outputs {
            if let Output::Image { names, push, .. } = output {
                if !request.push {
                    names.clear();
                }
                names.extend(info.additional_tags.iter().cloned());
                *push = true;
            }
        }
    }
    if outputs
        .iter()
        .any(|o| matches!(o, Output::Image { names, push: true, .. } if names.is_empty()))
    {
        return Err(Error::Unsupported(
            "pushing needs an image name: pass -t <registry>/<repository>:<tag>".into(),
        ));
    }
    Ok(outputs)
}

fn is_image(output: &Output) -> bool {
    matches!(output, Output::Image { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::TarDestination;
    use depot_core::proto::depot::cli::v1::BuilderPlatform;

    fn info(load_using_registry: bool) -> BuildInfo {
        BuildInfo {
            build_id: "b1".into(),
            project_id: "p1".into(),
            build_token: "t".into(),
            build_url: String::new(),
            additional_tags: vec!["reg/p1:b1".into(), "reg/p1:extra".into()],
            additional_credentials: Vec::new(),
            load_using_registry,
            platform: BuilderPlatform::Amd64,
        }
    }

    fn images(outputs: &[Output]) -> Vec<(Vec<String>, bool)> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Image { names, push, .. } => Some((names.clone(), *push)),
                _ => None,
            })
            .collect()
    }

    fn request(tags: &[&str]) -> BuilderRequest {
        BuilderRequest {
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..BuilderRequest::default()
        }
    }

    #[test]
    fn push_names_one_image_with_every_tag() {
        let push = BuilderRequest {
            push: true,
            ..request(&["r/app:1", "r/app:2"])
        };
        let outputs = plan_outputs(Vec::new(), &push, &info(true)).unwrap();
        assert_eq!(
            images(&outputs),
            [(vec!["r/app:1".to_owned(), "r/app:2".to_owned()], true)]
        );
        let untagged = BuilderRequest {
            push: true,
            ..request(&[])
        };
        assert!(plan_outputs(Vec::new(), &untagged, &info(true)).is_err());
    }

    #[test]
    fn save_replaces_the_tags_unless_pushed() {
        let save = BuilderRequest {
            save: true,
            ..request(&["app:1"])
        };
        let oci = Output::Oci {
            dest: TarDestination::File("x.tar".into()),
            attrs: Default::default(),
        };
        let outputs = plan_outputs(vec![oci], &save, &info(true)).unwrap();
        assert_eq!(outputs.len(), 2);
        assert_eq!(
            images(&outputs),
            [(
                vec!["reg/p1:b1".to_owned(), "reg/p1:extra".to_owned()],
                true
            )]
        );
        let save_and_push = BuilderRequest { push: true, ..save };
        let outputs = plan_outputs(Vec::new(), &save_and_push, &info(true)).unwrap();
        assert_eq!(
            images(&outputs)[0].0,
            ["app:1", "reg/p1:b1", "reg/p1:extra"]
        );
    }

    #[test]
    fn load_saves_through_the_registry_or_is_refused() {
        let load = BuilderRequest {
            load: true,
            ..request(&["app:1"])
        };
        let outputs = plan_outputs(Vec::new(), &load, &info(true)).unwrap();
        assert_eq!(images(&outputs)[0].0, ["reg/p1:b1", "reg/p1:extra"]);
        let refused = plan_outputs(Vec::new(), &load, &info(false)).unwrap_err();
        assert!(refused.to_string().contains("--load"));
    }

    #[test]
    fn plain_builds_keep_their_outputs() {
        let outputs = plan_outputs(
            vec![Output::Local { dir: "out".into() }],
            &request(&["app:1"]),
            &info(true),
        )
        .unwrap();
        assert!(matches!(outputs[..], [Output::Local { .. }]));
    }
}

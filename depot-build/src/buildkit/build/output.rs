//! Exporters as the caller asks for them, and what each becomes in the solve request and in
//! the session.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use bollard_buildkit_proto::moby::buildkit::v1 as control;
use tokio::sync::Mutex;

use crate::buildkit::Exporter;
use crate::buildkit::session::{OutputSink, TarDestination};
use crate::fsutil::TransferCounters;

/// Where a build's result goes.
#[derive(Debug)]
pub enum Output {
    /// An image in the daemon's image store, named, and pushed with `push`.
    Image {
        /// References to name it (`registry/repo:tag`).
        names: Vec<String>,
        /// Push it to the names' registries (credentials come through the session).
        push: bool,
        /// Further exporter attributes (`oci-mediatypes`, `compression`, `annotation.*`…).
        attrs: BTreeMap<String, String>,
    },
    /// An OCI image layout tarball.
    Oci {
        /// Where the tarball goes.
        dest: TarDestination,
        /// Further exporter attributes (`name`, `compression`…).
        attrs: BTreeMap<String, String>,
    },
    /// A tarball for `docker load`.
    Docker {
        /// Where the tarball goes.
        dest: TarDestination,
        /// Further exporter attributes (`name`…).
        attrs: BTreeMap<String, String>,
    },
    /// The result's files as a tarball.
    Tar {
        /// Where the tarball goes.
        dest: TarDestination,
    },
    /// The result's files, written into a directory (created if missing, merged if not).
    Local {
        /// The directory.
        dir: PathBuf,
    },
    /// An image loaded into the Docker Engine that runs BuildKit.
    Moby {
        /// Names for it.
        names: Vec<String>,
    },
}

impl Output {
    /// The BuildKit exporter behind this output.
    pub fn exporter(&self) -> Exporter {
        match self {
            Output::Image { .. } => Exporter::Image,
            Output::Oci { .. } => Exporter::Oci,
            Output::Docker { .. } => Exporter::Docker,
            Output::Tar { .. } => Exporter::Tar,
            Output::Local { .. } => Exporter::Local,
            Output::Moby { .. } => Exporter::Moby,
        }
    }

    /// The exporter entry of the solve request, and what the session does with its output.
    pub(super) fn into_parts(self) -> (control::Exporter, OutputSink) {
        let r#type = self.exporter().as_str().to_owned();
        let (attrs, sink) = match self {
            Output::Image { names, push, attrs } => {
                let mut attrs: HashMap<_, _> = attrs.into_iter().collect();
                if !names.is_empty() {
                    attrs.insert("name".into(), names.join(","));
                }
                if push {
                    attrs.insert("push".into(), "true".into());
                }
                (attrs, OutputSink::None)
            }
            Output::Oci { dest, attrs } | Output::Docker { dest, attrs } => (
                attrs.into_iter().collect(),
                OutputSink::Tar(Mutex::new(Some(dest))),
            ),
            Output::Tar { dest } => (HashMap::new(), OutputSink::Tar(Mutex::new(Some(dest)))),
            Output::Local { dir } => (
                HashMap::new(),
                OutputSink::Directory(dir, Arc::new(TransferCounters::default())),
            ),
            Output::Moby { names } => {
                let mut attrs = HashMap::new();
                if !names.is_empty() {
                    attrs.insert("name".into(), names.join(","));
                }
                (attrs, OutputSink::None)
            }
        };
        (control::Exporter { r#type, attrs }, sink)
    }
}

//! Events of one part of a build (a platform's builder, a bake target) told apart from the
//! others' in one stream.

use crate::events::{BuildEvent, VertexId};

/// `event` of the part of a build `label` names (a platform, a bake target): its vertex is
/// that part's own, and its name says the label unless it does already (the frontend names
/// steps after their platform, `[linux/arm64 2/3]`).
pub(super) fn labeled(event: BuildEvent, label: &str) -> BuildEvent {
    let vertex = |vertex: VertexId| VertexId(format!("{label}/{vertex}"));
    let name = |name: String| {
        // The frontend's own prefix: `[linux/arm64 2/3]`, `[linux/arm64 internal]`.
        let prefixed =
            |part: &str| name.contains(&format!("[{part} ")) || name.contains(&format!("[{part}]"));
        if label.split(',').any(prefixed) {
            name
        } else {
            format!("[{label}] {name}")
        }
    };
    match event {
        BuildEvent::VertexQueued { vertex: v, name: n } => BuildEvent::VertexQueued {
            vertex: vertex(v),
            name: name(n),
        },
        BuildEvent::VertexStarted {
            vertex: v,
            name: n,
            started,
        } => BuildEvent::VertexStarted {
            vertex: vertex(v),
            name: name(n),
            started,
        },
        BuildEvent::VertexCompleted {
            vertex: v,
            name: n,
            duration,
        } => BuildEvent::VertexCompleted {
            vertex: vertex(v),
            name: name(n),
            duration,
        },
        BuildEvent::VertexCached { vertex: v, name: n } => BuildEvent::VertexCached {
            vertex: vertex(v),
            name: name(n),
        },
        BuildEvent::VertexErrored {
            vertex: v,
            name: n,
            error,
            duration,
            canceled,
        } => BuildEvent::VertexErrored {
            vertex: vertex(v),
            name: name(n),
            error,
            duration,
            canceled,
        },
        BuildEvent::Log {
            vertex: v,
            stream,
            data,
            at,
        } => BuildEvent::Log {
            vertex: vertex(v),
            stream,
            data,
            at,
        },
        BuildEvent::Progress {
            vertex: v,
            id,
            name,
            current,
            total,
            started,
            at,
            completed,
        } => BuildEvent::Progress {
            vertex: vertex(v),
            id,
            name,
            current,
            total,
            started,
            at,
            completed,
        },
        BuildEvent::Warning {
            vertex: v,
            level,
            short,
            detail,
            url,
        } => BuildEvent::Warning {
            vertex: vertex(v),
            level,
            short,
            detail,
            url,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn events_carry_their_platform() {
        let event = BuildEvent::VertexCompleted {
            vertex: VertexId("sha256:1".into()),
            name: "[internal] load build context".into(),
            duration: Duration::ZERO,
        };
        match labeled(event, "linux/arm64") {
            BuildEvent::VertexCompleted { vertex, name, .. } => {
                assert_eq!(vertex.0, "linux/arm64/sha256:1");
                assert_eq!(name, "[linux/arm64] [internal] load build context");
            }
            other => panic!("{other:?}"),
        }
        let named = BuildEvent::VertexCached {
            vertex: VertexId("sha256:2".into()),
            name: "[linux/arm64 2/2] COPY a /a".into(),
        };
        assert!(matches!(labeled(named, "linux/arm64"),
            BuildEvent::VertexCached { name, .. } if name == "[linux/arm64 2/2] COPY a /a"));
        // A bake target's name elsewhere in a step's name is not its prefix.
        let mentioned = BuildEvent::VertexCached {
            vertex: VertexId("sha256:3".into()),
            name: "[internal] load build definition from two.Dockerfile".into(),
        };
        assert!(matches!(labeled(mentioned, "two"),
            BuildEvent::VertexCached { name, .. }
                if name == "[two] [internal] load build definition from two.Dockerfile"));
    }
}

//! Which builders a build runs on: with `--build-platform dynamic` (the default) one per
//! architecture among its platforms, as the official CLI does (`linux/arm/v7` goes with
//! `linux/arm64`); otherwise one builder, of the build's platform, for every platform.

use depot_core::proto::depot::cli::v1::BuilderPlatform;

use crate::builder::platform_for_arch;

/// One builder's share of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Node {
    /// The builder's architecture.
    pub platform: BuilderPlatform,
    /// The target platforms it builds (`linux/arm64`); empty for the daemon's own.
    pub platforms: Vec<String>,
}

impl Node {
    /// How events and messages name it: its platforms (`linux/arm64`), or its architecture
    /// when it builds the daemon's own.
    pub fn label(&self) -> String {
        if self.platforms.is_empty() {
            crate::builder::platform_arch(self.platform).to_owned()
        } else {
            self.platforms.join(",")
        }
    }
}

/// The builders for `platforms`: one per architecture when `per_arch`, else one of `primary`.
pub(super) fn plan(primary: BuilderPlatform, platforms: &[String], per_arch: bool) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    if per_arch {
        for platform in platforms {
            let arch = platform_for_arch(platform.split('/').nth(1).unwrap_or(platform));
            match nodes.iter_mut().find(|node| node.platform == arch) {
                Some(node) => node.platforms.push(platform.clone()),
                None => nodes.push(Node {
                    platform: arch,
                    platforms: vec![platform.clone()],
                }),
            }
        }
    }
    if nodes.len() < 2 {
        return vec![Node {
            platform: nodes.first().map_or(primary, |node| node.platform),
            platforms: platforms.to_vec(),
        }];
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_builder_per_architecture_unless_the_build_platform_is_fixed() {
        let platforms = strings(&["linux/amd64", "linux/arm64", "linux/arm/v7"]);
        let nodes = plan(BuilderPlatform::Amd64, &platforms, true);
        assert_eq!(
            nodes,
            [
                Node {
                    platform: BuilderPlatform::Amd64,
                    platforms: strings(&["linux/amd64"])
                },
                Node {
                    platform: BuilderPlatform::Arm64,
                    platforms: strings(&["linux/arm64", "linux/arm/v7"])
                },
            ]
        );
        assert_eq!(nodes[1].label(), "linux/arm64,linux/arm/v7");
        let fixed = plan(BuilderPlatform::Amd64, &platforms, false);
        assert_eq!(fixed.len(), 1);
        assert_eq!(fixed[0].platforms, platforms);
        // One architecture, or none named: one builder.
        let arm = plan(BuilderPlatform::Amd64, &strings(&["linux/arm64"]), true);
        assert_eq!(arm[0].platform, BuilderPlatform::Arm64);
        let none = plan(BuilderPlatform::Amd64, &[], true);
        assert_eq!(none[0].platform, BuilderPlatform::Amd64);
        assert_eq!(none[0].label(), "amd64");
    }
}

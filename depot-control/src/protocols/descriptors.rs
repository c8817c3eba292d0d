//! The procedures' message types, from the descriptors depot-core embeds.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, MethodDescriptor};

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(depot_core::proto::FILE_DESCRIPTOR_SET)
        .expect("depot-core embeds a valid descriptor set")
});

/// The procedure at `path` (`/<package>.<Service>/<Method>`), if one is declared.
pub(super) fn method(path: &str) -> Option<MethodDescriptor> {
    let (service, method) = path.strip_prefix('/')?.rsplit_once('/')?;
    POOL.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procedures_are_found_by_path() {
        let create = method("/depot.cli.v1.BuildService/CreateBuild").unwrap();
        assert_eq!(
            create.input().full_name(),
            "depot.cli.v1.CreateBuildRequest"
        );
        assert!(!create.is_client_streaming());
        let stream = method("/depot.cli.v1.BuildService/ReportStatusStream").unwrap();
        assert!(stream.is_client_streaming());
        assert!(method("/depot.cli.v1.BuildService/Nope").is_none());
        assert!(method("nonsense").is_none());
    }
}

//! `--load` after a build: the saved image pulled from the project's registry into the
//! Docker Engine under its tags (only the layers the Engine lacks travel).

use std::sync::Arc;

use depot_bake::Definition;
use depot_core::DepotClient;
use depot_registry::client::{ProgressSink, SavedError, load_build};

/// What to load into the Docker Engine once a build has ended.
#[derive(Clone, Debug)]
pub enum LoadAfter {
    /// A build's image, named with these tags.
    Image(Vec<String>),
    /// Each of a bake's targets that has tags, named with them.
    Targets(Definition),
}

impl LoadAfter {
    /// Loads build `build_id`'s images.
    pub async fn load(
        &self,
        client: &DepotClient,
        build_id: &str,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<(), SavedError> {
        match self {
            LoadAfter::Image(tags) => {
                load_build(client, build_id, None, tags, progress).await?;
            }
            LoadAfter::Targets(definition) => {
                for (name, target) in &definition.target {
                    if !target.tags.is_empty() {
                        load_build(client, build_id, Some(name), &target.tags, progress).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

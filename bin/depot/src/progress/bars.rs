//! Live progress on a terminal: one bar per layer (and destination), redrawn in place; other
//! lines print above the bars.

use std::collections::HashMap;
use std::sync::Mutex;

use depot_registry::client::ProgressEvent;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};

use super::{Direction, short_digest};

/// The bars of one command.
pub struct Bars {
    direction: Direction,
    multi: MultiProgress,
    /// By destination and blob.
    bars: Mutex<HashMap<(String, String), ProgressBar>>,
    active: ProgressStyle,
    finished: ProgressStyle,
}

impl Bars {
    /// Bars on stderr.
    pub fn new(direction: Direction) -> Self {
        let style = |template| ProgressStyle::with_template(template).expect("a valid template");
        Self {
            direction,
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            active: style("  {prefix} {msg:<18} [{bar:30}] {bytes:>10} / {total_bytes:<10}")
                .progress_chars("=> "),
            finished: style("  {prefix} {msg}"),
        }
    }

    /// Prints `text` above the bars.
    pub fn println(&self, text: &str) {
        // Only fails when stderr is gone, and then there is no one to tell.
        let _ = self.multi.println(text);
    }

    /// Updates the display for `event`.
    pub fn report(&self, event: &ProgressEvent<'_>) {
        let direction = self.direction;
        match *event {
            ProgressEvent::BlobStarted {
                target,
                digest,
                size,
            } => {
                let bar = self.bar(target, digest);
                if let Some(size) = size {
                    bar.set_length(size);
                }
                bar.set_message(direction.active());
            }
            ProgressEvent::BlobProgress {
                target,
                digest,
                current,
                total,
            } => {
                let bar = self.bar(target, digest);
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(current);
            }
            ProgressEvent::BlobStatus {
                target,
                digest,
                status,
            } => self.bar(target, digest).set_message(status.to_owned()),
            ProgressEvent::BlobDone {
                target,
                digest,
                size,
                transfer,
            } => {
                let bar = self.bar(target, digest);
                bar.set_style(self.finished.clone());
                let size = size.map(|s| format!(" ({})", HumanBytes(s)));
                bar.finish_with_message(format!(
                    "{}{}",
                    direction.done(transfer),
                    size.unwrap_or_default()
                ));
            }
            ProgressEvent::Manifest { target, digest } => self.println(&format!(
                "  {}manifest {digest} {}",
                direction.label(target),
                direction.manifest()
            )),
            ProgressEvent::Message { target, text } => {
                self.println(&format!("  {}{text}", direction.label(target)));
            }
        }
    }

    /// The bar of `digest` at `target`, added on first use.
    fn bar(&self, target: &str, digest: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.entry((target.to_owned(), digest.to_owned()))
            .or_insert_with(|| {
                let prefix = format!("{}{}", self.direction.label(target), short_digest(digest));
                self.multi.add(
                    ProgressBar::no_length()
                        .with_style(self.active.clone())
                        .with_prefix(prefix),
                )
            })
            .clone()
    }
}

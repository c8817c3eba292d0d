//! [`TtyPrinter`]: a live view of the build, redrawn in place on a terminal.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use crate::events::{BuildEvent, VertexId};

use super::logs::VertexLogs;
use super::units::{progress_amount, seconds};
use super::{Printer, error_box};

/// The view is redrawn at most this often.
const REDRAW: Duration = Duration::from_millis(100);
/// Log lines shown beneath a running vertex.
const LIVE_LOG_LINES: usize = 6;

/// Moves the cursor up this many lines.
fn cursor_up(lines: usize) -> String {
    format!("\x1b[{lines}A")
}
const CLEAR_LINE: &str = "\x1b[2K";
const CLEAR_BELOW: &str = "\x1b[J";
/// Turns off line wrapping, so that a line too long for the terminal cannot push the view down.
const NO_WRAP: &str = "\x1b[?7l";
const WRAP: &str = "\x1b[?7h";
const BLUE: &str = "\x1b[34m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Shows the build as a view redrawn in place:
///
/// ```text
/// [+] Building 3.4s (4/6)
///  => [internal] load build definition from Dockerfile           0.0s
///  => CACHED [base 1/3] FROM docker.io/library/alpine:3.20       0.0s
///  => [base 2/3] RUN make                                        2.1s
///      1.873 cc -o app main.c
/// ```
///
/// Running vertices show their progress items and last log lines (dimmed) beneath them. The
/// view is redrawn when events arrive, at most every 100 ms; call [`Printer::tick`] every
/// ~100 ms so timers advance between events. If the view would be taller than the terminal,
/// finished vertices are left out, oldest first. [`Printer::finish`] draws it a last time, in
/// full, followed by warnings and, if the build failed, the failed vertex's last log lines.
///
/// Times are measured with this machine's clock from when events arrive, so a daemon whose
/// clock is off does not skew them.
pub struct TtyPrinter {
    out: Box<dyn Write + Send>,
    clock: Box<dyn Fn() -> Instant + Send>,
    width: usize,
    height: usize,
    began: Instant,
    vertices: Vec<Vertex>,
    positions: HashMap<VertexId, usize>,
    warnings: Vec<String>,
    /// The first vertex that failed (not canceled).
    failed: Option<usize>,
    /// Lines of the live view on screen.
    drawn: usize,
    last_draw: Option<Instant>,
}

/// What the view knows of a vertex.
struct Vertex {
    name: String,
    state: State,
    /// Time spent in runs before the current one.
    earlier: Duration,
    /// When the current run started, by the daemon's clock (log lines are stamped from it).
    started: Option<SystemTime>,
    logs: VertexLogs,
    /// Progress items, in the order they appeared: id and text.
    items: Vec<(String, String)>,
}

/// Where a vertex is.
#[derive(Clone, Copy)]
enum State {
    Queued,
    Running(Instant),
    Done(Duration),
    Cached,
    Errored { duration: Duration, canceled: bool },
}

impl TtyPrinter {
    /// A view on `out`, a terminal `width` columns wide and `height` lines tall.
    pub fn new(out: Box<dyn Write + Send>, width: usize, height: usize) -> Self {
        TtyPrinter::with_clock(out, width, height, Box::new(Instant::now))
    }

    /// A view that reads the time from `clock`.
    fn with_clock(
        out: Box<dyn Write + Send>,
        width: usize,
        height: usize,
        clock: Box<dyn Fn() -> Instant + Send>,
    ) -> Self {
        TtyPrinter {
            out,
            began: clock(),
            clock,
            width,
            height,
            vertices: Vec::new(),
            positions: HashMap::new(),
            warnings: Vec::new(),
            failed: None,
            drawn: 0,
            last_draw: None,
        }
    }

    /// The vertex `id`, added if new.
    fn vertex(&mut self, id: &VertexId) -> (usize, &mut Vertex) {
        let position = *self.positions.entry(id.clone()).or_insert_with(|| {
            self.vertices.push(Vertex {
                name: String::new(),
                state: State::Queued,
                earlier: Duration::ZERO,
                started: None,
                logs: VertexLogs::default(),
                items: Vec::new(),
            });
            self.vertices.len() - 1
        });
        (position, &mut self.vertices[position])
    }

    /// Takes an event into the view's state.
    fn apply(&mut self, event: &BuildEvent, now: Instant) {
        let (position, vertex) = self.vertex(event.vertex());
        match event {
            BuildEvent::VertexQueued { name, .. } => vertex.name.clone_from(name),
            BuildEvent::VertexStarted { name, started, .. } => {
                vertex.name.clone_from(name);
                vertex.started = Some(*started);
                if let State::Done(duration) | State::Errored { duration, .. } = vertex.state {
                    vertex.earlier += duration;
                }
                vertex.state = State::Running(now);
            }
            BuildEvent::VertexCompleted { name, duration, .. } => {
                vertex.end(name, State::Done(*duration));
            }
            BuildEvent::VertexCached { name, .. } => vertex.end(name, State::Cached),
            BuildEvent::VertexErrored {
                name,
                duration,
                canceled,
                ..
            } => {
                vertex.end(
                    name,
                    State::Errored {
                        duration: *duration,
                        canceled: *canceled,
                    },
                );
                if !*canceled {
                    self.failed.get_or_insert(position);
                }
            }
            BuildEvent::Log {
                stream, data, at, ..
            } => {
                vertex.logs.push(*stream, data, *at, vertex.started);
            }
            BuildEvent::Progress {
                id,
                current,
                total,
                completed,
                ..
            } => {
                let mut text = id.clone();
                text.push_str(&progress_amount(*current, *total));
                if *completed {
                    text.push_str(" done");
                }
                match vertex.items.iter_mut().find(|(item, _)| item == id) {
                    Some(item) => item.1 = text,
                    None => vertex.items.push((id.clone(), text)),
                }
            }
            BuildEvent::Warning { short, .. } => self.warnings.push(short.clone()),
        }
    }

    /// The lines of the view: live (fitted to the terminal, with details of running vertices)
    /// or final.
    fn frame(&self, now: Instant, live: bool) -> Vec<String> {
        let done = self.vertices.iter().filter(|vertex| vertex.ended()).count();
        let mut lines = vec![format!(
            "[+] Building {} ({done}/{}){}",
            seconds(now.saturating_duration_since(self.began)),
            self.vertices.len(),
            if live { "" } else { " FINISHED" }
        )];
        let mut blocks: Vec<(bool, Vec<String>)> = self
            .vertices
            .iter()
            .filter_map(|vertex| {
                let mut block = vec![vertex.line(now, self.width)?];
                let running = matches!(vertex.state, State::Running(_));
                if live && running {
                    for (_, item) in &vertex.items {
                        block.push(fit(&format!("    {item}"), "", self.width));
                    }
                    let logs = vertex.logs.tail();
                    let skip = logs.len().saturating_sub(LIVE_LOG_LINES);
                    for line in logs.skip(skip) {
                        let line = fit(&format!("    {}", clean(line)), "", self.width);
                        block.push(format!("{DIM}{line}{RESET}"));
                    }
                }
                Some((running, block))
            })
            .collect();
        if live {
            // The header and the line the cursor waits on need room too.
            let room = self.height.saturating_sub(2);
            let mut count: usize = blocks.iter().map(|(_, block)| block.len()).sum();
            for (running, block) in &mut blocks {
                if count <= room {
                    break;
                }
                if !*running {
                    count -= block.len();
                    block.clear();
                }
            }
        }
        let mut body: Vec<String> = blocks.into_iter().flat_map(|(_, block)| block).collect();
        if live && body.len() > self.height.saturating_sub(2) {
            body.drain(..body.len() - self.height.saturating_sub(2));
        }
        lines.extend(body);
        lines
    }

    /// Draws the view over the previous live one; a final view stays (nothing is drawn over it).
    fn draw(&mut self, now: Instant, live: bool) {
        let lines = self.frame(now, live);
        let mut text = String::new();
        if live {
            text.push_str(NO_WRAP);
        }
        if self.drawn > 0 {
            text.push_str(&cursor_up(self.drawn));
        }
        for line in &lines {
            text.push_str(CLEAR_LINE);
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(CLEAR_BELOW);
        if live {
            text.push_str(WRAP);
        }
        self.drawn = if live { lines.len() } else { 0 };
        self.last_draw = Some(now);
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    /// Redraws the live view unless it was drawn less than [`REDRAW`] ago.
    fn draw_if_due(&mut self, now: Instant) {
        if self
            .last_draw
            .is_none_or(|last| now.saturating_duration_since(last) >= REDRAW)
        {
            self.draw(now, true);
        }
    }
}

impl Vertex {
    /// Ends the current run.
    fn end(&mut self, name: &str, state: State) {
        self.name = name.to_string();
        self.state = state;
        self.logs.flush(self.started);
    }

    /// Whether the vertex ended.
    fn ended(&self) -> bool {
        !matches!(self.state, State::Queued | State::Running(_))
    }

    /// The vertex's line in the view, if it has started.
    fn line(&self, now: Instant, width: usize) -> Option<String> {
        let (label, time, color) = match self.state {
            State::Queued => return None,
            State::Running(since) => ("", now.saturating_duration_since(since), ""),
            State::Done(duration) => ("", duration, BLUE),
            State::Cached => ("CACHED ", Duration::ZERO, BLUE),
            State::Errored { duration, canceled } => {
                (if canceled { "CANCELED " } else { "ERROR " }, duration, RED)
            }
        };
        let line = fit(
            &format!(" => {label}{}", self.name),
            &seconds(self.earlier + time),
            width,
        );
        Some(if color.is_empty() {
            line
        } else {
            format!("{color}{line}{RESET}")
        })
    }
}

impl Printer for TtyPrinter {
    fn event(&mut self, event: &BuildEvent) {
        let now = (self.clock)();
        self.apply(event, now);
        self.draw_if_due(now);
    }

    fn tick(&mut self) {
        let now = (self.clock)();
        self.draw_if_due(now);
    }

    fn finish(&mut self, error: Option<&str>) {
        let now = (self.clock)();
        self.draw(now, false);
        let mut text = String::new();
        for warning in &self.warnings {
            let _ = writeln!(text, "WARNING: {warning}");
        }
        if let Some(error) = error {
            if let Some(vertex) = self.failed.map(|position| &self.vertices[position]) {
                error_box(&mut text, &vertex.name, vertex.logs.tail());
            }
            let _ = writeln!(text, "ERROR: {error}");
        }
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

/// `left` and `right` on one line `width` characters wide: `right` aligned to the end (if not
/// empty), `left` cut short with `…` if there is not room for both.
fn fit(left: &str, right: &str, width: usize) -> String {
    let right_length = right.chars().count();
    let room = if right.is_empty() {
        width
    } else {
        width.saturating_sub(right_length + 1)
    };
    let mut left = left.to_string();
    if left.chars().count() > room {
        left = left.chars().take(room.saturating_sub(1)).collect();
        left.push('…');
    }
    if right.is_empty() {
        return left;
    }
    let padding = width
        .saturating_sub(left.chars().count() + right_length)
        .max(1);
    format!("{left}{}{right}", " ".repeat(padding))
}

/// A stamped log line as it can be shown inside the view: of the text, what a terminal would
/// show after the last carriage return, tabs as spaces, without other control characters.
fn clean(line: &str) -> String {
    let (stamp, text) = line.split_once(' ').unwrap_or(("", line));
    let shown = text.rsplit('\r').next().unwrap_or(text);
    let shown: String = shown
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    format!("{stamp} {shown}")
}

#[cfg(test)]
mod tests;

//! A vertex's log output as whole lines, each stamped with the time since the vertex started.

use std::collections::VecDeque;
use std::time::SystemTime;

use crate::events::LogStream;

use super::units::between;

/// Lines kept for the error box and the live view.
pub(crate) const TAIL: usize = 10;

/// The log of one vertex: partial lines per stream, and its last [`TAIL`] lines.
#[derive(Debug, Default)]
pub(crate) struct VertexLogs {
    /// Per stream (stdout, stderr): a line still missing its end, and when it began.
    partial: [Option<(SystemTime, Vec<u8>)>; 2],
    tail: VecDeque<String>,
}

impl VertexLogs {
    /// Adds a chunk written at `at`; returns the lines it completes, stamped relative to
    /// `started` (the vertex's start). A line is stamped with the time its first chunk came.
    pub(crate) fn push(
        &mut self,
        stream: LogStream,
        data: &[u8],
        at: SystemTime,
        started: Option<SystemTime>,
    ) -> Vec<String> {
        let slot = match stream {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
        };
        let mut lines = Vec::new();
        let mut rest = data;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            let (since, mut line) = self.partial[slot].take().unwrap_or((at, Vec::new()));
            line.extend_from_slice(&rest[..end]);
            lines.push(self.keep(since, &line, started));
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            self.partial[slot]
                .get_or_insert_with(|| (at, Vec::new()))
                .1
                .extend_from_slice(rest);
        }
        lines
    }

    /// Ends the partial lines (the vertex is done); returns them stamped, stdout's first.
    pub(crate) fn flush(&mut self, started: Option<SystemTime>) -> Vec<String> {
        let partial: Vec<_> = self.partial.iter_mut().filter_map(Option::take).collect();
        partial
            .into_iter()
            .map(|(since, line)| self.keep(since, &line, started))
            .collect()
    }

    /// The last lines, oldest first, at most [`TAIL`].
    pub(crate) fn tail(&self) -> impl ExactSizeIterator<Item = &str> {
        self.tail.iter().map(String::as_str)
    }

    /// Stamps a line and remembers it in the tail.
    fn keep(&mut self, since: SystemTime, line: &[u8], started: Option<SystemTime>) -> String {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let stamped = format!(
            "{} {}",
            stamp(started.map(|started| between(started, since).as_secs_f64())),
            String::from_utf8_lossy(line)
        );
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(stamped.clone());
        stamped
    }
}

/// Seconds since the vertex started: three decimals below 10 s, two below 100 s, else one.
fn stamp(seconds: Option<f64>) -> String {
    match seconds.unwrap_or(0.0) {
        s if s < 10.0 => format!("{s:.3}"),
        s if s < 100.0 => format!("{s:.2}"),
        s => format!("{s:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    #[test]
    fn lines_split_across_chunks_are_joined() {
        let mut logs = VertexLogs::default();
        let started = Some(at(0));
        assert_eq!(
            logs.push(LogStream::Stdout, b"one\ntw", at(161), started),
            ["0.161 one"]
        );
        assert_eq!(
            logs.push(LogStream::Stderr, b"err", at(200), started),
            Vec::<String>::new()
        );
        assert_eq!(
            logs.push(LogStream::Stdout, b"o\r\nthree\n", at(12_345), started),
            ["0.161 two", "12.35 three"]
        );
        assert_eq!(
            logs.push(LogStream::Stdout, b"four", at(123_400), started),
            Vec::<String>::new()
        );
        assert_eq!(logs.flush(started), ["123.4 four", "0.200 err"]);
        assert_eq!(logs.flush(started), Vec::<String>::new());
        assert_eq!(logs.tail().len(), 5);
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let mut logs = VertexLogs::default();
        for n in 0..15 {
            logs.push(
                LogStream::Stdout,
                format!("line {n}\n").as_bytes(),
                at(0),
                None,
            );
        }
        let tail: Vec<_> = logs.tail().collect();
        assert_eq!(tail.len(), TAIL);
        assert_eq!(tail[0], "0.000 line 5");
        assert_eq!(tail[9], "0.000 line 14");
    }
}

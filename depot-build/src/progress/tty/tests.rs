//! The live view, drawn into a buffer and checked frame by frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::events::{EventDecoder, LogStream};
use crate::testing::*;

/// A view on a 60×20 terminal whose clock the test sets (in ms since the view began).
fn view() -> (TtyPrinter, SharedBuf, Arc<AtomicU64>) {
    let out = SharedBuf::default();
    let elapsed = Arc::new(AtomicU64::new(0));
    let base = Instant::now();
    let clock = {
        let elapsed = elapsed.clone();
        Box::new(move || base + Duration::from_millis(elapsed.load(Ordering::SeqCst)))
    };
    let printer = TtyPrinter::with_clock(Box::new(out.clone()), 60, 20, clock);
    (printer, out, elapsed)
}

fn feed(
    printer: &mut TtyPrinter,
    decoder: &mut EventDecoder,
    response: bollard_buildkit_proto::moby::buildkit::v1::StatusResponse,
) {
    for event in decoder.decode(response) {
        printer.event(&event);
    }
}

#[test]
fn live_view_then_final_view() {
    let (mut printer, out, clock) = view();
    let mut decoder = EventDecoder::default();
    let from = "[base 1/3] FROM docker.io/library/alpine";
    let run = "[base 2/3] RUN make";
    let fail = "[base 3/3] RUN exit 3";
    feed(
        &mut printer,
        &mut decoder,
        response(
            vec![
                vertex("sha256:a", from),
                vertex("sha256:b", run),
                vertex("sha256:c", fail),
            ],
            vec![],
            vec![],
            vec![],
        ),
    );
    let first = out.text();
    // Drawn at the first event, when one vertex was known.
    assert!(first.contains("[+] Building 0.0s (0/1)\n"), "{first:?}");
    assert!(!first.contains("=>"), "nothing started yet: {first:?}");

    // Within 100 ms of the last draw: state changes, the screen does not.
    clock.store(40, Ordering::SeqCst);
    feed(
        &mut printer,
        &mut decoder,
        response(vec![cached("sha256:a", from, 5)], vec![], vec![], vec![]),
    );
    clock.store(60, Ordering::SeqCst);
    feed(
        &mut printer,
        &mut decoder,
        response(
            vec![started("sha256:b", run, 10)],
            vec![status("sha256:b", "transferring context:", 32_768, 0, 11)],
            vec![
                log("sha256:b", 1, 171, "cc -o app\tmain.c\nlin"),
                log("sha256:b", 2, 172, "50%\r100%\n"),
            ],
            vec![],
        ),
    );
    assert_eq!(out.text(), first);

    // A tick redraws over the previous view (one line: the header).
    clock.store(1260, Ordering::SeqCst);
    printer.tick();
    let second = &out.text()[first.len()..];
    assert!(
        second.starts_with(&format!(
            "{NO_WRAP}{}{CLEAR_LINE}[+] Building 1.3s (1/3)\n",
            cursor_up(1)
        )),
        "{second:?}"
    );
    assert!(
        second.contains(&format!(
            "{BLUE}{:<56}0.0s{RESET}\n",
            format!(" => CACHED {from}")
        )),
        "{second:?}"
    );
    assert!(
        second.contains(&format!("{:<56}1.2s\n", format!(" => {run}"))),
        "{second:?}"
    );
    assert!(
        second.contains("    transferring context: 32.77kB\n"),
        "{second:?}"
    );
    assert!(
        second.contains(&format!("{DIM}    0.161 cc -o app main.c{RESET}\n")),
        "{second:?}"
    );
    assert!(
        second.contains(&format!("{DIM}    0.162 100%{RESET}\n")),
        "{second:?}"
    );
    assert!(!second.contains("lin"), "partial lines wait: {second:?}");
    assert!(second.ends_with(&format!("{CLEAR_BELOW}{WRAP}")));

    clock.store(1300, Ordering::SeqCst);
    printer.tick();
    assert_eq!(&out.text()[first.len()..], second, "drawn 40 ms ago");

    clock.store(2000, Ordering::SeqCst);
    feed(
        &mut printer,
        &mut decoder,
        response(
            vec![completed("sha256:b", run, 10, 1950)],
            vec![],
            vec![],
            vec![warning("sha256:b", "JSONArgsRecommended")],
        ),
    );
    clock.store(2500, Ordering::SeqCst);
    feed(
        &mut printer,
        &mut decoder,
        response(
            vec![errored("sha256:c", fail, 2000, 2400, "exit code: 3")],
            vec![],
            vec![log("sha256:c", 1, 2123, "some output\n")],
            vec![],
        ),
    );
    let before = out.text().len();
    printer.finish(Some("failed to solve: exit code: 3"));
    let last = &out.text()[before..];
    let expected = [
        "[+] Building 2.5s (3/3) FINISHED".to_string(),
        format!("{BLUE}{:<56}0.0s{RESET}", format!(" => CACHED {from}")),
        format!("{BLUE}{:<56}1.9s{RESET}", format!(" => {run}")),
        format!("{RED}{:<56}0.4s{RESET}", format!(" => ERROR {fail}")),
    ]
    .map(|line| format!("{CLEAR_LINE}{line}\n"))
    .concat();
    // Over the last live view: the header and three vertices, the last just started.
    assert!(last.starts_with(&cursor_up(4)), "{last:?}");
    assert!(
        last.contains(&format!("{expected}{CLEAR_BELOW}")),
        "{last:?}"
    );
    assert!(
        last.ends_with(
            "WARNING: JSONArgsRecommended\n\
         ------\n > [base 3/3] RUN exit 3:\n0.123 some output\n------\n\
         ERROR: failed to solve: exit code: 3\n"
        ),
        "{last:?}"
    );
}

#[test]
fn a_tall_view_leaves_out_finished_vertices_first() {
    let (mut printer, out, clock) = view();
    let mut printer_events = |event: BuildEvent| printer.event(&event);
    let id = |n: usize| VertexId(format!("sha256:{n}"));
    for n in 0..30 {
        printer_events(BuildEvent::VertexCompleted {
            vertex: id(n),
            name: format!("step {n}"),
            duration: Duration::ZERO,
        });
    }
    printer_events(BuildEvent::VertexStarted {
        vertex: id(99),
        name: "running".into(),
        started: at(0),
    });
    for n in 0..3 {
        printer_events(BuildEvent::Log {
            vertex: id(99),
            stream: LogStream::Stdout,
            data: format!("log {n}\n").into(),
            at: at(n),
        });
    }
    clock.store(200, Ordering::SeqCst);
    printer.tick();
    printer.finish(None);
    let text = out.text();
    let frames: Vec<_> = text.split("[+] Building").collect();
    let (last_live, final_view) = (frames[frames.len() - 2], frames[frames.len() - 1]);
    // 20 lines: the header, 18 lines of vertices, and the cursor's.
    assert_eq!(last_live.matches('\n').count(), 19, "{last_live:?}");
    assert!(
        !last_live.contains("step 15 ") && last_live.contains("step 16 "),
        "{last_live:?}"
    );
    assert!(
        last_live.contains(" => running") && last_live.contains("0.002 log 2"),
        "{last_live:?}"
    );
    assert!(final_view.starts_with(" 0.2s (30/31) FINISHED\n"));
    assert!(
        final_view.contains("step 0 ") && !final_view.contains("log 2"),
        "{final_view:?}"
    );
}

#[test]
fn fitting_lines() {
    assert_eq!(fit(" => RUN make", "1.2s", 20), " => RUN make    1.2s");
    assert_eq!(
        fit(" => RUN make all the things", "1.2s", 20),
        " => RUN make a… 1.2s"
    );
    assert_eq!(fit("    a long log line", "", 10), "    a lon…");
    assert_eq!(fit("short", "", 10), "short");
}

#[test]
fn cleaning_log_lines() {
    assert_eq!(clean("1.500 10%\r50%\r100%"), "1.500 100%");
    assert_eq!(clean("0.000 a\tb\x1b[31mc\x07"), "0.000 a b[31mc");
}

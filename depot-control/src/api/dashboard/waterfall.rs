//! The build-step waterfall: one bar per step, from its start to its end on the build's
//! time axis, cached steps and failed steps marked, as an SVG made on the server.

use maud::{Markup, html};

use crate::store::BuildStep;

/// Drawing width (the SVG scales to the page).
const WIDTH: f64 = 1000.0;
/// Where bars start (the step names go to their left).
const LABEL_WIDTH: f64 = 320.0;
/// Height of one row.
const ROW: f64 = 20.0;
/// Longest step name drawn.
const MAX_LABEL: usize = 48;

/// The waterfall of `steps` (those with a start time), or nothing.
pub(super) fn waterfall(steps: &[BuildStep]) -> Markup {
    let timed: Vec<&BuildStep> = steps.iter().filter(|s| s.started_at.is_some()).collect();
    let Some(start) = timed.iter().filter_map(|s| s.started_at).min() else {
        return html! {};
    };
    let end = timed
        .iter()
        .filter_map(|s| s.completed_at.or(s.started_at))
        .max()
        .unwrap_or(start);
    let span = (end - start).max(1) as f64;
    let scale = (WIDTH - LABEL_WIDTH - 10.0) / span;
    let height = ROW * timed.len() as f64 + 24.0;
    html! {
        svg.waterfall viewBox=(format!("0 0 {WIDTH} {height}")) role="img"
            aria-label=(format!("{} steps over {:.1} s", timed.len(), span / 1000.0)) {
            @for (row, step) in timed.iter().enumerate() {
                @let began = step.started_at.unwrap_or(start);
                @let ended = step.completed_at.unwrap_or(end);
                @let x = LABEL_WIDTH + (began - start) as f64 * scale;
                @let width = ((ended - began) as f64 * scale).max(2.0);
                @let y = row as f64 * ROW + 4.0;
                @let class = if step.error.is_some() { "bar failed" } else if step.cached == 1 { "bar cached" } else { "bar" };
                text x="4" y=(y + 12.0) { (label(&step.name)) }
                rect class=(class) x=(format!("{x:.1}")) y=(y) width=(format!("{width:.1}")) height=(ROW - 6.0) {
                    title { (step.name) " — " (took(step)) }
                }
            }
            text x=(LABEL_WIDTH) y=(height - 4.0) { "0 s" }
            text x=(WIDTH - 60.0) y=(height - 4.0) { (format!("{:.1} s", span / 1000.0)) }
        }
    }
}

/// How long a step took, or that it was cached or is running.
pub(super) fn took(step: &BuildStep) -> String {
    match (step.started_at, step.completed_at) {
        _ if step.cached == 1 => "cached".to_owned(),
        (Some(began), Some(ended)) => format!("{:.1} s", (ended - began).max(0) as f64 / 1000.0),
        (Some(_), None) => "running".to_owned(),
        _ => "-".to_owned(),
    }
}

fn label(name: &str) -> String {
    if name.chars().count() <= MAX_LABEL {
        return name.to_owned();
    }
    let mut short: String = name.chars().take(MAX_LABEL - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, started: i64, completed: i64, cached: bool) -> BuildStep {
        BuildStep {
            digest: format!("sha256:{name}"),
            name: name.into(),
            started_at: Some(started),
            completed_at: Some(completed),
            cached: i64::from(cached),
            error: None,
        }
    }

    #[test]
    fn bars_sit_on_the_builds_time_axis_and_names_are_escaped() {
        let svg = waterfall(&[
            step("<script>alert(1)</script>", 1_000, 1_000, true),
            step("RUN make", 1_000, 3_000, false),
        ])
        .into_string();
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains(r#"class="bar cached""#), "{svg}");
        // The RUN step spans the whole axis.
        assert!(
            svg.contains(r#"x="320.0""#) && svg.contains(r#"width="670.0""#),
            "{svg}"
        );
        assert!(svg.contains("2.0 s"), "{svg}");
        assert!(waterfall(&[]).into_string().is_empty());
    }
}

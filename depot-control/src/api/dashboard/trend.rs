//! The build trend: one bar per build (oldest left), its height the build's duration and its
//! colour its outcome, with the cache hit rate drawn over it as a line (0–100 %, right axis).
//! An SVG made on the server.

use maud::{Markup, html};

use crate::store::BuildPoint;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 220.0;
/// Room for the axis labels.
const MARGIN: f64 = 40.0;

/// The trend of `builds` (newest first, as the store lists them), or nothing without any.
pub(super) fn trend(builds: &[BuildPoint]) -> Markup {
    let finished: Vec<&BuildPoint> = builds
        .iter()
        .rev()
        .filter(|b| b.finished_at.is_some())
        .collect();
    if finished.is_empty() {
        return html! {};
    }
    let longest = finished
        .iter()
        .map(|b| duration_ms(b))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let plot = HEIGHT - 2.0 * MARGIN;
    let slot = (WIDTH - 2.0 * MARGIN) / finished.len() as f64;
    let hit_points: Vec<String> = finished
        .iter()
        .enumerate()
        .filter(|(_, b)| b.steps > 0)
        .map(|(i, b)| {
            let x = MARGIN + slot * (i as f64 + 0.5);
            let y = MARGIN + plot * (1.0 - b.cached as f64 / b.steps as f64);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    html! {
        svg.trend viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            aria-label=(format!("duration and cache hit rate of the last {} builds", finished.len())) {
            @for (i, build) in finished.iter().enumerate() {
                @let height = (duration_ms(build) as f64 / longest * plot).max(1.0);
                @let x = MARGIN + slot * i as f64 + slot * 0.15;
                @let class = if build.status == 2 { "bar" } else { "bar failed" };
                rect class=(class) x=(format!("{x:.1}")) y=(format!("{:.1}", MARGIN + plot - height))
                    width=(format!("{:.1}", (slot * 0.7).max(1.0))) height=(format!("{height:.1}")) {
                    title { (build.id) ": " (format!("{:.1} s", duration_ms(build) as f64 / 1000.0))
                        ", " (build.cached) "/" (build.steps) " steps cached" }
                }
            }
            @if hit_points.len() > 1 {
                polyline.hits points=(hit_points.join(" ")) {}
            }
            text x="4" y=(MARGIN) { (format!("{:.1} s", longest / 1000.0)) }
            text x="4" y=(MARGIN + plot) { "0 s" }
            text x=(WIDTH - MARGIN + 4.0) y=(MARGIN) { "100%" }
            text x=(WIDTH - MARGIN + 4.0) y=(MARGIN + plot) { "0%" }
        }
    }
}

fn duration_ms(build: &BuildPoint) -> i64 {
    build
        .finished_at
        .map_or(0, |finished| (finished - build.created_at).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(id: &str, created: i64, took: i64, steps: i64, cached: i64) -> BuildPoint {
        BuildPoint {
            id: id.into(),
            status: 2,
            created_at: created,
            finished_at: Some(created + took),
            steps,
            cached,
        }
    }

    #[test]
    fn bars_scale_to_the_longest_build_and_the_line_to_the_hit_rate() {
        // Newest first, as listed: b2 (all cached, 1 s), b1 (none cached, 4 s).
        let svg = trend(&[
            point("b2", 10_000, 1_000, 4, 4),
            point("b1", 0, 4_000, 4, 0),
        ])
        .into_string();
        // b1 is the full plot height (140), b2 a quarter of it.
        assert!(
            svg.contains(r#"height="140.0""#) && svg.contains(r#"height="35.0""#),
            "{svg}"
        );
        // The line goes from 0 % (bottom, y=180) to 100 % (top, y=40).
        assert!(
            svg.contains(r#"points="270.0,180.0 730.0,40.0"></polyline>"#),
            "{svg}"
        );
        assert!(svg.contains("4.0 s") && svg.contains("100%"), "{svg}");
        assert!(trend(&[]).into_string().is_empty());
    }
}

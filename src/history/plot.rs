//! The policy metric against step, drawn in the terminal (`textplots`, braille dots): a curve
//! is read faster than a table. A line through every checkpoint, with kept ones in green and
//! deleted ones in red (without colour, `NO_COLOR`, the legend says they cannot be told
//! apart).

use rgb::RGB8;
use textplots::{Chart, ColorPlot, LabelBuilder, LabelFormat, Plot, Shape};

use super::{Fate, RunHistory};

const KEPT: RGB8 = RGB8::new(0, 200, 0);
const DELETED: RGB8 = RGB8::new(220, 0, 0);

/// The plot of `run`'s policy metric, or `None` when there is nothing to draw: no metric,
/// fewer than two finite values, or a single step. `width` is in terminal columns.
pub fn plot(run: &RunHistory, width: usize, color: bool) -> Option<String> {
    let metric = run.metric()?;
    let mut kept = Vec::new();
    let mut deleted = Vec::new();
    for e in &run.entries {
        let (Some(step), Some(value)) = (e.step, e.value) else {
            continue;
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let point = (step as f32, value as f32);
        // NaN, the infinities and values beyond f32 have no place on the chart.
        if !point.1.is_finite() || e.metric.as_deref() != Some(metric) {
            continue;
        }
        if matches!(e.fate, Fate::Deleted { .. }) {
            deleted.push(point);
        } else {
            kept.push(point);
        }
    }
    let steps = kept.iter().chain(&deleted).map(|p| p.0);
    let (lo, hi) = steps.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if kept.len() + deleted.len() < 2 || lo >= hi {
        return None;
    }
    // Braille: two dots per column; the labels on the right take about 12 columns.
    let dots = width.saturating_sub(14).clamp(20, 200) * 2;
    // textplots pads the x labels to half the dots minus the right label's length, which
    // must not go below zero (it panics, or in release wraps to a huge padding).
    // Both labels with a gap between them, on half the dots' worth of columns.
    let labels = step_label(lo).chars().count() + step_label(hi).chars().count();
    let dots = u32::try_from(dots.max(2 * (labels + 4))).unwrap_or(u32::MAX);
    let mut chart = Chart::new(dots, 48, lo, hi);
    let mut all: Vec<(f32, f32)> = kept.iter().chain(&deleted).copied().collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let line = Shape::Lines(&all);
    let kept_shape = Shape::Points(&kept);
    let deleted_shape = Shape::Points(&deleted);
    let mut drawn = chart
        .lineplot(&line)
        .x_label_format(LabelFormat::Custom(Box::new(step_label)))
        .y_label_format(LabelFormat::Custom(Box::new(|y| {
            crate::report::metric_text(f64::from(y))
        })));
    if !kept.is_empty() {
        drawn = drawn.linecolorplot(&kept_shape, KEPT);
    }
    if !deleted.is_empty() {
        drawn = drawn.linecolorplot(&deleted_shape, DELETED);
    }
    drawn.axis();
    drawn.figures();
    let legend = if color {
        format!(
            "\x1b[32m●\x1b[0m kept ({}), \x1b[31m●\x1b[0m deleted ({})",
            kept.len(),
            deleted.len()
        )
    } else {
        format!(
            "{} kept, {} deleted (without colour they look alike; the table says which)",
            kept.len(),
            deleted.len()
        )
    };
    Some(format!("{metric} against step: {legend}\n{drawn}\n"))
}

fn step_label(x: f32) -> String {
    format!("step {x:.0}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_with_a_curve_is_drawn_and_one_without_is_not() {
        let runs = super::super::fold(
            r#"{"time":0,"event":"complete","run":"/r","checkpoint":"c-1","step":100,"completed":0,"metric":"loss","value":2.0}
{"time":0,"event":"complete","run":"/r","checkpoint":"c-2","step":200,"completed":1,"metric":"loss","value":1.0}
{"time":9,"event":"deleted","run":"/r","checkpoint":"c-1","step":100,"detail":"x"}
{"time":0,"event":"complete","run":"/s","checkpoint":"d-1","step":100,"completed":0}"#
                .lines(),
        );
        let drawn = plot(&runs[0], 80, true).unwrap();
        assert!(drawn.starts_with("loss against step:"), "{drawn}");
        assert!(
            drawn.contains("kept (1)") && drawn.contains("deleted (1)"),
            "{drawn}"
        );
        // Braille dots were drawn.
        assert!(
            drawn
                .chars()
                .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
            "{drawn}"
        );
        assert_eq!(plot(&runs[1], 80, true), None);
        // Narrow terminals still get a chart textplots accepts.
        assert!(plot(&runs[0], 5, true).is_some());
        // A flat curve, and values beyond f32, draw without a panic.
        let flat = super::super::fold(
            r#"{"time":0,"event":"complete","run":"/r","checkpoint":"a","step":1,"completed":0,"metric":"m","value":1.0}
{"time":0,"event":"complete","run":"/r","checkpoint":"b","step":2,"completed":1,"metric":"m","value":1.0}
{"time":0,"event":"complete","run":"/r","checkpoint":"c","step":3,"completed":2,"metric":"m","value":1e300}"#
                .lines(),
        );
        let _ = plot(&flat[0], 80, true);
        // Steps far apart on a narrow terminal: the labels are longer than half the chart.
        let wide = super::super::fold(
            r#"{"time":0,"event":"complete","run":"/r","checkpoint":"a","step":0,"completed":0,"metric":"m","value":1.0}
{"time":0,"event":"complete","run":"/r","checkpoint":"b","step":18446744073709551615,"completed":1,"metric":"m","value":2.0}"#
                .lines(),
        );
        for width in [0, 20, 30, 34, 80] {
            assert!(plot(&wide[0], width, false).is_some());
        }
    }
}

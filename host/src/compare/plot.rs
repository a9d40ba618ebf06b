//! The comparison's figures, each as SVG and PNG: accuracy against the share of
//! parameters kept and accuracy against latency on the runtime (one Pareto curve per
//! method over the targets, the equal-accuracy floor dashed and each method's
//! equal-accuracy result ringed), and the share of each layer's parameters kept as
//! grouped bars.
//!
//! Text is drawn with a font compiled into the binary (DejaVu Sans, through ab_glyph),
//! so the PNGs have labels on a machine without fontconfig or any system font.
use super::{Comparison, Entry};
use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (1000, 640);

fn register_font() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the bundled font could not be read"))
    }
}

fn pe<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// A fixed colour per method, so every figure agrees.
pub fn color(method: &str) -> RGBColor {
    match method {
        "deepiot" => RGBColor(31, 119, 180),
        "magnitude" => RGBColor(230, 115, 0),
        "l1-structured" => RGBColor(44, 160, 44),
        "original" => RGBColor(40, 40, 40),
        _ => RGBColor(148, 103, 189),
    }
}

/// The methods of the results, in first-seen order.
fn methods(c: &Comparison) -> Vec<String> {
    let mut m: Vec<String> = Vec::new();
    for r in &c.results {
        if !m.contains(&r.method) {
            m.push(r.method.clone());
        }
    }
    m
}

fn pct(e: &Entry) -> f64 {
    100.0 * e.kept_fraction
}

fn acc(e: &Entry) -> f64 {
    100.0 * e.test_accuracy
}

/// How a method's points are drawn: radius and whether filled. Sizes differ so that
/// results at the same spot stay visible (a small dot inside a ring inside a disc).
fn marker(method: &str, col: RGBColor) -> (i32, ShapeStyle) {
    match method {
        "magnitude" => (10, col.stroke_width(2)),
        "l1-structured" => (4, col.filled()),
        _ => (7, col.filled()),
    }
}

/// The file a reused result came from (several results of one method are told apart
/// by it), or nothing for results the comparison ran itself.
fn reused_stem(e: &Entry) -> Option<String> {
    (e.target.is_none() && e.source == "reused")
        .then(|| Path::new(&e.file).file_stem())
        .flatten()
        .map(|s| s.to_string_lossy().into_owned())
}

/// Each point's label at its offset ([`label_offsets`]), with a leader when moved.
fn draw_point_labels<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    pts: &[(f64, f64, String, i32)],
    col: RGBColor,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .draw_series(pts.iter().map(|(x, y, t, off)| {
            EmptyElement::at((*x, *y))
                + leader(*off, col)
                + Text::new(t.clone(), (8, *off), (FAMILY, 14).into_font().color(&col))
        }))
        .map_err(pe)?;
    Ok(())
}

/// One method's Pareto curve: its results joined in order of x (one point for the
/// original), each marked and labelled at its offset ([`label_offsets`]).
fn draw_curve<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    method: &str,
    mut pts: Vec<(f64, f64, String, i32)>,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let col = color(method);
    let (radius, style) = marker(method, col);
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.0, p.1)),
            col.stroke_width(3),
        ))
        .map_err(pe)?
        .label(method)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], col.stroke_width(3)));
    chart
        .draw_series(
            pts.iter()
                .map(|(x, y, _, _)| Circle::new((*x, *y), radius, style)),
        )
        .map_err(pe)?;
    draw_point_labels(chart, &pts, col)
}

/// The equal-accuracy reading: a dashed line at the accuracy floor across `span` and a
/// black ring around each method's smallest result above it ([`super::table::best_within`]).
fn mark_equal_accuracy<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    c: &Comparison,
    x: impl Fn(&Entry) -> Option<f64>,
    span: (f64, f64),
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
{
    let floor = acc(&c.original) - c.within_pt;
    let dash = ShapeStyle::from(&BLACK.mix(0.6)).stroke_width(1);
    chart
        .draw_series(DashedLineSeries::new(
            vec![(span.0, floor), (span.1, floor)],
            6,
            6,
            dash,
        ))
        .map_err(pe)?
        .label(format!(
            "equal accuracy: at most {} point below the original",
            c.within_pt
        ))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], dash));
    let ring = BLACK.stroke_width(2);
    let best: Vec<(f64, f64)> = super::table::best_within(c)
        .into_iter()
        .filter_map(|e| x(e).map(|v| (v, acc(e))))
        .collect();
    if !best.is_empty() {
        chart
            .draw_series(best.iter().map(|&p| Circle::new(p, 15, ring)))
            .map_err(pe)?
            .label("each method's smallest result at equal accuracy")
            .legend(move |(x, y)| Circle::new((x + 10, y), 7, ring));
    }
    Ok(())
}

/// The legend box at `position`, then the figure written out.
fn legend_and_present<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    root: &DrawingArea<DB, Shift>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FAMILY, 16))
        .draw()
        .map_err(pe)?;
    root.present().map_err(pe)?;
    Ok(())
}

/// A thin line from a point to its label when the label had to move away from it
/// (nothing when it sits in its usual place just above).
fn leader(offset: i32, col: RGBColor) -> PathElement<(i32, i32)> {
    let end = if offset == -18 {
        (0, 0)
    } else {
        (8, offset + 8)
    };
    PathElement::new(vec![(0, 0), end], col.stroke_width(1))
}

/// Vertical pixel offsets for point labels: first `-18` (just above the point), else the
/// nearest free row above or below, so that no label covers another label or any point.
/// `points` are the anchors in pixels (y downwards) with the label's length in characters;
/// a label's text starts 8 px right of its point.
fn label_offsets(points: &[Option<(f64, f64, usize)>]) -> Vec<i32> {
    const LINE: f64 = 16.0;
    const CHAR: f64 = 7.5;
    const DOT: f64 = 8.0;
    // Boxes as (left, top, right, bottom); every point's marker is one from the start.
    let mut taken: Vec<(f64, f64, f64, f64)> = points
        .iter()
        .flatten()
        .map(|&(x, y, _)| (x - DOT, y - DOT, x + DOT, y + DOT))
        .collect();
    let clear = |b: (f64, f64, f64, f64), taken: &[(f64, f64, f64, f64)]| {
        taken
            .iter()
            .all(|t| b.2 <= t.0 || t.2 <= b.0 || b.3 <= t.1 || t.3 <= b.1)
    };
    points
        .iter()
        .map(|p| {
            let Some((x, y, len)) = *p else {
                return -18;
            };
            let w = len as f64 * CHAR;
            let at = |off: f64| (x + DOT, y + off, x + DOT + w, y + off + LINE);
            // -18, -34, -2, -50, 14, ...: alternately further up and down.
            let off = (0..40)
                .map(|k| {
                    -18.0
                        + LINE
                            * if k % 2 == 1 {
                                -((k + 1) / 2) as f64
                            } else {
                                (k / 2) as f64
                            }
                })
                .find(|&off| clear(at(off), &taken))
                .unwrap_or(-18.0);
            taken.push(at(off));
            off as i32
        })
        .collect()
}

/// A y range around the accuracies that leaves room for the legend.
fn acc_range(c: &Comparison) -> (f64, f64) {
    let all = std::iter::once(&c.original).chain(&c.results).map(acc);
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let span = (hi - lo).max(1.0);
    ((lo - 0.25 * span).max(0.0), (hi + 0.15 * span).min(100.5))
}

fn tradeoff<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Comparison) -> Result<()> {
    root.fill(&WHITE).map_err(pe)?;
    let min_kept = c.results.iter().map(pct).fold(100.0f64, f64::min).max(1e-3);
    // Start at a power of ten so the log axis has at least two labelled decades.
    let lo = 10f64.powf((min_kept * 0.9).log10().floor());
    let (ylo, yhi) = acc_range(c);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: test accuracy vs parameters kept", c.task),
            (FAMILY, 26),
        )
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..150.0).log_scale(), ylo..yhi)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .x_labels(12)
        .x_desc("parameters kept (% of the original, log scale)")
        .y_desc("test accuracy (%)")
        .x_label_formatter(&|x| {
            super::percent(*x / 100.0)
                .trim_end_matches(" %")
                .to_string()
        })
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()
        .map_err(pe)?;
    let o = acc(&c.original);
    chart
        .draw_series(LineSeries::new(
            vec![(lo, o), (150.0, o)],
            ShapeStyle::from(&color("original")).stroke_width(1),
        ))
        .map_err(pe)?
        .label(format!("original ({o:.2} %, 100 % of parameters)"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color("original")));
    mark_equal_accuracy(&mut chart, c, |e| Some(pct(e).max(lo)), (lo, 150.0))?;
    // Labels, placed over every result at once so that no two overlap.
    let (plot_w, plot_h) = (880.0, 480.0);
    let (llo, lhi) = (lo.log10(), 150f64.log10());
    let texts: Vec<String> = c
        .results
        .iter()
        .map(|r| {
            let t = format!("{:.2} %, {:.2} %", pct(r), acc(r));
            match reused_stem(r) {
                Some(stem) => format!("{t} ({stem})"),
                None => t,
            }
        })
        .collect();
    let anchors: Vec<Option<(f64, f64, usize)>> = c
        .results
        .iter()
        .zip(&texts)
        .map(|(r, t)| {
            let px = (pct(r).max(lo).log10() - llo) / (lhi - llo) * plot_w;
            let py = (yhi - acc(r)) / (yhi - ylo) * plot_h;
            Some((px, py, t.chars().count()))
        })
        .collect();
    let offsets = label_offsets(&anchors);
    for m in methods(c) {
        let pts: Vec<(f64, f64, String, i32)> = c
            .results
            .iter()
            .zip(texts.iter().zip(&offsets))
            .filter(|(r, _)| r.method == m)
            .map(|(r, (t, &off))| (pct(r), acc(r), t.clone(), off))
            .collect();
        draw_curve(&mut chart, &m, pts)?;
    }
    legend_and_present(&mut chart, root, SeriesLabelPosition::LowerRight)
}

fn latency<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Comparison) -> Result<()> {
    root.fill(&WHITE).map_err(pe)?;
    let all: Vec<&Entry> = std::iter::once(&c.original).chain(&c.results).collect();
    let max_lat = all
        .iter()
        .filter_map(|e| e.latency_us)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let (ylo, yhi) = acc_range(c);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: test accuracy vs latency on the board runtime", c.task),
            (FAMILY, 26),
        )
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..max_lat * 1.2, ylo..yhi)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .x_desc("median latency per example (µs, i686 deepiot-run bench)")
        .y_desc("test accuracy (%)")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()
        .map_err(pe)?;
    // Label offsets in pixels, pushed down until no two labels overlap (results of one
    // size crowd together at the left).
    let (plot_w, plot_h) = (880.0, 480.0);
    let tag = |e: &Entry| -> String {
        let t = if e.method == "original" {
            "original".to_string()
        } else {
            match reused_stem(e) {
                Some(stem) => format!("{:.2} % kept, {stem}", pct(e)),
                None => format!("{:.2} % kept", pct(e)),
            }
        };
        format!("{t} ({})", e.deploy_format)
    };
    let offsets = label_offsets(
        &all.iter()
            .map(|e| {
                e.latency_us.map(|l| {
                    (
                        l / (max_lat * 1.2) * plot_w,
                        (yhi - acc(e)) / (yhi - ylo) * plot_h,
                        tag(e).chars().count(),
                    )
                })
            })
            .collect::<Vec<_>>(),
    );
    let mut names = vec!["original".to_string()];
    names.extend(methods(c));
    for m in names {
        let pts: Vec<(f64, f64, String, i32)> = all
            .iter()
            .zip(&offsets)
            .filter(|(e, _)| e.method == m)
            .filter_map(|(e, &off)| e.latency_us.map(|l| (l, acc(e), tag(e), off)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        draw_curve(&mut chart, &m, pts)?;
    }
    mark_equal_accuracy(&mut chart, c, |e| e.latency_us, (0.0, max_lat * 1.2))?;
    legend_and_present(&mut chart, root, SeriesLabelPosition::LowerRight)
}

fn layers<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Comparison) -> Result<()> {
    root.fill(&WHITE).map_err(pe)?;
    let names: Vec<String> = c
        .original
        .layers
        .iter()
        .map(|l| {
            if l.direction == 1 {
                format!("{} (bwd)", l.layer)
            } else {
                l.layer.clone()
            }
        })
        .collect();
    let n = names.len().max(1);
    let k = c.results.len().max(1);
    let share = |r: &Entry, i: usize| -> f64 {
        r.layers.get(i).map_or(0.0, |l| {
            100.0 * l.params_after as f64 / l.params_before.max(1) as f64
        })
    };
    let min = c
        .results
        .iter()
        .flat_map(|r| (0..n).map(move |i| share(r, i)))
        .filter(|v| *v > 0.0)
        .fold(100.0f64, f64::min);
    let floor = 10f64.powf((min.max(1e-4)).log10().floor());
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: parameters kept per layer", c.task),
            (FAMILY, 26),
        )
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (floor..180.0).log_scale())
        .map_err(pe)?;
    let labels = names.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&move |x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| super::percent(*y / 100.0))
        .x_desc("layer")
        .y_desc("parameters kept (% of the layer, log scale)")
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()
        .map_err(pe)?;
    let width = 0.8 / k as f64;
    for (j, r) in c.results.iter().enumerate() {
        // Shades of the method's colour tell its targets apart.
        let base = color(&r.method);
        let same: Vec<&Entry> = c.results.iter().filter(|x| x.method == r.method).collect();
        let rank = same.iter().position(|x| std::ptr::eq(*x, r)).unwrap_or(0);
        let fade = if same.len() > 1 {
            0.55 * rank as f64 / (same.len() - 1) as f64
        } else {
            0.0
        };
        let mix = |v: u8| (v as f64 + (255.0 - v as f64) * fade) as u8;
        let col = RGBColor(mix(base.0), mix(base.1), mix(base.2));
        let bars: Vec<(f64, f64)> = (0..n)
            .map(|i| (i as f64 - 0.4 + width * j as f64, share(r, i).max(floor)))
            .collect();
        chart
            .draw_series(bars.iter().map(|&(x0, y)| {
                Rectangle::new([(x0, floor), (x0 + width * 0.92, y)], col.filled())
            }))
            .map_err(pe)?
            .label(r.label())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.filled()));
        // Values over the bars only where they fit (about 30 px for "12.34"); the
        // report's per-layer table has them all.
        if 880.0 * width / n as f64 >= 30.0 {
            chart
                .draw_series(bars.iter().map(|&(x0, y)| {
                    Text::new(
                        format!("{y:.2}"),
                        (x0, y * 1.12),
                        (FAMILY, 12).into_font().color(&BLACK),
                    )
                }))
                .map_err(pe)?;
        }
    }
    legend_and_present(&mut chart, root, SeriesLabelPosition::UpperRight)
}

type Draw<'a> = &'a dyn Fn(&Comparison, &Path, bool) -> Result<()>;

/// Draws `stem.svg` and `stem.png`, each under a temporary name renamed when complete, so
/// an interrupted run never leaves half a figure. (The temporary name keeps the extension:
/// the bitmap backend picks its encoder by it.)
fn both(c: &Comparison, dir: &Path, stem: &str, draw: Draw) -> Result<Vec<PathBuf>> {
    let mut files = Vec::with_capacity(2);
    for (ext, svg) in [("svg", true), ("png", false)] {
        let dest = dir.join(format!("{stem}.{ext}"));
        let tmp = dir.join(format!(".{stem}.tmp{}.{ext}", std::process::id()));
        draw(c, &tmp, svg)
            .and_then(|()| {
                std::fs::rename(&tmp, &dest)
                    .with_context(|| format!("cannot write {}", dest.display()))
            })
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
        files.push(dest);
    }
    Ok(files)
}

macro_rules! on_backend {
    ($f:ident) => {
        |c: &Comparison, path: &Path, svg: bool| -> Result<()> {
            if svg {
                let root = SVGBackend::new(path, SIZE).into_drawing_area();
                $f(&root, c)
            } else {
                let root = BitMapBackend::new(path, SIZE).into_drawing_area();
                $f(&root, c)
            }
        }
    };
}

/// Draws every figure into `dir`; returns the files written. The latency figure is left
/// out when nothing was timed.
pub fn draw_all(c: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    let mut files = both(c, dir, "tradeoff", &on_backend!(tradeoff))?;
    if std::iter::once(&c.original)
        .chain(&c.results)
        .any(|e| e.latency_us.is_some())
    {
        files.extend(both(c, dir, "latency", &on_backend!(latency))?);
    }
    files.extend(both(c, dir, "layers", &on_backend!(layers))?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::label_offsets;

    #[test]
    fn labels_at_one_spot_are_stacked_and_distant_ones_stay_put() {
        let same = Some((100.0, 200.0, 20));
        assert_eq!(label_offsets(&[same, same, same]), vec![-18, -34, -2]);
        // Far apart horizontally (the first label is 150 px wide): both above their points.
        let far = Some((300.0, 200.0, 20));
        assert_eq!(label_offsets(&[same, far]), vec![-18, -18]);
        // Overlapping text but 40 px lower: no clash either.
        let below = Some((120.0, 240.0, 20));
        assert_eq!(label_offsets(&[same, None, below]), vec![-18, -18, -18]);
        // A label never covers another point: this one's usual place holds a marker.
        let under = Some((100.0, 200.0, 20));
        let marker_above = Some((130.0, 190.0, 2));
        assert_ne!(label_offsets(&[under, marker_above])[0], -18);
    }
}

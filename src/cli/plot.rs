//! Line charts of per-epoch curves, drawn with `plotters` into PNG and SVG files.
//!
//! Text is laid out with a bundled font (DejaVu Sans, see `assets/fonts/LICENSE`)
//! through plotters' `ab_glyph` backend, so no system font or fontconfig is needed.

use backprop::{Error, Result};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::{Circle, EmptyElement, PathElement, Text};
use plotters::prelude::{
    BitMapBackend, ChartBuilder, DashedLineSeries, DrawingArea, DrawingAreaErrorKind, DrawingBackend, IntoDrawingArea,
    LineSeries, SVGBackend, SeriesLabelPosition,
};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontStyle, IntoFont, RGBColor, TextStyle, BLACK, WHITE};
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

/// The training curve's colour (blue).
pub(crate) const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
/// The validation curve's colour (red).
pub(crate) const VALIDATION_COLOR: RGBColor = RGBColor(214, 39, 40);
/// The best-epoch marker's colour (dark grey).
const MARKER_COLOR: RGBColor = RGBColor(90, 90, 90);
/// Pixel size of every plot.
const SIZE: (u32, u32) = (960, 600);
const FONT: &str = "sans-serif";

/// One curve: a name for the legend, a colour and its (epoch, value) points.
pub(crate) struct Series {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// A marked point: the best epoch, drawn as a dashed vertical line and a labelled ring.
pub(crate) struct Marker {
    pub epoch: f64,
    pub value: Option<f64>,
    pub label: String,
}

/// Everything one chart shows.
pub(crate) struct Chart {
    pub title: String,
    /// What the x axis counts: "epoch" or "step".
    pub x_label: &'static str,
    pub y_label: String,
    pub series: Vec<Series>,
    pub marker: Option<Marker>,
    /// A line of text under the chart (wrapped when long).
    pub caption: String,
    /// Prefer the legend bottom right (for rising curves) to top right; either
    /// way it goes to the corner with the fewest points.
    pub legend_low: bool,
    /// Formats the y axis labels.
    pub y_format: fn(f64) -> String,
    /// The y values are log10 of the figures: ticks at whole powers of ten
    /// (`y_format` writes them as `1e-3`).
    pub log_y: bool,
}

/// Draws `chart` into a PNG file.
pub(crate) fn write_png(chart: &Chart, path: &Path) -> Result<()> {
    register_font()?;
    let (w, h) = SIZE;
    let mut pixels = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&root, chart).map_err(|e| draw_error(path, e))?;
    }
    let img = image::RgbImage::from_raw(w, h, pixels).expect("the buffer holds w x h RGB pixels");
    super::explain::save_png(&img, path)
}

/// Draws `chart` into an SVG file.
pub(crate) fn write_svg(chart: &Chart, path: &Path) -> Result<()> {
    register_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, chart).map_err(|e| draw_error(path, e))?;
    }
    backprop::checkpoint::write_atomically(path, svg.as_bytes())
}

fn draw_error<E: std::error::Error + Send + Sync>(path: &Path, e: DrawingAreaErrorKind<E>) -> Error {
    Error::format(path, format!("could not draw the plot: {e}"))
}

/// Registers the bundled font under the family name the charts use (once per process).
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    static BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("plot font", "the bundled font assets/fonts/DejaVuSans.ttf could not be read"))
    }
}

fn text(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Chart,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (width, height) = root.dim_in_pixel();
    let measure = |line: &str| root.estimate_text_size(line, &text(17.0)).map_or(line.len() as u32 * 9, |(w, _)| w);
    let lines = wrap(&c.caption, width - 48, measure);
    let (plot, foot) = root.split_vertically(height - 16 - 24 * lines.len() as u32);
    for (i, line) in lines.iter().enumerate() {
        foot.draw(&Text::new(line.clone(), (24, 4 + 24 * i as i32), text(17.0)))?;
    }
    let points = || c.series.iter().flat_map(|s| s.points.iter());
    let last_epoch = points().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = padded_range(points().map(|p| p.1));
    let x_axis = EpochAxis { range: 0.5..last_epoch + 0.5, ticks: epoch_ticks(last_epoch as usize) };
    let ticks = c.log_y.then(|| power_ticks(lo, hi)).filter(|t| !t.is_empty());
    let y_axis = ValueAxis { range: lo..hi, ticks };
    let mut chart = ChartBuilder::on(&plot)
        .caption(&c.title, text(24.0))
        .margin(16)
        .x_label_area_size(52)
        .y_label_area_size(80)
        .build_cartesian_2d(x_axis, y_axis)?;
    let y_format = |v: &f64| (c.y_format)(*v);
    chart
        .configure_mesh()
        .x_desc(c.x_label)
        .y_desc(c.y_label.as_str())
        .y_label_formatter(&y_format)
        .y_labels(8)
        .label_style(text(15.0))
        .axis_desc_style(text(17.0))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
        .max_light_lines(4)
        .draw()?;
    if let Some(m) = &c.marker {
        chart.draw_series(DashedLineSeries::new(
            vec![(m.epoch, lo), (m.epoch, hi)],
            8,
            6,
            MARKER_COLOR.stroke_width(2),
        ))?;
    }
    for s in &c.series {
        let style = s.color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.clone(), style))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, s.color.filled())))?;
    }
    if let Some(m) = &c.marker {
        // The legend entry of the dashed line, listed after the curves.
        let style = MARKER_COLOR.stroke_width(2);
        chart.draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?.label(m.label.clone()).legend(
            move |(x, y)| {
                let dash = |from: i32, to: i32| PathElement::new(vec![(from, 0), (to, 0)], style);
                EmptyElement::at((x, y)) + dash(0, 9) + dash(15, 24)
            },
        );
    }
    if let Some(Marker { epoch, value: Some(v), .. }) = &c.marker {
        // The label goes on the side of the ring with more room.
        let left = *epoch > (last_epoch + 1.0) / 2.0;
        let (dx, anchor) = if left { (-12, HPos::Right) } else { (12, HPos::Left) };
        let label = text(15.0).pos(Pos::new(anchor, VPos::Bottom));
        let ring = EmptyElement::at((*epoch, *v))
            + Circle::new((0, 0), 8, BLACK.stroke_width(2))
            + Text::new(format!("best: {} {}", c.x_label, epoch.round() as i64), (dx, -12), label);
        chart.draw_series(std::iter::once(ring))?;
    }
    chart
        .configure_series_labels()
        .position(legend_corner(c, (0.5, last_epoch + 0.5), (lo, hi)))
        .margin(12)
        .label_font(text(15.0))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()
}

/// The corner of the plot whose quarter holds the fewest points, so the legend
/// hides as few of them as it can (the last epochs' points above all); ties
/// go to the chart's preference (`legend_low`: bottom right, else top right),
/// then to the right-hand corners.
fn legend_corner(c: &Chart, (x0, x1): (f64, f64), (lo, hi): (f64, f64)) -> SeriesLabelPosition {
    use SeriesLabelPosition::{LowerLeft, LowerRight, UpperLeft, UpperRight};
    let preferred = if c.legend_low { [LowerRight, UpperRight] } else { [UpperRight, LowerRight] };
    let order = [preferred[0].clone(), preferred[1].clone(), UpperLeft, LowerLeft];
    let in_corner = |corner: &SeriesLabelPosition, (x, y): (f64, f64)| {
        let fx = (x - x0) / (x1 - x0).max(f64::MIN_POSITIVE);
        let fy = (y - lo) / (hi - lo).max(f64::MIN_POSITIVE);
        let (right, top) = (fx > 0.6, fy > 0.6);
        let (left, bottom) = (fx < 0.4, fy < 0.4);
        match corner {
            UpperRight => right && top,
            LowerRight => right && bottom,
            UpperLeft => left && top,
            _ => left && bottom,
        }
    };
    let count = |corner: &SeriesLabelPosition| {
        c.series.iter().flat_map(|s| s.points.iter()).filter(|&&p| in_corner(corner, p)).count()
    };
    // `min_by_key` keeps the first of equal counts: the order above is the preference.
    order.into_iter().min_by_key(count).expect("four corners")
}

/// The x axis: epochs, labelled at whole epochs only.
struct EpochAxis {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for EpochAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new() // no light grid lines between epochs
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for EpochAxis {
    fn format(value: &f64) -> String {
        format!("{}", value.round() as i64)
    }
}

/// The y axis: plotters' own ticks, or given ones (whole powers of ten on a log scale).
struct ValueAxis {
    range: Range<f64>,
    ticks: Option<Vec<f64>>,
}

impl Ranged for ValueAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range.clone()).map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        match &self.ticks {
            Some(_) if hint.weight().allow_light_points() => Vec::new(),
            Some(ticks) => ticks.clone(),
            None => RangedCoordf64::from(self.range.clone()).key_points(hint),
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for ValueAxis {
    fn format(value: &f64) -> String {
        format!("{value}")
    }
}

/// Whole numbers from `lo` to `hi` (powers of ten on a log10 axis), every 1,
/// 2, 3, ... so that at most 9 are labelled; halves when fewer than two whole ones fit.
fn power_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.ceil() as i64, hi.floor() as i64);
    if last - first < 1 {
        let (first, last) = ((2.0 * lo).ceil() as i64, (2.0 * hi).floor() as i64);
        return (first..=last).map(|h| h as f64 / 2.0).collect();
    }
    let step = ((last - first) / 8 + 1) as usize;
    (first..=last).step_by(step).map(|p| p as f64).collect()
}

/// The value range with 6% room on each side (a little room when all values are equal).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.06 * (hi - lo) } else { 0.05 * lo.abs().max(1e-3) };
    (lo - pad, hi + pad)
}

/// Whole epochs 1..=last, every 1, 2, 5, 10, 20, ... so that at most 15 are labelled.
fn epoch_ticks(last: usize) -> Vec<f64> {
    let last = last.max(1);
    let step = [1, 2, 5].iter().flat_map(|m| (0..8).map(move |p| m * 10usize.pow(p))).filter(|s| last / s <= 15).min();
    let step = step.unwrap_or(last);
    let first = if step == 1 { 1 } else { step };
    let mut ticks: Vec<f64> = (first..=last).step_by(step).map(|e| e as f64).collect();
    if step > 1 {
        ticks.insert(0, 1.0);
    }
    ticks
}

/// Splits `text` at spaces into lines no wider than `width` as `measure`d (a
/// single word wider than that gets a line of its own).
fn wrap(text: &str, width: u32, measure: impl Fn(&str) -> u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if measure(&format!("{line} {word}")) <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_goes_where_the_points_are_not() {
        let chart = |points: Vec<(f64, f64)>, legend_low| Chart {
            title: String::new(),
            x_label: "epoch",
            y_label: String::new(),
            series: vec![Series { name: "train".into(), color: BLACK, points }],
            marker: None,
            caption: String::new(),
            legend_low,
            y_format: |v| v.to_string(),
            log_y: false,
        };
        let falling: Vec<(f64, f64)> = (1..=10).map(|e| (e as f64, 1.0 / e as f64)).collect();
        let rising: Vec<(f64, f64)> = falling.iter().map(|&(e, v)| (e, 1.0 - v)).collect();
        let at = |c: &Chart| legend_corner(c, (0.5, 10.5), (0.0, 1.0));
        // A falling loss leaves the top right free; a rising accuracy the bottom right.
        assert!(matches!(at(&chart(falling.clone(), false)), SeriesLabelPosition::UpperRight));
        assert!(matches!(at(&chart(falling, true)), SeriesLabelPosition::UpperRight));
        assert!(matches!(at(&chart(rising.clone(), false)), SeriesLabelPosition::LowerRight));
        assert!(matches!(at(&chart(rising, true)), SeriesLabelPosition::LowerRight));
        // Flat at mid height: the preference decides.
        let flat: Vec<(f64, f64)> = (1..=10).map(|e| (e as f64, 0.5)).collect();
        assert!(matches!(at(&chart(flat.clone(), true)), SeriesLabelPosition::LowerRight));
        assert!(matches!(at(&chart(flat, false)), SeriesLabelPosition::UpperRight));
    }

    #[test]
    fn ticks_are_whole_epochs_and_few() {
        assert_eq!(epoch_ticks(1), vec![1.0]);
        assert_eq!(epoch_ticks(4), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            epoch_ticks(30),
            vec![1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 22.0, 24.0, 26.0, 28.0, 30.0]
        );
        assert!(epoch_ticks(1000).len() <= 16);
    }

    #[test]
    fn log_axes_are_labelled_at_powers_of_ten() {
        assert_eq!(power_ticks(-4.9, -0.3), vec![-4.0, -3.0, -2.0, -1.0]);
        assert_eq!(power_ticks(-3.2, -2.6), vec![-3.0]);
        assert_eq!(power_ticks(-2.9, -2.6), Vec::<f64>::new());
        assert_eq!(power_ticks(-2.9, -2.4), vec![-2.5]);
        assert!(power_ticks(-30.0, 10.0).len() <= 9);
    }

    #[test]
    fn ranges_and_wrapping() {
        let (lo, hi) = padded_range([1.0, 2.0, f64::NAN].into_iter());
        assert!((lo - 0.94).abs() < 1e-12 && (hi - 2.06).abs() < 1e-12);
        assert_eq!(padded_range(std::iter::empty()), (0.0, 1.0));
        let (lo, hi) = padded_range([0.5, 0.5].into_iter());
        assert!(lo < 0.5 && hi > 0.5);
        let chars = |s: &str| s.len() as u32;
        assert_eq!(wrap("aa bb cc", 5, chars), vec!["aa bb", "cc"]);
        assert_eq!(wrap("aaaaaaa b", 5, chars), vec!["aaaaaaa", "b"]);
        assert_eq!(wrap("", 5, chars), Vec::<String>::new());
    }
}

//! A stacked bar chart rendered to PNG, small enough to embed in an email.
//!
//! No plotting library: bars, grid lines and a 3×5 pixel font for the axis
//! numbers are all a weekly cost chart needs. Names (providers) are never
//! drawn into the image; the report shows them in an HTML legend, escaped.

use std::collections::BTreeMap;

use base64::Engine;

/// Colors for series, in order; cycled past the end.
pub const PALETTE: &[[u8; 3]] = &[
    [0x1f, 0x77, 0xb4],
    [0xff, 0x7f, 0x0e],
    [0x2c, 0xa0, 0x2c],
    [0xd6, 0x27, 0x28],
    [0x94, 0x67, 0xbd],
    [0x8c, 0x56, 0x4b],
    [0xe3, 0x77, 0xc2],
    [0x7f, 0x7f, 0x7f],
];

const WIDTH: usize = 640;
const HEIGHT: usize = 260;
const LEFT: usize = 56;
const RIGHT: usize = 12;
const TOP: usize = 12;
const BOTTOM: usize = 28;
const SCALE: usize = 2;

/// One bar: a label under it (digits only) and a value per series.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub values: Vec<f64>,
}

/// A rendered chart: the PNG and the axis maximum it was drawn to.
#[derive(Debug, Clone)]
pub struct Chart {
    pub png: Vec<u8>,
    pub axis_max: f64,
}

impl Chart {
    pub fn data_uri(&self) -> String {
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&self.png)
        )
    }
}

/// Draws `bars` stacked bottom to top in series order. Negative values
/// (credits) are not drawn; the tables show them.
pub fn stacked_bars(bars: &[Bar]) -> Chart {
    let mut canvas = Canvas::new(WIDTH, HEIGHT);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let plot_w = WIDTH - LEFT - RIGHT;
    let peak = bars
        .iter()
        .map(|b| b.values.iter().filter(|v| **v > 0.0).sum::<f64>())
        .fold(0.0_f64, f64::max);
    let axis_max = nice_ceiling(peak);
    let y_of = |v: f64| {
        TOP + plot_h
            - ((v / axis_max) * plot_h as f64)
                .round()
                .clamp(0.0, plot_h as f64) as usize
    };

    let grid = [0xdd, 0xdd, 0xdd];
    let ink = [0x44, 0x44, 0x44];
    for i in 0..=4 {
        let v = axis_max * f64::from(i) / 4.0;
        let y = y_of(v);
        canvas.fill(LEFT, y, plot_w, 1, if i == 0 { ink } else { grid });
        let label = axis_label(v, axis_max);
        let w = text_width(&label);
        canvas.text(
            LEFT.saturating_sub(w + 6),
            y.saturating_sub(2 * SCALE + 1),
            &label,
            ink,
        );
    }
    if !bars.is_empty() {
        let slot = plot_w / bars.len();
        let bar_w = (slot * 7 / 10).max(1);
        for (i, bar) in bars.iter().enumerate() {
            let x = LEFT + i * slot + (slot - bar_w) / 2;
            let mut base = 0.0;
            for (s, v) in bar.values.iter().enumerate() {
                if *v <= 0.0 {
                    continue;
                }
                let (y0, y1) = (y_of(base + v), y_of(base));
                canvas.fill(
                    x,
                    y0,
                    bar_w,
                    y1.saturating_sub(y0),
                    PALETTE[s % PALETTE.len()],
                );
                base += v;
            }
            let w = text_width(&bar.label);
            canvas.text(
                x + bar_w / 2 - w.min(x + bar_w / 2) / 2,
                HEIGHT - BOTTOM + 8,
                &bar.label,
                ink,
            );
        }
    }
    Chart {
        png: canvas.png(),
        axis_max,
    }
}

/// The smallest round number at or above `v` whose quarters are round too
/// (1 for nothing), so the four grid steps have short labels.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 1.2, 1.6, 2.0, 2.4, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|c| *c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * mag)
}

/// A grid label with as many decimals as the axis needs.
fn axis_label(v: f64, axis_max: f64) -> String {
    let step = axis_max / 4.0;
    let decimals = (0..=6usize)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6);
    format!("{v:.decimals$}")
}

/// 3×5 glyphs, one row per u8 (low three bits, left to right).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        _ => return None,
    })
}

fn text_width(text: &str) -> usize {
    text.chars().count() * 4 * SCALE
}

struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            rgb: vec![0xff; width * height * 3],
        }
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, color: [u8; 3]) {
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                let i = (row * self.width + col) * 3;
                self.rgb[i..i + 3].copy_from_slice(&color);
            }
        }
    }

    /// Draws the characters the font has; others leave a gap.
    fn text(&mut self, x: usize, y: usize, text: &str, color: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            let Some(rows) = glyph(c) else { continue };
            let cx = x + i * 4 * SCALE;
            for (r, bits) in rows.iter().enumerate() {
                for b in 0..3 {
                    if bits & (0b100 >> b) != 0 {
                        self.fill(cx + b * SCALE, y + r * SCALE, SCALE, SCALE, color);
                    }
                }
            }
        }
    }

    fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // Writing into a Vec cannot fail, and the dimensions match the data.
        let mut writer = encoder.write_header().expect("PNG header into memory");
        writer
            .write_image_data(&self.rgb)
            .expect("PNG data of the canvas size");
        writer.finish().expect("PNG end into memory");
        out
    }
}

/// Sums `(bar key, series key, value)` into bars in key order, series in the
/// order given.
pub fn bars_from<K: Ord + Clone>(
    keys: &[K],
    label: impl Fn(&K) -> String,
    series: &[String],
    points: impl IntoIterator<Item = (K, String, f64)>,
) -> Vec<Bar> {
    let mut sums: BTreeMap<(K, usize), f64> = BTreeMap::new();
    for (k, s, v) in points {
        if let Some(si) = series.iter().position(|x| *x == s) {
            *sums.entry((k, si)).or_default() += v;
        }
    }
    keys.iter()
        .map(|k| Bar {
            label: label(k),
            values: (0..series.len())
                .map(|si| sums.get(&(k.clone(), si)).copied().unwrap_or(0.0))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round_numbers_at_or_above_the_peak() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.83), 1.0);
        assert_eq!(nice_ceiling(1.3), 1.6);
        assert_eq!(nice_ceiling(2.1), 2.4);
        assert_eq!(nice_ceiling(2.4), 2.4);
        assert_eq!(nice_ceiling(4100.0), 5000.0);
        assert_eq!(axis_label(0.25, 1.0), "0.25");
        assert_eq!(axis_label(0.6, 2.4), "0.6");
        assert_eq!(axis_label(1250.0, 5000.0), "1250");
        assert_eq!(axis_label(0.0, 2.4), "0.0");
    }

    #[test]
    fn renders_a_png_with_bars_in_series_colors() {
        let bars = vec![
            Bar {
                label: "23".into(),
                values: vec![1.0, 1.0],
            },
            Bar {
                label: "24".into(),
                values: vec![2.0, -5.0],
            },
        ];
        let chart = stacked_bars(&bars);
        assert_eq!(chart.axis_max, 2.0);
        assert_eq!(&chart.png[1..4], b"PNG");
        assert!(chart.data_uri().starts_with("data:image/png;base64,iVBOR"));
        // Decode and look at the middle of the second bar: the first series'
        // color fills it to the top; the negative second series is not drawn.
        let decoder = png::Decoder::new(std::io::Cursor::new(chart.png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        let pixel = |x: usize, y: usize| &buf[(y * WIDTH + x) * 3..(y * WIDTH + x) * 3 + 3];
        let slot = (WIDTH - LEFT - RIGHT) / 2;
        let x = LEFT + slot + slot / 2;
        assert_eq!(pixel(x, TOP + 2), PALETTE[0]);
        assert_eq!(pixel(x, HEIGHT - BOTTOM - 2), PALETTE[0]);
        // First bar: series 1 on top of series 0, each half the height.
        let x = LEFT + slot / 2;
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert_eq!(pixel(x, TOP + plot_h / 2 - 3), PALETTE[1]);
        assert_eq!(pixel(x, TOP + plot_h / 2 + 3), PALETTE[0]);
        assert_eq!(pixel(x, HEIGHT - BOTTOM - 3), PALETTE[0]);
    }

    #[test]
    fn bars_sum_points_per_key_and_series() {
        let series = vec!["AWS".to_string(), "GCP".to_string()];
        let bars = bars_from(
            &[1, 2],
            |k| k.to_string(),
            &series,
            vec![
                (1, "AWS".into(), 1.0),
                (1, "AWS".into(), 0.5),
                (2, "GCP".into(), 3.0),
                (2, "Other".into(), 9.0),
            ],
        );
        assert_eq!(bars[0].values, vec![1.5, 0.0]);
        assert_eq!(bars[1].values, vec![0.0, 3.0]);
    }
}

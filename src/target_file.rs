//! A target from a visitor's file: an image (dark = mass) or a CSV of x, y points, turned into a
//! [`Drawing`] (data.rs) that trains like a painted one. The browser decodes the image and
//! scales it to a square of pixels; everything from the pixels on happens here, so `cargo test`
//! checks it.

use crate::data::{Dataset, Drawing, HALF_WIDTH, MAX_DRAWING_SIZE};

/// Cells per side of a target from a file: 64 x 64 over [-2.5, 2.5]^2 (0.078 per cell), finer
/// than the KL histogram's 60 x 60 bins.
pub const FILE_GRID: usize = 64;
/// Most bytes of CSV text read: 10 MB is about half a million points.
pub const MAX_CSV_BYTES: usize = 10_000_000;
/// Points of a CSV are scaled into this half-width, inside the plot square with a margin.
const CSV_HALF_WIDTH: f64 = 0.9 * HALF_WIDTH;

/// A drawing from `size` x `size` RGBA pixels (row 0 at the top, as a canvas gives them).
/// A pixel's mass is its darkness times its opacity (with `invert`, its lightness), minus the
/// least mass of any pixel, so a uniform background carries none. An image of one colour has no
/// density and is an error.
pub fn drawing_from_image(rgba: &[u8], size: usize, invert: bool) -> Result<Drawing, String> {
    if !(2..=MAX_DRAWING_SIZE).contains(&size) {
        return Err(format!(
            "an image target must be 2..={MAX_DRAWING_SIZE} pixels square, got {size}"
        ));
    }
    if rgba.len() != size * size * 4 {
        return Err(format!(
            "a {size}x{size} image needs {} RGBA bytes, got {}",
            size * size * 4,
            rgba.len()
        ));
    }
    let mass: Vec<f32> = rgba
        .chunks_exact(4)
        .map(|p| {
            let [r, g, b, a] = [p[0], p[1], p[2], p[3]].map(|c| c as f32 / 255.0);
            let light = 0.2126 * r + 0.7152 * g + 0.0722 * b; // Rec. 709 luminance
            a * if invert { light } else { 1.0 - light }
        })
        .collect();
    let least = mass.iter().copied().fold(f32::INFINITY, f32::min);
    let cells: Vec<f32> = mass.iter().map(|m| m - least).collect();
    // Below 1/255 of difference, every pixel has the same colour (up to rounding).
    if cells.iter().all(|&c| c < 1.0 / 255.0) {
        return Err(
            "the image is all one colour: there is no density to learn (dark pixels carry mass; try invert)"
                .into(),
        );
    }
    valid(Drawing { size, cells })
}

/// A drawing from CSV text: one `x, y` pair per line (commas, semicolons, tabs or spaces
/// between them), an optional header line, any scale. The points are centred and scaled into
/// the plot square (one factor for both axes, so shapes keep their proportions), y up, then
/// binned on a [`FILE_GRID`] grid.
pub fn drawing_from_csv(text: &str) -> Result<Drawing, String> {
    if text.len() > MAX_CSV_BYTES {
        return Err(format!(
            "the CSV has {} bytes; at most {MAX_CSV_BYTES}",
            text.len()
        ));
    }
    let mut points = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split([',', ';', '\t', ' '])
            .filter(|f| !f.is_empty())
            .collect();
        let numbers: Option<Vec<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        match numbers {
            Some(v) if v.len() == 2 && v.iter().all(|x| x.is_finite()) => points.push((v[0], v[1])),
            // A first line of names is a header.
            None if points.is_empty() && k == first_line(text) => {}
            _ => {
                return Err(format!(
                    "line {} of the CSV is not two numbers x, y: '{}'",
                    k + 1,
                    line.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    if points.is_empty() {
        return Err("the CSV holds no x, y points".into());
    }
    let (lo_x, hi_x) = bounds(points.iter().map(|p| p.0));
    let (lo_y, hi_y) = bounds(points.iter().map(|p| p.1));
    let extent = (hi_x - lo_x).max(hi_y - lo_y) / 2.0;
    if extent <= 0.0 {
        return Err("every point of the CSV is the same: there is no density to learn".into());
    }
    let (cx, cy, scale) = (
        (lo_x + hi_x) / 2.0,
        (lo_y + hi_y) / 2.0,
        CSV_HALF_WIDTH / extent,
    );
    let mut cells = vec![0f32; FILE_GRID * FILE_GRID];
    let cell = |v: f64| {
        let u = (v + HALF_WIDTH) / (2.0 * HALF_WIDTH) * FILE_GRID as f64;
        (u as usize).min(FILE_GRID - 1)
    };
    for (x, y) in points {
        let (x, y) = ((x - cx) * scale, (y - cy) * scale);
        let (col, row) = (cell(x), FILE_GRID - 1 - cell(y)); // row 0 at the top (y = 2.5)
        cells[row * FILE_GRID + col] += 1.0;
    }
    valid(Drawing {
        size: FILE_GRID,
        cells,
    })
}

fn first_line(text: &str) -> usize {
    text.lines()
        .position(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .unwrap_or(0)
}

fn bounds(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    })
}

fn valid(d: Drawing) -> Result<Drawing, String> {
    Dataset::Drawn(d.clone()).validate()?;
    Ok(d)
}

//! The views' side in the crate (`flowmap::session`): the density and KL map adds up to the KL
//! in the table, `push` agrees with the pictures it generalises, the ODE rows count their
//! network calls, and targets from files (images, CSV) become the drawings they show.
#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use common::*;
use flowmap::config::Method;
use flowmap::data::Dataset;
use flowmap::metrics::{BINS, EPS};
use flowmap::readback::block_on;
use flowmap::session::{Options, Session};
use flowmap::target_file::{FILE_GRID, drawing_from_csv, drawing_from_image};

fn trained() -> Session {
    let options = Options {
        backend: "flex".into(),
        eval_samples: 20_000,
        sample_count: 300,
        ..Default::default()
    };
    let mut s = Session::new(small(Method::Lsd), options, &cpu()).unwrap();
    block_on(s.train(Some(60.0))).unwrap();
    s
}

/// The map's terms, recomputed here from its two histograms, sum to the KL the table shows for
/// the same N and sampler; both histograms are probabilities. A map from other samples than
/// the table's, or terms of KL(model || target) instead, would not add up.
#[test]
fn the_kl_map_adds_up_to_the_table() {
    let s = trained();
    for (n, sampler) in [(1.0, None), (4.0, None), (2.0, Some("ode-heun"))] {
        let map = block_on(s.density_map(Some(n), sampler)).unwrap();
        let row = block_on(s.kl(Some(n), sampler)).unwrap();
        assert_eq!(
            map.kl, row.kl,
            "N = {n} {sampler:?}: the map's KL is the table's"
        );
        assert_eq!(map.model.len(), BINS * BINS);
        let recomputed: f64 = map
            .target
            .iter()
            .zip(&map.model)
            .map(|(&p, &q)| {
                let (p, q) = (p as f64 + EPS, q as f64 + EPS);
                p * (p / q).ln()
            })
            .sum();
        assert!(
            (recomputed - row.kl).abs() < 1e-4 * row.kl.max(1.0),
            "terms from the histograms {recomputed} vs table {}",
            row.kl
        );
        let terms: f64 = map.terms.iter().map(|&t| t as f64).sum();
        assert!((terms - row.kl).abs() < 1e-4 * row.kl.max(1.0));
        for h in [&map.model, &map.target] {
            let total: f64 = h.iter().map(|&p| p as f64).sum();
            assert!((total - 1.0).abs() < 1e-4, "a histogram sums to {total}");
        }
    }
}

/// `push` from the picture noise (the interpolant at t = 0 is that noise) reproduces `sample`
/// at t = 1 and `flow_to` at t < 1 with one jump, bit for bit; its stages start at the given
/// points; the ODE rows count 1 call per Euler step and 2 per Heun step.
#[test]
fn push_agrees_with_the_pictures_and_counts_calls() {
    let s = trained();
    let x0 = s.interpolant(0.0, Some(200.0)).unwrap();
    for n in [1.0, 3.0] {
        let pushed = block_on(s.push(&x0, 1.0, n, None, false)).unwrap();
        assert_eq!(pushed, block_on(s.sample(n, Some(200.0), false)).unwrap());
    }
    let pushed = block_on(s.push(&x0, 0.4, 1.0, None, false)).unwrap();
    assert_eq!(pushed, block_on(s.flow_to(0.4, Some(200.0))).unwrap());
    let stages = block_on(s.push(&x0, 1.0, 4.0, Some("ode-heun"), true)).unwrap();
    assert_eq!(stages.len(), 5 * x0.len());
    assert_eq!(&stages[..x0.len()], &x0[..], "stage 0 is the start");
    let euler = block_on(s.kl(Some(8.0), Some("ode-euler"))).unwrap();
    let heun = block_on(s.kl(Some(8.0), Some("ode-heun"))).unwrap();
    let map = block_on(s.kl(Some(8.0), None)).unwrap();
    assert_eq!((euler.calls, heun.calls, map.calls), (8, 16, 8));
    assert_eq!(
        (euler.sampler, heun.sampler, map.sampler),
        ("ode-euler", "ode-heun", "flow-map")
    );
    // Heun at 8 steps (16 calls) solves the ODE far better than Euler at 8 (8 calls).
    let fine = block_on(s.push(&x0, 1.0, 256.0, Some("ode-heun"), false)).unwrap();
    let err = |p: &[f32]| {
        p.iter()
            .zip(&fine)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    };
    let (e8, h8) = (
        err(&block_on(s.push(&x0, 1.0, 8.0, Some("ode-euler"), false)).unwrap()),
        err(&block_on(s.push(&x0, 1.0, 8.0, Some("ode-heun"), false)).unwrap()),
    );
    assert!(h8 < e8 / 4.0, "Heun {h8} vs Euler {e8} at 8 steps");
}

#[test]
fn push_and_samplers_refuse_bad_input_by_name() {
    let s = trained();
    let ok = [0.0f32, 0.0];
    /// points, t, N, sampler, stages, and what the error must say.
    type Case<'a> = (Vec<f32>, f64, f64, Option<&'a str>, bool, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], 1.0, 1.0, None, false, "pairs"),
        (vec![0.0; 3], 1.0, 1.0, None, false, "pairs"),
        (vec![f32::NAN, 0.0], 1.0, 1.0, None, false, "finite"),
        (vec![1e9, 0.0], 1.0, 1.0, None, false, "finite"),
        (ok.to_vec(), 1.5, 1.0, None, false, "t must"),
        (ok.to_vec(), 1.0, 0.5, None, false, "n_steps"),
        (ok.to_vec(), 1.0, 1.0, Some("rk4"), false, "sampler"),
        (
            vec![0.0; 2 * 5000],
            1.0,
            1000.0,
            None,
            true,
            "network evaluations",
        ),
        (vec![0.0; 2 * 5000], 1.0, 300.0, None, true, "stages"),
    ];
    for (points, t, n, sampler, stages, want) in cases {
        let err = block_on(s.push(&points, t, n, sampler, stages)).unwrap_err();
        assert!(err.contains(want), "'{err}' should say '{want}'");
    }
    let err = block_on(s.kl(Some(1.0), Some("euler"))).unwrap_err();
    assert!(err.contains("sampler"), "{err}");
    let err = block_on(s.density_map(Some(1024.0), Some("ode-heun"))).unwrap_err();
    assert!(err.contains("network evaluations"), "{err}");
}

/// RGBA pixels of a `size` x `size` image, each `[r, g, b, a]`.
fn image(size: usize, pixel: impl Fn(usize, usize) -> [u8; 4]) -> Vec<u8> {
    (0..size * size)
        .flat_map(|k| pixel(k / size, k % size))
        .collect()
}

#[test]
fn images_become_drawings_dark_is_mass() {
    // White with one black pixel at row 1, column 2, and one mid-grey.
    let img = image(4, |r, c| match (r, c) {
        (1, 2) => [0, 0, 0, 255],
        (3, 0) => [128, 128, 128, 255],
        _ => [255, 255, 255, 255],
    });
    let d = drawing_from_image(&img, 4, false).unwrap();
    assert_eq!(d.size, 4);
    assert_eq!(d.cells[4 + 2], 1.0, "black carries full mass");
    assert!(
        (d.cells[3 * 4] - 0.498).abs() < 0.01,
        "grey carries half: {}",
        d.cells[12]
    );
    assert_eq!(
        d.cells.iter().filter(|&&c| c > 0.0).count(),
        2,
        "white carries none"
    );
    let inverted = drawing_from_image(&img, 4, true).unwrap();
    assert_eq!(inverted.cells[4 + 2], 0.0, "inverted: black carries none");
    assert_eq!(inverted.cells[0], 1.0);
    // Transparent pixels carry no mass whatever their colour.
    let glass = image(4, |r, _| if r == 0 { [0, 0, 0, 255] } else { [0, 0, 0, 0] });
    let d = drawing_from_image(&glass, 4, false).unwrap();
    assert_eq!(d.cells.iter().filter(|&&c| c > 0.0).count(), 4);
    // A drawing from an image trains like a painted one.
    Dataset::Drawn(d).validate().unwrap();

    let grey = image(4, |_, _| [90, 90, 90, 255]);
    let err = drawing_from_image(&grey, 4, false).unwrap_err();
    assert!(err.contains("all one colour"), "{err}");
    let err = drawing_from_image(&img[..10], 4, false).unwrap_err();
    assert!(err.contains("RGBA bytes"), "{err}");
    let err = drawing_from_image(&[], 0, false).unwrap_err();
    assert!(err.contains("pixels square"), "{err}");
}

#[test]
fn csv_points_become_drawings_in_proportion() {
    // A 10 x 5 box of points: centred, scaled by one factor, so the y extent is half the x.
    let text = "x,y\n0,0\n10,0\n0,5\n10,5\n5,2.5\n";
    let d = drawing_from_csv(text).unwrap();
    assert_eq!(d.size, FILE_GRID);
    let filled: Vec<(usize, usize)> = (0..FILE_GRID * FILE_GRID)
        .filter(|&k| d.cells[k] > 0.0)
        .map(|k| (k / FILE_GRID, k % FILE_GRID))
        .collect();
    assert_eq!(d.cells.iter().sum::<f32>(), 5.0);
    let (rows, cols): (Vec<_>, Vec<_>) = filled.iter().copied().unzip();
    let span = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap();
    // x spans 0.9 * 2 * 2.5 = 4.5 units = 57.6 cells; y half of it.
    assert!((56..=58).contains(&span(&cols)), "x span {}", span(&cols));
    assert!((28..=29).contains(&span(&rows)), "y span {}", span(&rows));
    // y up: (0, 5) goes to (-2.25, 1.125), column 3 and row 63 - 46 = 17 from the top; (0, 0)
    // to (-2.25, -1.125), row 63 - 17 = 46.
    assert_eq!(d.cells[17 * FILE_GRID + 3], 1.0, "(0, 5) near the top left");
    assert_eq!(
        d.cells[46 * FILE_GRID + 3],
        1.0,
        "(0, 0) near the bottom left"
    );
    // Semicolons, tabs and comments are fine; text in the data is not.
    assert!(drawing_from_csv("# points\n1;2\n3\t4\n").is_ok());
    let cases = [
        ("", "no x, y points"),
        ("x,y\n", "no x, y points"),
        ("1,2\nhello,3\n", "line 2"),
        ("1,2,3\n", "line 1"),
        ("1,2\n1,2\n", "the same"),
        ("1,NaN\n2,3\n", "line 1"),
    ];
    for (text, want) in cases {
        let err = drawing_from_csv(text).unwrap_err();
        assert!(err.contains(want), "'{text}': '{err}' should say '{want}'");
    }
}

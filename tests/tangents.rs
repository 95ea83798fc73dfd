//! The exact t-, s- and x-tangents of the flow map against central finite differences, and the
//! identity X_{s,s}(x) = x, on random networks (SiLU and GELU, with and without
//! sigma-preconditioning) and random inputs.
#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use flowmap::config::{Activation, ModelConfig};
use flowmap::model::{FlowMapNet, Rows};
use flowmap::rng::Rng;

const B: usize = 64;
/// Step of the central differences: truncation ~h^2, f32 rounding ~1e-7/h; both well under 1e-3.
const H: f64 = 4e-3;

struct Inputs {
    x: Vec<f32>,
    s: Vec<f32>,
    t: Vec<f32>,
    w: Vec<f32>,
}

fn inputs(seed: u64) -> Inputs {
    let mut r = Rng::new(seed);
    let mut u = |lo: f64, hi: f64, n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| (lo + (hi - lo) * r.uniform()) as f32)
            .collect()
    };
    let x = u(-3.0, 3.0, 2 * B);
    let s = u(0.05, 0.45, B);
    let t = u(0.55, 0.95, B);
    let w = u(-1.0, 1.0, 2 * B);
    Inputs { x, s, t, w }
}

/// Every activation, with and without preconditioning: a wrong derivative of either, or a
/// tangent that misses the input or output scaling, fails the comparisons below.
fn nets(device: &Device) -> Vec<(String, FlowMapNet)> {
    [
        (Activation::Silu, 1.0),
        (Activation::Gelu, 1.0),
        (Activation::Silu, 1.7),
        (Activation::Gelu, 0.6),
    ]
    .into_iter()
    .map(|(activation, sigma)| {
        let cfg = ModelConfig {
            width: 32,
            depth: 3,
            activation,
            sigma,
        };
        let net = FlowMapNet::init(&cfg, &mut Rng::new(11), device);
        (format!("{activation:?}, sigma {sigma}"), net)
    })
    .collect()
}

fn t2(v: &[f32], cols: usize, d: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len() / cols, cols]), d)
}

fn shift(v: &[f32], by: &[f32], h: f64) -> Vec<f32> {
    v.iter().zip(by).map(|(a, b)| a + (h as f32) * b).collect()
}

fn flow(net: &FlowMapNet, x: &[f32], s: &[f32], t: &[f32], d: &Device) -> Vec<f64> {
    host(net.flow(t2(x, 2, d), t2(s, 1, d), t2(t, 1, d)))
        .into_iter()
        .map(f64::from)
        .collect()
}

fn central(plus: Vec<f64>, minus: Vec<f64>) -> Vec<f64> {
    plus.iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * H))
        .collect()
}

/// ||got - want|| / ||want||.
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let num: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).powi(2))
        .sum();
    let den: f64 = want.iter().map(|w| w * w).sum();
    (num / den).sqrt()
}

#[test]
fn time_tangents_match_central_differences() {
    let d = cpu();
    let i = inputs(1);
    let ones = vec![1f32; B];
    for (name, net) in nets(&d) {
        let (x, s, t) = (t2(&i.x, 2, &d), t2(&i.s, 1, &d), t2(&i.t, 1, &d));

        let rows = Rows::new(x, s, t);
        let (_, dt) = net.flow_dt(&rows);
        let fd_t = central(
            flow(&net, &i.x, &i.s, &shift(&i.t, &ones, H), &d),
            flow(&net, &i.x, &i.s, &shift(&i.t, &ones, -H), &d),
        );
        let e = rel_err(&host(dt), &fd_t);
        assert!(e < 1e-3, "{name}: dX/dt relative error {e:.2e}");

        let (_, ds) = net.flow_ds(&rows);
        let fd_s = central(
            flow(&net, &i.x, &shift(&i.s, &ones, H), &i.t, &d),
            flow(&net, &i.x, &shift(&i.s, &ones, -H), &i.t, &d),
        );
        let e = rel_err(&host(ds), &fd_s);
        assert!(e < 1e-3, "{name}: dX/ds relative error {e:.2e}");
    }
}

#[test]
fn space_tangent_matches_central_differences() {
    let d = cpu();
    let i = inputs(2);
    for (name, net) in nets(&d) {
        let (x, s, t, w) = (
            t2(&i.x, 2, &d),
            t2(&i.s, 1, &d),
            t2(&i.t, 1, &d),
            t2(&i.w, 2, &d),
        );
        let (_, jw) = net.flow_dx(x, s, t, w);
        let fd = central(
            flow(&net, &shift(&i.x, &i.w, H), &i.s, &i.t, &d),
            flow(&net, &shift(&i.x, &i.w, -H), &i.s, &i.t, &d),
        );
        let e = rel_err(&host(jw), &fd);
        assert!(e < 1e-3, "{name}: grad_x X . w relative error {e:.2e}");
    }
}

/// MeanFlow's tangent d/dr v_{s+r,t}(x + r w) at r = 0 against central differences of v along
/// that path: dropping the s part, the x part, or the preconditioning of w fails here.
#[test]
fn tangent_along_s_and_x_matches_central_differences() {
    let d = cpu();
    let i = inputs(5);
    let ones = vec![1f32; B];
    let velocity = |net: &FlowMapNet, x: &[f32], s: &[f32]| -> Vec<f64> {
        let v = net.velocity(t2(x, 2, &d), t2(s, 1, &d), t2(&i.t, 1, &d));
        host(v).into_iter().map(f64::from).collect()
    };
    for (name, net) in nets(&d) {
        let (x, s, t, w) = (
            t2(&i.x, 2, &d),
            t2(&i.s, 1, &d),
            t2(&i.t, 1, &d),
            t2(&i.w, 2, &d),
        );
        let (v, dv) = net.velocity_along_s_and_x(x.clone(), s.clone(), t.clone(), w);
        assert_eq!(host(v), host(net.velocity(x, s, t)), "{name}: v itself");
        let fd = central(
            velocity(&net, &shift(&i.x, &i.w, H), &shift(&i.s, &ones, H)),
            velocity(&net, &shift(&i.x, &i.w, -H), &shift(&i.s, &ones, -H)),
        );
        let e = rel_err(&host(dv), &fd);
        assert!(
            e < 1e-3,
            "{name}: d/dr v along (w, 1, 0) relative error {e:.2e}"
        );
    }
}

#[test]
fn flow_map_is_the_identity_on_the_diagonal() {
    let d = cpu();
    let i = inputs(3);
    for (name, net) in nets(&d) {
        let x = flow(&net, &i.x, &i.s, &i.s, &d);
        let got: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        assert_eq!(got, i.x, "{name}: X_{{s,s}}(x) must be exactly x");
    }
}

/// The student (autodiff: a packed [x, s, t] input) and teachers and samplers (no autodiff: the
/// first layer on the columns, x W_x + s W_s + t W_t) compute the same v: swapping W's s and t
/// rows, or dropping the preconditioning in either path, fails here. grad_x X . w (columns on
/// both devices) must agree too.
#[test]
fn packed_and_column_first_layers_agree() {
    let (plain, ad) = (cpu(), cpu().autodiff());
    let i = inputs(4);
    for ((name, net), (_, student)) in nets(&plain).into_iter().zip(nets(&ad)) {
        assert!(student.layers[0].weight.val().is_require_grad());
        assert!(!net.layers[0].weight.val().is_require_grad());
        let on = |d: &Device| {
            (
                t2(&i.x, 2, d),
                t2(&i.s, 1, d),
                t2(&i.t, 1, d),
                t2(&i.w, 2, d),
            )
        };
        let ((x, s, t, w), (xa, sa, ta, wa)) = (on(&plain), on(&ad));
        let v = host(net.velocity(x.clone(), s.clone(), t.clone()));
        let va = host(student.velocity(xa.clone(), sa.clone(), ta.clone()));
        let want: Vec<f64> = va.iter().map(|&v| v as f64).collect();
        assert_close(&format!("{name}: v"), &v, &want, 1e-5, 1e-5);
        let (_, jw) = net.flow_dx(x, s, t, w);
        let (_, jwa) = student.flow_dx(xa, sa, ta, wa);
        let want: Vec<f64> = host(jwa).iter().map(|&v| v as f64).collect();
        assert_close(
            &format!("{name}: grad_x X . w"),
            &host(jw),
            &want,
            1e-5,
            1e-5,
        );
    }
}

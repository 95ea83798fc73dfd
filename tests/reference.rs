//! The model, its tangents and the four losses with their gradients against an independent
//! float64 PyTorch computation on a tiny fixed network (tests/tiny_flowmap.json).
#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use burn::module::Module;
use common::*;
use flowmap::config::{EsdStop, PsdSpace};
use flowmap::losses::esd::{esd_loss, esd_residual};
use flowmap::losses::psd::{psd_loss, psd_residual};
use flowmap::losses::{diagonal::diagonal_loss, lsd::lsd_loss};
use flowmap::model::Rows;
use serde_json::Value;

struct Fixture {
    r: Value,
    x0: Vec<Vec<f64>>,
    x1: Vec<Vec<f64>>,
    s: Vec<f64>,
    t: Vec<f64>,
}

fn fixture() -> Fixture {
    let r = reference();
    let i = &r["inputs"];
    Fixture {
        x0: matrix(&i["x0"]),
        x1: matrix(&i["x1"]),
        s: vector(&i["s"]),
        t: vector(&i["t"]),
        r,
    }
}

impl Fixture {
    fn interp(&self, times: &[f64]) -> Vec<Vec<f64>> {
        self.x0
            .iter()
            .zip(&self.x1)
            .zip(times)
            .map(|((a, b), &t)| vec![(1.0 - t) * a[0] + t * b[0], (1.0 - t) * a[1] + t * b[1]])
            .collect()
    }
    fn out(&self, key: &str) -> Vec<f64> {
        matrix(&self.r["outputs"][key])
            .into_iter()
            .flatten()
            .collect()
    }
    fn out_scalar(&self, key: &str) -> f64 {
        self.r["outputs"][key].as_f64().expect("a number")
    }
}

#[test]
fn velocity_flow_and_all_three_tangents_match_pytorch() {
    let f = fixture();
    let dev = cpu();
    let net = reference_net(&f.r, &dev);
    let (xs, s, t) = (
        tensor2(&f.interp(&f.s), &dev),
        column(&f.s, &dev),
        column(&f.t, &dev),
    );

    let v = net.velocity(xs.clone(), s.clone(), t.clone());
    assert_close("v_st_Is", &host(v), &f.out("v_st_Is"), 1e-5, 1e-4);
    let rows = Rows::new(xs.clone(), s.clone(), t.clone());
    let (x, dxdt) = net.flow_dt(&rows);
    assert_close("X_st_Is", &host(x), &f.out("X_st_Is"), 1e-5, 1e-4);
    assert_close("dX_dt", &host(dxdt), &f.out("dX_dt"), 1e-5, 1e-4);
    let (_, dxds) = net.flow_ds(&rows);
    assert_close("dX_ds", &host(dxds), &f.out("dX_ds"), 1e-5, 1e-4);
    let v_ss = net.velocity(xs.clone(), s.clone(), s.clone());
    let (_, jv) = net.flow_dx(xs, s, t, v_ss);
    assert_close(
        "gradX_dot_v_ss",
        &host(jv),
        &f.out("gradX_dot_v_ss"),
        1e-5,
        1e-4,
    );
}

/// Loss value and gradient w.r.t. the first layer's weight (PyTorch layout [out, in]).
fn check_loss(
    name: &str,
    f: &Fixture,
    loss: burn::tensor::Tensor<1>,
    net: &flowmap::model::FlowMapNet,
) {
    let want = f.out_scalar(&format!("loss_{name}"));
    let grads = loss.backward();
    let got = scalar(loss);
    assert!(
        (got - want).abs() <= 1e-6 + 1e-4 * want.abs(),
        "loss_{name}: got {got}, want {want}"
    );
    let g = net.layers[0]
        .weight
        .val()
        .grad(&grads)
        .expect("first layer gets a gradient");
    let g = host(g.transpose()); // Burn [in, out] -> PyTorch [out, in]
    let want_g: Vec<f64> = matrix(&f.r["outputs"][format!("grad_W0_{name}")])
        .into_iter()
        .flatten()
        .collect();
    let scale = want_g.iter().fold(0f64, |m, x| m.max(x.abs()));
    assert_close(&format!("grad_W0_{name}"), &g, &want_g, 1e-4 * scale, 1e-3);
}

#[test]
fn losses_and_their_gradients_match_pytorch() {
    let f = fixture();
    let dev = cpu().autodiff();
    for name in ["diag", "lsd", "psd_mid", "esd"] {
        let net = reference_net(&f.r, &dev);
        let teacher = net.valid();
        let (xs, s, t) = (
            tensor2(&f.interp(&f.s), &dev),
            column(&f.s, &dev),
            column(&f.t, &dev),
        );
        let loss = match name {
            "diag" => {
                let target: Vec<Vec<f64>> =
                    f.x0.iter()
                        .zip(&f.x1)
                        .map(|(a, b)| vec![b[0] - a[0], b[1] - a[1]])
                        .collect();
                let rows = Rows::new(tensor2(&f.interp(&f.t), &dev), t.clone(), t);
                diagonal_loss(&net, &rows, tensor2(&target, &dev))
            }
            "lsd" => lsd_loss(&net, &teacher, &Rows::new(xs, s, t)),
            "psd_mid" => {
                let u: Vec<f64> = f.s.iter().zip(&f.t).map(|(a, b)| 0.5 * (a + b)).collect();
                let rows = Rows::new(xs, s, t);
                psd_loss(&net, &teacher, &rows, column(&u, &dev), PsdSpace::X)
            }
            "esd" => esd_loss(&net, &teacher, &Rows::new(xs, s, t), EsdStop::Transport),
            _ => unreachable!(),
        };
        check_loss(name, &f, loss, &net);
    }
}

/// ESD with the whole target stopped has PyTorch's ESD loss value (the same residual, up to
/// sign: a wrong sign or a missing term of the bracket v_{s,s} + (t - s)(dv/ds + grad_x v .
/// v_{s,s}) changes the value), while its gradient is that of a regression of v alone, which
/// differs from the paper's gradient through d/ds X.
#[test]
fn esd_with_the_target_stopped_has_the_same_loss_and_another_gradient() {
    let f = fixture();
    let dev = cpu().autodiff();
    let net = reference_net(&f.r, &dev);
    let rows = || {
        Rows::new(
            tensor2(&f.interp(&f.s), &dev),
            column(&f.s, &dev),
            column(&f.t, &dev),
        )
    };
    let want = f.out_scalar("loss_esd");
    let loss = esd_loss(&net, &net.valid(), &rows(), EsdStop::Target);
    let got = scalar(loss.clone());
    assert!(
        (got - want).abs() <= 1e-6 + 1e-4 * want.abs(),
        "target-stopped ESD loss {got}, PyTorch's ESD loss {want}"
    );
    let grad = |loss: burn::tensor::Tensor<1>| {
        let g = loss.backward();
        host(net.layers[0].weight.val().grad(&g).expect("a gradient"))
    };
    let g_target = grad(loss);
    let g_transport = grad(esd_loss(&net, &net.valid(), &rows(), EsdStop::Transport));
    let diff = g_target
        .iter()
        .zip(&g_transport)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        diff > 1e-6,
        "the two stop-gradients must give different gradients"
    );
    // The regression's gradient: 2 mean((v - C) dv/dW) with C frozen, the residual's sign
    // flipped against the transport form's.
    let plain = rows();
    let plain = Rows::new(
        plain.x.without_autodiff(),
        plain.s.without_autodiff(),
        plain.t.without_autodiff(),
    );
    let teacher = net.valid();
    let r = esd_residual(&teacher, &teacher, &plain, EsdStop::Transport); // -(v - C)
    let c = teacher.velocity_rows(&plain) + r; // [B, 2]: the frozen target C
    let c = burn::tensor::Tensor::<2>::from_data(c.into_data(), &dev);
    let g_frozen = grad(flowmap::losses::mse(net.velocity_rows(&rows()), c));
    let g_frozen: Vec<f64> = g_frozen.iter().map(|&x| f64::from(x)).collect();
    let scale = g_frozen.iter().fold(0f64, |m, x| m.max(x.abs()));
    assert_close(
        "frozen-target gradient",
        &g_target,
        &g_frozen,
        1e-4 * scale,
        1e-3,
    );
}

/// The two PSD forms on the reference network, midpoint and a uniform u: per row, the v-space
/// residual times (t - s) is the X-space residual (the (t - s)^2 between the losses), and the
/// X-space loss is PyTorch's. The v-space residual is computed from velocities, the X-space one
/// from composed jumps, so a wrong weight w or a dropped (t - s) shows up here.
#[test]
fn psd_velocity_residual_is_the_x_residual_over_t_minus_s() {
    let f = fixture();
    let dev = cpu();
    let net = reference_net(&f.r, &dev);
    let mid: Vec<f64> = f.s.iter().zip(&f.t).map(|(a, b)| 0.5 * (a + b)).collect();
    let skew: Vec<f64> =
        f.s.iter()
            .zip(&f.t)
            .map(|(a, b)| a + 0.3 * (b - a))
            .collect();
    for u in [mid, skew] {
        let rows = Rows::new(
            tensor2(&f.interp(&f.s), &dev),
            column(&f.s, &dev),
            column(&f.t, &dev),
        );
        let u = || column(&u, &dev);
        let rx = host(psd_residual(&net, &net, &rows, u(), PsdSpace::X));
        let rv = host(psd_residual(&net, &net, &rows, u(), PsdSpace::V));
        let scaled: Vec<f32> = rv
            .iter()
            .enumerate()
            .map(|(k, &r)| (r as f64 * (f.t[k / 2] - f.s[k / 2])) as f32)
            .collect();
        let rx: Vec<f64> = rx.into_iter().map(f64::from).collect();
        let scale = rx.iter().fold(0f64, |m, x| m.max(x.abs()));
        assert!(scale > 1e-3, "an untrained net has a visible PSD residual");
        // X-space rows are differences of O(1) f32 points: a few ulps (1e-6) of absolute error.
        assert_close("v-residual * (t - s)", &scaled, &rx, 1e-6, 1e-3);
    }
}

//! The crate's modules form no import circle: every `crate::m` a module names points down a
//! layering (config below model, model below checkpoint, ...), so each file can be read, and
//! tested, with only what is under it. A cycle fails here with its modules listed.
#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use common::package_root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module of each file under src/ (src/losses/psd.rs is `losses`), without the
/// binaries and lib.rs.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "bin" | "lib.rs" => None,
        _ => Some(first.trim_end_matches(".rs").to_string()),
    }
}

/// The modules a file's code names as `crate::m` or in a group `crate::{m, n::x}`, outside
/// comments and its test module.
fn named_modules(src: &str) -> BTreeSet<String> {
    let code = src.split("#[cfg(test)]").next().unwrap_or("");
    // Comments out, lines joined: a group may span lines.
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for part in code.split("crate::").skip(1) {
        if let Some(group) = part.strip_prefix('{') {
            // Top-level items of the group: split on commas outside nested braces.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.insert(ident(&item));
        } else {
            out.insert(ident(part));
        }
    }
    out.remove("");
    out
}

/// The layering, bottom first (docs/design.md draws it): a module imports only from layers
/// below its own. A new module must be placed here.
const LAYERS: &[&[&str]] = &[
    &["rng", "metrics", "readback", "backend"],
    &["data", "interpolant", "activation"],
    &["config", "exact", "target_file"],
    &["model", "flops", "trial"],
    &["losses", "ode", "adamw", "clipping", "loss_weight"],
    &["batch", "sample", "checkpoint"],
    &["run_state", "against_exact", "eval"],
    &["trainer"],
    &["session"],
    &["web"],
];

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = package_root().join("src");
    let mut stack = vec![root.clone()];
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(m) = module_of(path.strip_prefix(&root).unwrap()) else {
                continue;
            };
            let deps = named_modules(&std::fs::read_to_string(&path).unwrap());
            let e = g.entry(m.clone()).or_default();
            e.extend(deps.into_iter().filter(|d| *d != m));
        }
    }
    g
}

/// A cycle through `start` if there is one, by depth-first search.
fn cycle_from(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g.get(at).into_iter().flatten() {
            if *next == path[0] {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(g, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let g = graph();
    let lib = std::fs::read_to_string(package_root().join("src/lib.rs")).unwrap();
    // The parse found the crate's modules and their imports (a parser that finds nothing would
    // pass the check below vacuously).
    for m in [
        "config",
        "model",
        "checkpoint",
        "losses",
        "session",
        "trainer",
    ] {
        assert!(lib.contains(&format!("pub mod {m};")), "lib.rs lists {m}");
        assert!(g.contains_key(m), "found src/{m}");
    }
    assert!(g["trainer"].contains("losses") && g["model"].contains("config"));
    for m in g.keys() {
        if let Some(c) = cycle_from(&g, m) {
            panic!("import circle: {} -> {m}", c.join(" -> "));
        }
    }
}

#[test]
fn every_import_points_down_the_layering() {
    let g = graph();
    let mut up = Vec::new();
    for (m, deps) in &g {
        let Some(lm) = layer_of(m) else {
            panic!("src/{m} is in no layer of LAYERS (tests/architecture.rs): place it");
        };
        for d in deps {
            let ld = layer_of(d).unwrap_or_else(|| panic!("{m} names crate::{d}, in no layer"));
            if ld >= lm {
                up.push(format!("{m} (layer {lm}) -> {d} (layer {ld})"));
            }
        }
    }
    assert!(up.is_empty(), "imports not pointing down: {up:?}");
    // Every listed module exists (a stale list would excuse nothing, but say so).
    for m in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(g.contains_key(*m), "LAYERS lists {m}, which src/ lacks");
    }
}

#[test]
fn grouped_and_multi_line_imports_are_read() {
    let src = "use crate::{config::Config, model::{Mlp, Layers},\n    rng};\nuse crate::data::Dataset; // crate::web\nfn f() { crate::eval::kl(); }\n#[cfg(test)]\nuse crate::session;";
    let names: Vec<String> = named_modules(src).into_iter().collect();
    assert_eq!(names, ["config", "data", "eval", "model", "rng"]);
}

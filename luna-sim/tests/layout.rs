//! The crate's layout: its source files import each other without a circle.
//!
//! Every `crate::a::b::...` path in a file (tests excluded) is a dependency on the file of the
//! longest module prefix that names one, and `super::x` on the sibling `x`. A circle among
//! files is a failure that names it. This is what keeps the lower layers (store, records,
//! provisioning, the session table, the object model) free of the `Simulator` that is built on
//! them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // Binaries are separate crates that use only the public API.
            if path.file_name().is_some_and(|n| n != "bin") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `device/api.rs` -> `["device", "api"]`; `store/mod.rs` -> `["store"]`; `lib.rs` -> `[]`.
fn module_of(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The identifier paths that follow each occurrence of `prefix`.
fn paths_after<'a>(source: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(prefix) {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + prefix.len()..];
        if preceded_by_ident {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let path: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        found.push(path);
    }
    found
}

fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| {
            let relative = f.strip_prefix(&src).unwrap().to_str().unwrap().to_owned();
            (module_of(&relative), relative)
        })
        .collect();
    let resolve = |path: &[String]| {
        (1..=path.len())
            .rev()
            .find_map(|n| modules.get(&path[..n]).cloned())
    };
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = fs::read_to_string(src.join(file)).unwrap();
        // Unit tests may reach anywhere.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut deps = BTreeSet::new();
        for path in paths_after(text, "crate::") {
            let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
            deps.extend(resolve(&path));
        }
        // `super` of `a/b.rs` and of `a/mod.rs` alike is the module one level up.
        let parent = module[..module.len().saturating_sub(1)].to_vec();
        for path in paths_after(text, "super::") {
            let mut full = parent.clone();
            full.extend(path.iter().map(|s| (*s).to_owned()));
            deps.extend(resolve(&full));
        }
        deps.remove(file);
        graph.insert(file.clone(), deps);
    }
    graph
}

fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, done, stack) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn the_source_files_import_each_other_without_a_circle() {
    let graph = import_graph();
    // The graph is real: the simulator is built on the store and the provisioning, and the
    // device calls on the simulator.
    assert!(graph["sim.rs"].contains("store/mod.rs"));
    assert!(graph["sim.rs"].contains("device/provision.rs"));
    assert!(graph["device/api.rs"].contains("sim.rs"));
    assert!(graph["cpv4/objects.rs"].contains("cpv4/store.rs"));
    if let Some(circle) = find_circle(&graph) {
        panic!("import circle: {}", circle.join(" -> "));
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let mut graph = import_graph();
    graph
        .get_mut("device/provision.rs")
        .unwrap()
        .insert("sim.rs".to_owned());
    let circle = find_circle(&graph).expect("the added edge closes a circle");
    assert_eq!(circle.first(), circle.last());
    assert!(circle.contains(&"sim.rs".to_owned()));
    assert!(circle.contains(&"device/provision.rs".to_owned()));
}

#[test]
fn the_lower_layers_do_not_import_the_simulator() {
    let graph = import_graph();
    for lower in [
        "store/mod.rs",
        "store/keys.rs",
        "store/faults.rs",
        "device/records.rs",
        "device/provision.rs",
        "device/clock.rs",
        "session/table.rs",
        "session/auth.rs",
        "token/attrs.rs",
        "token/objects.rs",
        "mechanisms/mod.rs",
        "mechanisms/crypto.rs",
    ] {
        assert!(
            !graph[lower].contains("sim.rs"),
            "{lower} imports the simulator"
        );
    }
}

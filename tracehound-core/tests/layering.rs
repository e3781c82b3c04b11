//! The crate's floors, checked: every `crate::` path in the source (outside comments) must
//! point down, never up or sideways between rooms. Decision record 0010 draws the same
//! picture; `cargo test --test layering -- --nocapture` prints the edges found.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The floors, bottom first; within a floor, modules in the order they may import each other
/// (a module may use those before it), except the rooms, which may not use each other.
const FLOORS: &[(&str, &[&str])] = &[
    (
        "model",
        &[
            "clock",
            "random",
            "config",
            "scent",
            "canonical",
            "signature",
            "evidence",
            // The HTTP policy's settings are data the aggregate `Config` holds: they live in
            // `http` but use nothing above the model.
            "http::data",
        ],
    ),
    (
        "rooms",
        &["quarantine", "rate_limit", "cold", "audit", "hound"],
    ),
    ("tell", &["error", "events", "snapshot"]),
    ("facade", &["facade"]),
    ("http", &["http"]),
    ("internal", &["internal"]),
];

/// (floor, place within the floor) of a top-level module.
fn rank(module: &str) -> Option<(usize, usize)> {
    FLOORS.iter().enumerate().find_map(|(floor, (_, modules))| {
        modules
            .iter()
            .position(|m| *m == module)
            .map(|place| (floor, place))
    })
}

fn may_use(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    let (Some((from_floor, from_place)), Some((to_floor, to_place))) = (rank(from), rank(to))
    else {
        return false;
    };
    match from_floor.cmp(&to_floor) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        // Rooms are independent of each other; elsewhere a floor is ordered.
        std::cmp::Ordering::Equal => FLOORS[from_floor].0 != "rooms" && to_place < from_place,
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The HTTP policy's settings, which sit on the model floor.
const HTTP_DATA: [&str; 2] = ["config", "client_key"];

/// The top-level module a source file belongs to (`None` for the crate root and binaries).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    if let Ok(in_http) = relative.strip_prefix("http")
        && HTTP_DATA
            .iter()
            .any(|m| in_http == Path::new(&format!("{m}.rs")))
    {
        return Some("http::data".to_owned());
    }
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "bin" => None,
        file_name => Some(file_name.trim_end_matches(".rs").to_owned()),
    }
}

/// `text` without its comments and its unit tests (the `mod tests` at the bottom): tests may
/// reach up to build what they check.
fn code(text: &str) -> String {
    let text = text.split("\nmod tests {").next().unwrap_or(text);
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The leading identifier of `path`.
fn first_name(path: &str) -> String {
    path.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules named by `crate::` paths in the code (not the comments) of `text`,
/// including each item of a braced `crate::{…}` list.
fn uses(text: &str) -> BTreeSet<String> {
    let code = code(text);
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let paths: Vec<&str> = match after.strip_prefix('{') {
            Some(group) => {
                let end = group.find('}').unwrap_or(group.len());
                group[..end].split(',').collect()
            }
            None => vec![after],
        };
        for path in paths {
            let path = path.trim_start();
            let mut name = first_name(path);
            if name == "http"
                && HTTP_DATA
                    .iter()
                    .any(|m| path.starts_with(&format!("http::{m}::")))
            {
                name = "http::data".to_owned();
            }
            if !name.is_empty() {
                found.insert(name);
            }
        }
        rest = after;
    }
    found
}

#[test]
fn dependencies_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(from) = module_of(&src, file) else {
            continue;
        };
        assert!(
            rank(&from).is_some(),
            "{} is in no floor: add `{from}` to FLOORS (and to decision record 0010)",
            file.display()
        );
        for to in uses(&fs::read_to_string(file).unwrap()) {
            if to.starts_with(|c: char| c.is_ascii_uppercase()) {
                wrong.push(format!(
                    "{}: `crate::{to}` names a re-export; use the module path",
                    file.display()
                ));
                continue;
            }
            if !may_use(&from, &to) {
                wrong.push(format!("{}: {from} uses {to}", file.display()));
            }
            if from != to {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    for (from, to) in &edges {
        println!(
            "{from} -> {}",
            to.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(
        wrong.is_empty(),
        "imports that point up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_rule_refuses_what_it_should() {
    assert!(may_use("facade", "quarantine"));
    assert!(may_use("signature", "canonical"));
    assert!(!may_use("canonical", "signature"));
    assert!(!may_use("quarantine", "events"));
    assert!(!may_use("quarantine", "audit"), "rooms are independent");
    assert!(!may_use("audit", "facade"));
    assert!(!may_use("error", "events"));
    assert!(!may_use("facade", "http"));
    assert!(may_use("facade", "http::data"));
    assert!(!may_use("http::data", "facade"));
    assert!(!may_use("unknown", "clock"));
    assert_eq!(
        uses("use crate::a::b; // crate::zz\n/// [x](crate::yy)\nlet _ = crate::c::d;"),
        ["a", "c"].into_iter().map(String::from).collect()
    );
    assert_eq!(
        uses("use crate::{\n    e::F,\n    G,\n};\nuse crate::http::config::H;"),
        ["G", "e", "http::data"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

//! Imports flow one way: no file of `src/` imports, directly or through others, a file that
//! imports it. Reads the source as text (every `crate::…`, `super::…` and child-module path,
//! resolved to the file that defines the module), so it checks both builds at once, and names
//! the circle it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every module file under `src/` (not the binary's `main.rs`), by module path.
fn modules(root: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("main.rs") {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut module: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            found.insert(module, path);
        }
    }
    found
}

/// The text that counts: without the unit tests at the bottom (their `super::` means the file
/// itself) and without comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path in `text` that starts at one of `roots` (`crate`, `super`, a child module…),
/// with `use` groups (`a::{b, c::d}`) spread out. Returns (root, rest of the path).
fn paths<'a>(text: &str, roots: &'a [String]) -> Vec<(&'a str, Vec<String>)> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        if starts_word {
            if let Some(root) = roots.iter().find(|r| {
                let r: Vec<char> = r.chars().collect();
                chars[i..].starts_with(&r) && chars[i + r.len()..].starts_with(&[':', ':'])
            }) {
                let mut tails = Vec::new();
                let end = tree(&chars, i + root.chars().count() + 2, Vec::new(), &mut tails);
                found.extend(tails.into_iter().map(|t| (root.as_str(), t)));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Reads a use-tree from `at` (after `root::`), pushing each full path; returns where it ended.
fn tree(chars: &[char], mut at: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    loop {
        while at < chars.len() && chars[at].is_whitespace() {
            at += 1;
        }
        if at < chars.len() && chars[at] == '{' {
            at += 1;
            loop {
                at = tree(chars, at, path.clone(), out);
                while at < chars.len() && chars[at].is_whitespace() {
                    at += 1;
                }
                match chars.get(at) {
                    Some(',') => at += 1,
                    Some('}') => return at + 1,
                    _ => return at,
                }
                while at < chars.len() && chars[at].is_whitespace() {
                    at += 1;
                }
                if chars.get(at) == Some(&'}') {
                    return at + 1;
                }
            }
        }
        let start = at;
        while at < chars.len() && is_ident(chars[at]) {
            at += 1;
        }
        if at > start {
            path.push(chars[start..at].iter().collect());
        }
        if chars[at..].starts_with(&[':', ':']) {
            at += 2;
            continue;
        }
        out.push(path);
        return at;
    }
}

/// The module a path names: its longest prefix that is a module file.
fn resolve(path: &[String], modules: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains_key(m))
}

/// Which modules each module imports.
fn imports(modules: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut graph = BTreeMap::new();
    for (module, file) in modules {
        let text = code(file);
        let children: Vec<String> = modules
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m.last().unwrap().clone())
            .collect();
        // A `foo.rs` file's `super` is its parent; a `foo/mod.rs` file's too.
        let parent: Module = module[..module.len().saturating_sub(1)].to_vec();
        let mut roots = vec!["crate".to_owned(), "super".to_owned(), "self".to_owned()];
        roots.extend(children.iter().cloned());
        let mut edges = BTreeSet::new();
        for (root, tail) in paths(&text, &roots) {
            let mut full = match root {
                "crate" => Vec::new(),
                "super" => parent.clone(),
                "self" => module.clone(),
                child => {
                    let mut m = module.clone();
                    m.push(child.to_owned());
                    m
                }
            };
            let mut tail = tail.as_slice();
            while tail.first().map(String::as_str) == Some("super") {
                full.pop();
                tail = &tail[1..];
            }
            full.extend(tail.iter().cloned());
            if let Some(target) = resolve(&full, modules) {
                if &target != module {
                    edges.insert(target);
                }
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// A circle in `graph`, if there is one.
fn circle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        m: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        marks: &mut BTreeMap<Module, Mark>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        match marks.get(m) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let at = stack.iter().position(|s| s == m).unwrap();
                let mut found = stack[at..].to_vec();
                found.push(m.clone());
                return Some(found);
            }
            None => {}
        }
        marks.insert(m.clone(), Mark::Open);
        stack.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(found) = visit(next, graph, marks, stack) {
                return Some(found);
            }
        }
        stack.pop();
        marks.insert(m.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut marks, &mut Vec::new()))
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&root);
    let graph = imports(&modules);
    // The reader must see the layers at all, or this test could pass by reading nothing.
    let switchboard = vec!["server".to_owned(), "switchboard".to_owned()];
    assert!(graph[&switchboard].contains(&vec![
        "server".to_owned(),
        "matching".to_owned(),
        "memory".to_owned()
    ]));
    if let Some(found) = circle(&graph) {
        let names: Vec<String> = found.iter().map(name).collect();
        panic!("imports go round in a circle: {}", names.join(" -> "));
    }
}

#[test]
fn the_reader_finds_a_planted_circle() {
    let text = "use crate::a::{b::C, d};\nfn f() { super::x::y(); }";
    let roots = ["crate".to_owned(), "super".to_owned()];
    let found: Vec<(&str, Vec<String>)> = paths(text, &roots);
    let flat: Vec<String> = found
        .iter()
        .map(|(r, t)| format!("{r}::{}", t.join("::")))
        .collect();
    assert_eq!(flat, vec!["crate::a::b::C", "crate::a::d", "super::x::y"]);
    let graph: BTreeMap<Module, BTreeSet<Module>> = [
        (vec!["a".to_owned()], BTreeSet::from([vec!["b".to_owned()]])),
        (vec!["b".to_owned()], BTreeSet::from([vec!["a".to_owned()]])),
    ]
    .into();
    assert!(circle(&graph).is_some());
}

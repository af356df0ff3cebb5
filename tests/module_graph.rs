//! The import graph between the files of `src/` must have no cycle.
//!
//! Why: the files of a cycle can only be understood, tested and changed together, and a cycle
//! through the wiring module (`src/app.rs`, which builds everything) ties every module to every
//! other. Each file is a node; each path written in one file that points into another is an edge;
//! every strongly connected component is reported with the lines that create its edges.
//!
//! A small lexer, not a Rust parser: comments (doc comments too), string and char literals are
//! skipped, so a `crate::` in prose or in a message is never an edge. `use` trees (grouped, over
//! several lines) and inline paths (`crate::x::y(…)`, `super::x`) are read from the tokens;
//! `mod x;` declares, it is not an edge. `lib.rs` and `main.rs` are the crate roots: they only
//! declare and wire modules, so they are left out of the cycle check.

use std::collections::{BTreeMap, BTreeSet, VecDeque, btree_map::Entry};
use std::{fs, path::Path};

/// A module path, `["realtime", "hub"]`; the crate root is `[]`.
type ModPath = Vec<String>;

/// Files are nodes (by index); `edges[from][to]` holds the `(line, text)` that make `from` use `to`.
struct Graph {
    files: Vec<String>,
    modules: Vec<ModPath>,
    edges: BTreeMap<usize, BTreeMap<usize, Vec<(usize, String)>>>,
}

impl Graph {
    fn is_root(&self, n: usize) -> bool {
        self.modules[n].is_empty()
    }
    /// Successors, crate roots left out.
    fn succ(&self, n: usize) -> Vec<usize> {
        let all = self.edges.get(&n).filter(|_| !self.is_root(n));
        let all = all.into_iter().flat_map(|m| m.keys().copied());
        all.filter(|&w| !self.is_root(w)).collect()
    }
    fn name(&self, n: usize) -> String {
        let m = &self.modules[n];
        if m.is_empty() {
            "crate".into()
        } else {
            m.join("::")
        }
    }
}

/// `src/a/mod.rs` → `a`, `src/a/b.rs` → `a::b`, `src/lib.rs` and `src/main.rs` → the root.
fn module_of(rel: &str) -> ModPath {
    let rel = rel.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: ModPath = rel.split('/').map(str::to_owned).collect();
    if matches!(rel, "lib" | "main") || parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Tokens (identifiers, `::`, other single characters) with their line numbers.
fn tokenize(src: &str) -> Vec<(String, usize)> {
    let c: Vec<char> = src.chars().collect();
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let word = |ch: char| ch.is_alphanumeric() || ch == '_';
    let find = |from: usize, ch: char| (from..c.len()).find(|&j| c[j] == ch).unwrap_or(c.len());
    let (mut toks, mut line, mut i) = (Vec::new(), 1, 0);
    while i < c.len() {
        // A raw string `r#"…"#` / `br"…"` starts at `r` (after an optional `b`).
        let r = i + usize::from(c[i] == 'b');
        let hashes = (r + 1..c.len()).take_while(|&j| c[j] == '#').count();
        let raw = (i == 0 || !word(c[i - 1])) && at(r) == 'r' && at(r + 1 + hashes) == '"';
        let (end, token) = match (c[i], at(i + 1)) {
            ('/', '/') => (find(i, '\n'), false),
            ('/', '*') => {
                let (mut j, mut depth) = (i + 2, 1); // block comments nest
                while j < c.len() && depth > 0 {
                    match (c[j], at(j + 1)) {
                        ('/', '*') => (depth, j) = (depth + 1, j + 2),
                        ('*', '/') => (depth, j) = (depth - 1, j + 2),
                        _ => j += 1,
                    }
                }
                (j, false)
            }
            _ if raw => (string_end(&c, r + 2 + hashes, Some(hashes)), false),
            ('"', _) => (string_end(&c, i + 1, None), false),
            // `'x'`, `'\''`, `'"'` are chars; `'a` and `'static` are lifetimes.
            ('\'', '\\') => ((find(i + 3, '\'') + 1).min(c.len()), false),
            ('\'', _) if at(i + 2) == '\'' => (i + 3, false),
            (ch, _) if word(ch) => (i + c[i..].iter().take_while(|&&ch| word(ch)).count(), true),
            (':', ':') => (i + 2, true),
            (ch, _) => (i + 1, !ch.is_whitespace()),
        };
        if token {
            toks.push((c[i..end].iter().collect(), line));
        }
        line += c[i..end].iter().filter(|&&ch| ch == '\n').count();
        i = end;
    }
    toks
}

/// Index just past the closing quote of a string whose text starts at `j`; a raw string
/// (`Some(hashes)`) has no escapes and ends with `"` and as many `#`.
fn string_end(c: &[char], mut j: usize, raw: Option<usize>) -> usize {
    let hashes = raw.unwrap_or(0);
    while j < c.len() {
        match c[j] {
            '\\' if raw.is_none() => j += 2,
            '"' if c[j + 1..].iter().take(hashes).all(|&h| h == '#') => return j + 1 + hashes,
            _ => j += 1,
        }
    }
    c.len()
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|ch: char| ch.is_alphabetic() || ch == '_')
}

/// Every path written in a file, `(segments, inline module, line of its last segment)`. The
/// inline `mod name { … }` a path sits in matters: `super` in `mod tests` is the file itself.
fn written_paths(toks: &[(String, usize)]) -> Vec<(Vec<String>, Vec<String>, usize)> {
    let t = |k: usize| toks.get(k).map_or("", |x| x.0.as_str());
    let (mut out, mut depth, mut i) = (Vec::new(), 0, 0);
    let mut inline: Vec<(String, usize)> = Vec::new(); // (name, brace depth inside it)
    while i < toks.len() {
        let scope = |inline: &Vec<(String, usize)>| inline.iter().map(|m| m.0.clone()).collect();
        match t(i) {
            "{" => depth += 1,
            "}" => {
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            "mod" if t(i + 2) == "{" => inline.push((t(i + 1).to_owned(), depth + 1)),
            "use" => {
                let mut trees = Vec::new();
                i += 1;
                use_tree(toks, &mut i, Vec::new(), &mut trees);
                out.extend(trees.into_iter().map(|(p, line)| (p, scope(&inline), line)));
                continue;
            }
            // The start of an inline path: `crate::error::Error::Forbidden(…)`.
            s if is_ident(s) && t(i + 1) == "::" && t(i.wrapping_sub(1)) != "::" => {
                let mut segs = vec![s.to_owned()];
                while t(i + 1) == "::" && is_ident(t(i + 2)) {
                    segs.push(t(i + 2).to_owned());
                    i += 2;
                }
                out.push((segs, scope(&inline), toks[i].1));
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Reads the use tree at `*i`, appending each path it names: `{a::{b, c}, d}` gives `a::b`,
/// `a::c` and `d`; `self` in a group names the prefix; `as x` is skipped.
fn use_tree(
    toks: &[(String, usize)],
    i: &mut usize,
    mut path: Vec<String>,
    out: &mut Vec<(Vec<String>, usize)>,
) {
    let t = |k: usize| toks.get(k).map_or("", |x| x.0.as_str());
    loop {
        match t(*i) {
            "::" => *i += 1,
            "*" => return out.push((path, toks[*i].1)),
            "{" => {
                *i += 1;
                while !matches!(t(*i), "}" | "") {
                    use_tree(toks, i, path.clone(), out);
                    match t(*i) {
                        "," => *i += 1,
                        "}" => {}
                        _ => return, // not a use tree after all (`use<'a>` in a bound)
                    }
                }
                return *i += 1;
            }
            s if is_ident(s) => {
                if s != "self" || path.is_empty() {
                    path.push(s.to_owned());
                }
                let line = toks[*i].1;
                *i += if t(*i + 1) == "as" { 3 } else { 1 };
                if t(*i) != "::" {
                    return out.push((path, line));
                }
            }
            _ => return,
        }
    }
}

/// The file a path points into: the longest prefix of its absolute form that is a file module.
/// `None` for paths out of the crate (std, dependencies) and for local names.
fn resolve(segs: &[String], here: &[String], files: &BTreeMap<ModPath, usize>) -> Option<usize> {
    let (mut base, mut rest) = match segs.first()?.as_str() {
        "crate" => (vec![], &segs[1..]),
        "self" | "super" => (here.to_vec(), segs),
        // Rust 2018 paths: in `realtime/mod.rs`, `hub::Hub` means `self::hub::Hub`.
        _ if files.contains_key(&[here, &segs[..1]].concat()) => (here.to_vec(), segs),
        _ => return None,
    };
    while let Some(seg) = rest.first().filter(|s| *s == "self" || *s == "super") {
        if seg == "super" {
            base.pop()?;
        }
        rest = &rest[1..];
    }
    base.extend_from_slice(rest);
    (0..=base.len())
        .rev()
        .find_map(|n| files.get(&base[..n]).copied())
}

/// `sources`: `("src/…", text)`, sorted (so `lib.rs`, not `main.rs`, stands for the root).
fn build(sources: &[(String, String)]) -> Graph {
    let modules: Vec<ModPath> = sources.iter().map(|(rel, _)| module_of(rel)).collect();
    let mut by_module = BTreeMap::new();
    for (n, m) in modules.iter().enumerate() {
        by_module.entry(m.clone()).or_insert(n);
    }
    let mut edges: BTreeMap<_, BTreeMap<_, Vec<(usize, String)>>> = BTreeMap::new();
    for (from, (_, text)) in sources.iter().enumerate() {
        for (segs, inline, line) in written_paths(&tokenize(text)) {
            let here = [modules[from].clone(), inline].concat();
            let Some(to) = resolve(&segs, &here, &by_module).filter(|&to| to != from) else {
                continue;
            };
            let sites = edges.entry(from).or_default().entry(to).or_default();
            if sites.iter().all(|s| s.0 != line) {
                let source = text.lines().nth(line - 1).unwrap_or("").trim();
                sites.push((line, source.to_owned()));
            }
        }
    }
    let files = sources.iter().map(|(rel, _)| rel.clone()).collect();
    Graph {
        files,
        modules,
        edges,
    }
}

/// The strongly connected components of more than one file: files that reach each other.
/// (`src/` has some sixty files, so plain reachability is fast and the clearest way.)
fn components(g: &Graph) -> Vec<Vec<usize>> {
    let reach = |from: usize| {
        let (mut seen, mut todo) = (BTreeSet::new(), g.succ(from));
        while let Some(n) = todo.pop() {
            if seen.insert(n) {
                todo.extend(g.succ(n));
            }
        }
        seen
    };
    let reach: Vec<BTreeSet<usize>> = (0..g.files.len()).map(reach).collect();
    let mut comps: Vec<Vec<usize>> = Vec::new();
    for n in (0..g.files.len()).filter(|&n| reach[n].contains(&n)) {
        if comps.iter().all(|c| !c.contains(&n)) {
            let both_ways = reach[n].iter().filter(|&&m| reach[m].contains(&n));
            comps.push(both_ways.copied().collect());
        }
    }
    comps
}

/// A shortest cycle through `start` inside `comp` (breadth-first): `[start, …, start]`.
fn cycle_through(g: &Graph, comp: &[usize], start: usize) -> Vec<usize> {
    let (mut prev, mut queue) = (BTreeMap::new(), VecDeque::from([start]));
    while let Some(v) = queue.pop_front() {
        for w in g.succ(v).into_iter().filter(|w| comp.contains(w)) {
            if w == start {
                let mut path = vec![start, v];
                while let Some(&p) = prev.get(&path[path.len() - 1]) {
                    path.push(p);
                }
                path.reverse();
                return path;
            }
            if let Entry::Vacant(first_visit) = prev.entry(w) {
                first_visit.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

/// The failure message: each component's files, and one cycle with the lines of its edges.
fn cycle_report(g: &Graph) -> Option<String> {
    let comps = components(g);
    if comps.is_empty() {
        return None;
    }
    let mut r = format!("src/ has {} import cycle(s):\n", comps.len());
    for (k, comp) in comps.iter().enumerate() {
        let n = comp.len();
        r += &format!("\n{}. {n} files reach each other through imports:\n", k + 1);
        for chunk in comp.chunks(4) {
            let names: Vec<&str> = chunk.iter().map(|&n| g.files[n].as_str()).collect();
            r += &format!("     {}\n", names.join(", "));
        }
        // Start at the file with the most edges inside the component: the knot's centre.
        let linked = |n: usize, m: usize| g.succ(n).contains(&m) || g.succ(m).contains(&n);
        let degree = |n: usize| comp.iter().filter(|&&m| linked(n, m)).count();
        let start = comp.iter().copied().rev().max_by_key(|&n| degree(n));
        let path = cycle_through(g, comp, start.unwrap_or(comp[0]));
        let names: Vec<String> = path.iter().map(|&n| g.name(n)).collect();
        r += &format!("   for example {}:\n", names.join(" -> "));
        for pair in path.windows(2) {
            r += &format!("     {} -> {}\n", g.name(pair[0]), g.name(pair[1]));
            for (line, text) in g.edges[&pair[0]][&pair[1]].iter().take(3) {
                r += &format!("       {}:{line}: {text}\n", g.files[pair[0]]);
            }
        }
    }
    Some(r)
}

/// Every `.rs` file under `src/`, as `("src/…", text)`, sorted.
fn read_src() -> Vec<(String, String)> {
    fn walk(rel: String, out: &mut Vec<(String, String)>) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(&rel);
        for entry in fs::read_dir(dir).expect("src/ is readable").flatten() {
            let rel = format!("{rel}/{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                walk(rel, out);
            } else if rel.ends_with(".rs") {
                let text = fs::read_to_string(entry.path()).expect("a readable source file");
                out.push((rel, text));
            }
        }
    }
    let mut out = Vec::new();
    walk("src".into(), &mut out);
    out.sort();
    out
}

#[test]
fn src_has_no_import_cycles() {
    let g = build(&read_src());
    assert!(g.files.len() > 10, "src/ not found");
    if let Some(report) = cycle_report(&g) {
        panic!("{report}");
    }
}

/// `app` wires everything: a module that imports it depends on all the others.
#[test]
fn only_the_crate_root_imports_app() {
    let g = build(&read_src());
    let mut bad = String::new();
    for (&from, to) in g.edges.iter().filter(|(from, _)| !g.is_root(**from)) {
        for (_, sites) in to.iter().filter(|(to, _)| g.modules[**to] == ["app"]) {
            for (line, text) in sites {
                bad += &format!("  {}:{line}: {text}\n", g.files[from]);
            }
        }
    }
    assert!(
        bad.is_empty(),
        "only lib.rs and main.rs may import `app` (src/app.rs); these do:\n{bad}"
    );
}

// ---- the parser itself ----

fn graph_of(files: &[(&str, &str)]) -> Graph {
    let owned = files.iter().map(|(p, t)| (p.to_string(), t.to_string()));
    let mut sources: Vec<_> = owned.collect();
    sources.sort();
    build(&sources)
}

/// Every edge as `"from -> to:line"`.
fn edges_of(g: &Graph) -> BTreeSet<String> {
    let all = g
        .edges
        .iter()
        .flat_map(|(&f, m)| m.iter().map(move |(&t, s)| (f, t, s[0].0)));
    let name = |(f, t, line)| format!("{} -> {}:{line}", g.name(f), g.name(t));
    all.map(name).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn grouped_use_trees_over_several_lines_give_one_edge_per_file() {
    let g = graph_of(&[
        (
            "src/a.rs",
            "use crate::{\n    b::{self, c::C},\n    realtime::{hub::Hub, Settings},\n};\nuse super::d as dee;",
        ),
        ("src/b/mod.rs", "pub mod c;"),
        ("src/b/c.rs", ""),
        ("src/d.rs", ""),
        (
            "src/realtime/mod.rs",
            "pub mod hub;\nuse self::hub::Hub;\nfn f() { hub::Hub::new(); }",
        ),
        (
            "src/realtime/hub.rs",
            "use super::Settings;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}",
        ),
    ]);
    let expected = set(&[
        "a -> b:2",
        "a -> b::c:2",
        "a -> realtime:3",
        "a -> realtime::hub:3",
        "a -> d:5",
        "realtime -> realtime::hub:2",
        "realtime::hub -> realtime:1",
    ]);
    assert_eq!(edges_of(&g), expected);
}

#[test]
fn paths_in_comments_and_literals_are_not_edges() {
    let source = concat!(
        "// use crate::b;\n/// see [`crate::b::X`]\n/* crate::b /* nested */ crate::b */\n",
        "const S: &str = \"crate::b::X \\\" crate::b\";\nconst R: &str = r#\"crate::b \"x\" \"#;\n",
        "const Q: char = '\"'; fn f<'a>(x: &'a str) -> &'a str { x }\n",
        "fn g() { crate::c::go(\"crate::b\", '\\'', b'\"'); }\n",
    );
    let g = graph_of(&[("src/a.rs", source), ("src/b.rs", ""), ("src/c.rs", "")]);
    assert_eq!(edges_of(&g), set(&["a -> c:7"]));
}

#[test]
fn a_three_file_cycle_is_reported_with_its_lines() {
    let g = graph_of(&[
        ("src/lib.rs", "mod a; mod b; mod c; mod d;\nuse crate::a;"),
        ("src/a.rs", "use crate::b::B;"),
        ("src/b.rs", "use crate::c;"),
        ("src/c.rs", "fn f() { crate::a::go() }"),
        ("src/d.rs", "use crate::a;"),
    ]);
    let report = cycle_report(&g).expect("a cycle");
    for part in [
        "1 import cycle(s)",
        "3 files",
        "src/a.rs, src/b.rs, src/c.rs\n",
        "for example a -> b -> c -> a",
        "src/a.rs:1: use crate::b::B;",
        "src/c.rs:1: fn f() { crate::a::go() }",
    ] {
        assert!(report.contains(part), "{part:?} not in:\n{report}");
    }
    assert!(
        !report.contains("src/d.rs") && !report.contains("lib.rs:"),
        "{report}"
    );
    let acyclic = graph_of(&[("src/a.rs", "use crate::b;"), ("src/b.rs", "")]);
    assert!(cycle_report(&acyclic).is_none());
}

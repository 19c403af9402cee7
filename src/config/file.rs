//! The config file: TOML, read through the option table. Every error names the file, the line
//! and the key.
//!
//! A key is `name` at the top level or `section.name` (`[limits] max_sendq`); `[[oper]]` is an
//! array of tables. Only keys of the table are accepted.

use std::ops::Range;
use std::path::Path;

use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use super::{ConfigError, Origin, Place, OPTIONS};
use crate::config::Config;

/// One value in the file, with what is needed to report on it.
pub struct Item<'a> {
    pub value: &'a DeValue<'a>,
    pub span: Range<usize>,
    /// The whole file, for the text of a value as written.
    src: &'a str,
    /// The config file's directory: relative paths in the file are relative to it.
    pub dir: &'a Path,
}

/// What is wrong with a value: where (a span of the file) and, if more precise than the
/// option's key, which key (`oper.name`).
#[derive(Debug)]
pub struct Problem {
    pub span: Range<usize>,
    pub key: Option<String>,
    /// An unknown key names itself in `msg`: no `key "..."` before it.
    unknown: bool,
    pub msg: String,
}

impl Problem {
    pub fn key(mut self, key: &str) -> Problem {
        self.key.get_or_insert_with(|| key.to_string());
        self
    }
}

impl<'a> Item<'a> {
    pub fn child(&self, v: &'a Spanned<DeValue<'a>>) -> Item<'a> {
        Item {
            value: v.get_ref(),
            span: v.span(),
            src: self.src,
            dir: self.dir,
        }
    }

    /// The value as the file writes it (`"lots"`, `1.5`, `[1, 2]`), shortened if long.
    pub fn raw(&self) -> String {
        let text = self.src.get(self.span.clone()).unwrap_or("").trim();
        match text.char_indices().nth(40) {
            Some((i, _)) => format!("{}...", &text[..i]),
            None => text.to_string(),
        }
    }

    pub fn fail(&self, msg: impl Into<String>) -> Problem {
        Problem {
            span: self.span.clone(),
            key: None,
            unknown: false,
            msg: msg.into(),
        }
    }

    pub fn unknown_key(&self, k: &Spanned<DeString<'_>>, full: &str) -> Problem {
        Problem {
            span: k.span(),
            key: None,
            unknown: true,
            msg: format!("unknown key {full:?}{}", suggest(full)),
        }
    }
}

/// The 1-based line of a byte offset.
fn line_of(src: &str, at: usize) -> usize {
    let at = at.min(src.len());
    src.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1
}

/// ` (did you mean "limits.max_sendq"?)` when a known key is a near miss.
fn suggest(key: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    // A misspelt section is a top-level key; a key inside a section is never a section.
    let sections = OPTIONS
        .iter()
        .filter_map(|o| o.section())
        .filter(|_| !key.contains('.'));
    let best = OPTIONS
        .iter()
        .map(|o| {
            (
                o.key,
                edit_distance(o.key, key).min(edit_distance(o.name(), last) + 1),
            )
        })
        .chain(sections.map(|s| (s, edit_distance(s, key))))
        .min_by_key(|&(_, d)| d);
    match best {
        Some((k, d)) if d <= 2 && k != key => format!(" (did you mean {k:?}?)"),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Reads `path` into `cfg`, noting in `origins` each option it sets.
pub fn apply(cfg: &mut Config, origins: &mut [Origin], path: &Path) -> Vec<ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => apply_text(cfg, origins, path, &text),
        Err(e) => vec![ConfigError {
            place: Place::File {
                path: path.to_path_buf(),
                line: None,
            },
            key: None,
            msg: format!("cannot read it: {e}"),
        }],
    }
}

/// Applies `text`, the contents of the file `path`.
pub fn apply_text(
    cfg: &mut Config,
    origins: &mut [Origin],
    path: &Path,
    text: &str,
) -> Vec<ConfigError> {
    let error = |at: Option<usize>, key: Option<String>, msg: String| ConfigError {
        place: Place::File {
            path: path.to_path_buf(),
            line: at.map(|at| line_of(text, at)),
        },
        key,
        msg,
    };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let at = e.span().map(|s| s.start);
            return vec![error(at, None, toml_message(e.message()))];
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    // Every key with its value, sections opened: ("limits.max_sendq", key, value).
    let mut entries = Vec::new();
    let mut problems: Vec<(Option<String>, Problem)> = Vec::new();
    for (k, v) in doc.get_ref().iter() {
        let name = k.get_ref().as_ref();
        if !super::is_section(name) {
            entries.push((name.to_string(), k, v));
            continue;
        }
        match v.get_ref() {
            DeValue::Table(section) => {
                for (k2, v2) in section.iter() {
                    entries.push((format!("{name}.{}", k2.get_ref()), k2, v2));
                }
            }
            _ => problems.push((
                None,
                Problem {
                    span: k.span(),
                    key: None,
                    unknown: true,
                    msg: format!("{name:?} is a section: needs [{name}] with keys under it"),
                },
            )),
        }
    }
    for (key, k, v) in entries {
        let item = Item {
            value: v.get_ref(),
            span: v.span(),
            src: text,
            dir,
        };
        match OPTIONS.iter().position(|o| o.key == key) {
            Some(i) => match (OPTIONS[i].read_toml)(cfg, &item) {
                Ok(()) => {
                    origins[i] = Origin::File {
                        line: line_of(text, k.span().start),
                    }
                }
                Err(p) => problems.push((Some(key), p)),
            },
            None => problems.push((None, item.unknown_key(k, &key))),
        }
    }
    let mut errors: Vec<(usize, ConfigError)> = problems
        .into_iter()
        .map(|(key, p)| {
            let key = if p.unknown { None } else { p.key.or(key) };
            (p.span.start, error(Some(p.span.start), key, p.msg))
        })
        .collect();
    errors.sort_by_key(|(at, _)| *at);
    errors.into_iter().map(|(_, e)| e).collect()
}

/// toml's messages are lower case fragments; keep them, on one line.
fn toml_message(m: &str) -> String {
    format!("not valid TOML: {}", m.trim().replace('\n', "; "))
}

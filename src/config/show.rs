//! Text made from the option table: `--help` and the `--check-config` report.

use std::path::Path;

use super::{Config, Loaded, Origin, Reload, OPTIONS};

/// Help lines wrap to this width; option text starts at `COLUMN`.
const WIDTH: usize = 100;
const COLUMN: usize = 25;

const HEAD: &str = "\
snak: a small, fast chat server (native line protocol and IRC on one event loop)

usage: snak [OPTIONS]
       snak --check-config FILE [OPTIONS]
       snak --hash-password

Each option is also a key of the config file: the option's name less the prefix of the
[section] it is listed under, with _ for - (--irc-ping is ping in [irc]); --no-X is X = false.
";

const ACTIONS: &[(&str, &str)] = &[
    (
        "--config FILE",
        "read settings from a TOML file (see snak.example.toml); options here win",
    ),
    (
        "--check-config FILE",
        "check FILE and the options given; print every setting and its origin",
    ),
    (
        "--hash-password",
        "read a password on stdin, print its argon2id hash for the config file",
    ),
    ("-h, --help", "this text"),
    ("-V, --version", "the version"),
];

const TAIL: &str = "
Log level by RUST_LOG (error, warn, info, debug, trace; default info).
On start snak prints `listening native ADDR` / `listening irc ADDR` per listener, then `ready`.
";

/// `  --flag ARG   text`, the text wrapped at word boundaries.
fn entry(out: &mut String, flag: &str, text: &str) {
    let mut line = format!("  {flag:<w$}", w = COLUMN - 3);
    let mut first = true;
    for word in text.split_whitespace() {
        if !first && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(COLUMN - 1);
        }
        line.push(' ');
        line.push_str(word);
        first = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// The `--help` text.
pub fn help() -> String {
    let defaults = Config::default();
    let mut out = String::from(HEAD);
    out.push('\n');
    let mut sections: Vec<Option<&str>> = Vec::new();
    for o in OPTIONS {
        if !sections.contains(&o.section()) {
            sections.push(o.section());
        }
    }
    for section in sections {
        if let Some(name) = section {
            out.push_str(&format!("[{name}]\n"));
        }
        for o in OPTIONS.iter().filter(|o| o.section() == section) {
            let mut notes = Vec::new();
            if o.repeatable {
                notes.push("repeatable".to_string());
            }
            if let Some(d) = (o.show_arg)(&defaults) {
                notes.push(format!("default {d}"));
            }
            let mut text = o.help.to_string();
            if !notes.is_empty() {
                text.push_str(&format!(" ({})", notes.join("; ")));
            }
            entry(&mut out, o.flag, &text);
            if let Some((flag, help)) = o.off {
                entry(&mut out, flag, help);
            }
        }
    }
    out.push('\n');
    for (flag, text) in ACTIONS {
        entry(&mut out, flag, text);
    }
    out.push_str(TAIL);
    out
}

/// The `--check-config` report: every option, its value, where it came from, and whether a
/// reload applies it; then any warnings.
pub fn report(loaded: &Loaded, file: Option<&Path>) -> String {
    let name = file.map_or("(no file)".into(), |p| p.display().to_string());
    let mut out = format!(
        "# {name}: valid. Each setting, where it comes from (default, the file's line, or the \
         command line),\n# and whether a reload (SIGHUP) applies it or it waits for a restart.\n"
    );
    for (o, origin) in OPTIONS.iter().zip(&loaded.origins) {
        let setting = match o.value(&loaded.config) {
            Some(v) => format!("{} = {v}", o.key),
            None => format!("{} unset", o.key),
        };
        let from = match origin {
            Origin::Default => "default".to_string(),
            Origin::File { line } => format!("{name}:{line}"),
            Origin::CommandLine => "command line".to_string(),
        };
        let reload = match o.reload {
            Reload::Live => "live",
            Reload::Restart => "restart",
        };
        out.push_str(&format!("{setting:<47} # {from}, {reload}\n"));
    }
    for w in &loaded.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

fn args(list: &[&str]) -> Args {
    match Action::from_args(list.iter().map(|s| s.to_string())) {
        Ok(Action::Run(a)) => a,
        other => panic!("not a run: {other:?}"),
    }
}

/// Command line only, errors joined.
fn run(list: &[&str]) -> Result<Config, String> {
    let a = match Action::from_args(list.iter().map(|s| s.to_string()))? {
        Action::Run(a) => a,
        other => panic!("not a run: {other:?}"),
    };
    Config::load(&a, a.config_file())
        .map(|(c, _)| c)
        .map_err(joined)
}

fn joined(errors: Vec<ConfigError>) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// A file of its own in the temporary directory (tests run in parallel); its directory
/// goes when the test is done with it.
struct TempFile {
    path: PathBuf,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn temp(name: &str, text: &str) -> TempFile {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "snak-config-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    TempFile { path }
}

/// The config file `text` (as `snak.toml`) under the command line `list`.
fn with_file(text: &str, list: &[&str]) -> Result<Loaded, Vec<ConfigError>> {
    let file = temp("snak.toml", text);
    load(&args(list), Some(&file.path))
}

/// The errors of `text` as they print, without the temporary directory.
fn file_errors(text: &str) -> Vec<String> {
    let errors = with_file(text, &[]).expect_err("should fail");
    errors
        .iter()
        .map(|e| {
            let s = e.to_string();
            s[s.find("snak.toml").unwrap()..].to_string()
        })
        .collect()
}

fn origin(l: &Loaded, key: &str) -> Origin {
    let i = OPTIONS.iter().position(|o| o.key == key).unwrap();
    l.origins[i]
}

#[test]
fn irc_operators_and_password_on_the_command_line() {
    let c = run(&[
        "--oper",
        "root:hunter2",
        "--oper=mod:pw",
        "--password",
        "s3",
    ])
    .unwrap();
    assert_eq!(
        c.opers,
        vec![
            ("root".into(), Secret::Plain("hunter2".into())),
            ("mod".into(), Secret::Plain("pw".into()))
        ]
    );
    assert_eq!(c.password, Some(Secret::Plain("s3".into())));
    assert_eq!(c.irc_ping, Duration::from_secs(120));
    assert!(run(&["--oper", "nopass"])
        .unwrap_err()
        .contains("NAME:PASSWORD"));
    assert!(run(&["--oper", ":x"]).is_err());
    assert!(run(&["--password", "two words"])
        .unwrap_err()
        .starts_with("--password: needs a password without spaces"));
    assert!(run(&["--irc-ping", "0"]).is_err());
    assert_eq!(
        run(&["--irc-ping", "5"]).unwrap().irc_ping,
        Duration::from_secs(5)
    );
    assert!(run(&["--motd", "/nonexistent/motd"])
        .unwrap_err()
        .starts_with("--motd: cannot read \"/nonexistent/motd\""));
    let missing = run(&["--config", "/nonexistent/snak.toml"]).unwrap_err();
    assert!(
        missing.starts_with("/nonexistent/snak.toml: cannot read it"),
        "{missing}"
    );
}

#[test]
fn defaults_are_the_tutorials_address() {
    let c = run(&[]).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.listen, vec!["127.0.0.1:12345".parse().unwrap()]);
    assert_eq!(c.irc_listen, vec!["127.0.0.1:6667".parse().unwrap()]);
    assert_eq!(c.max_line, 8192);
    assert_eq!(c.max_sendq, 1 << 20);
    assert_eq!(c.max_clients, None);
    assert!(c.flood_limit && !c.limit_loopback);
    assert_eq!(c.offer_timeout, Duration::from_secs(60));
}

#[test]
fn repeatable_listeners_and_both_families() {
    let c = run(&["--listen", "127.0.0.1:0", "--listen=[::1]:0", "--no-irc"]).unwrap();
    assert_eq!(c.listen.len(), 2);
    assert!(c.listen[1].is_ipv6());
    assert!(c.irc_listen.is_empty());
    let both = Action::from_args(["--no-irc", "--irc-listen", "127.0.0.1:0"].map(String::from));
    assert_eq!(
        both.unwrap_err(),
        "--no-irc and --irc-listen contradict each other: give one"
    );
    let after = Action::from_args(["--irc-listen=127.0.0.1:0", "--no-irc"].map(String::from));
    assert!(after.unwrap_err().contains("contradict"));
}

#[test]
fn numbers_and_errors() {
    let c = run(&[
        "--max-clients",
        "5",
        "--max-sendq",
        "65536",
        "--no-flood-limit",
    ])
    .unwrap();
    assert_eq!(
        (c.max_clients, c.max_sendq, c.flood_limit),
        (Some(5), 65536, false)
    );
    assert_eq!(
        run(&["--max-clients", "0"]).unwrap_err(),
        "--max-clients: needs a whole number of at least 1, not \"0\""
    );
    assert_eq!(
        run(&["--max-sendq", "lots"]).unwrap_err(),
        "--max-sendq: needs a whole number of at least 4096, not \"lots\""
    );
    assert_eq!(
        run(&["--max-file-size", "99999999999999999999999"]).unwrap_err(),
        "--max-file-size: \"99999999999999999999999\" is too large: at most 18446744073709551615"
    );
    assert!(run(&["--max-per-ip", "4294967296"])
        .unwrap_err()
        .contains("too large: at most 4294967295"));
    assert!(run(&["--max-line", "x"]).is_err());
    assert!(run(&["--max-line", "-5"]).is_err());
    assert!(run(&["--max-line", "+70"]).is_err());
    assert!(run(&["--irc-ping", "86401"])
        .unwrap_err()
        .contains("too large: at most 86400"));
    assert!(run(&["--listen", "nowhere"])
        .unwrap_err()
        .contains("bad address"));
    assert!(run(&["--server-name", "bad name"])
        .unwrap_err()
        .contains("bad server name"));
    // Two errors, both reported.
    let two = run(&["--max-line", "1", "--max-sendq", "1"]).unwrap_err();
    assert_eq!(two.lines().count(), 2, "{two}");

    let usage = |list: &[&str]| Action::from_args(list.iter().map(|s| s.to_string()));
    assert!(usage(&["--listen"]).unwrap_err().contains("needs a value"));
    assert!(usage(&["--bogus"]).unwrap_err().contains("unknown option"));
    assert!(usage(&["--no-flood-limit=yes"])
        .unwrap_err()
        .contains("takes no value"));
    assert_eq!(usage(&["--help"]), Ok(Action::Help));
    assert_eq!(usage(&["-V"]), Ok(Action::Version));
    assert_eq!(usage(&["--hash-password"]), Ok(Action::HashPassword));
    assert!(usage(&["--hash-password", "--listen", "127.0.0.1:0"]).is_err());
    match usage(&["--check-config", "f.toml", "--max-sendq", "8192"]) {
        Ok(Action::CheckConfig(a)) => assert_eq!(a.config_file(), Some(Path::new("f.toml"))),
        other => panic!("{other:?}"),
    }
    assert!(usage(&["--check-config", "a", "--config", "b"]).is_err());
}

#[test]
fn a_config_file_sets_everything_and_the_command_line_wins() {
    let hash = hash_password("sesame").unwrap();
    let text = format!(
        r#"
server_name = "chat.example"
listen = "127.0.0.1:0"
password = "{hash}"
motd = ["Welcome", "to snak"]

[irc]
listen = ["127.0.0.1:0", "[::1]:0"]
ping = 30

[limits]
max_clients = 100
max_sendq = 65536
flood_limit = false
limit_loopback = true
max_file_size = 0x100000

[[oper]]
name = "alice"
password = "{hash}"

[[oper]]
name = "bob"
password = "plain"
"#
    );
    let l = with_file(&text, &["--max-sendq", "8192", "--irc-ping", "45"]).unwrap();
    let c = &l.config;
    assert_eq!(c.server_name, "chat.example");
    assert_eq!(c.listen, vec!["127.0.0.1:0".parse().unwrap()]);
    assert_eq!(c.irc_listen.len(), 2);
    assert_eq!(c.max_clients, Some(100));
    assert_eq!(c.max_sendq, 8192, "the command line wins");
    assert_eq!(c.irc_ping, Duration::from_secs(45));
    assert!(!c.flood_limit && c.limit_loopback);
    assert_eq!(c.max_file_size, 1 << 20);
    assert_eq!(c.motd, Some(vec!["Welcome".into(), "to snak".into()]));
    assert!(c.password.as_ref().unwrap().verify("sesame"));
    assert_eq!(c.opers.len(), 2);
    assert!(c.opers[0].1.is_hash() && c.opers[0].1.verify("sesame"));
    assert!(c.opers[1].1.verify("plain"));
    assert_eq!(origin(&l, "server_name"), Origin::File { line: 2 });
    assert_eq!(origin(&l, "limits.max_sendq"), Origin::CommandLine);
    assert_eq!(origin(&l, "irc.ping"), Origin::CommandLine);
    assert_eq!(origin(&l, "limits.max_line"), Origin::Default);
    // One warning, naming the one plain-text secret.
    assert_eq!(l.warnings.len(), 1);
    assert!(l.warnings[0].0.contains("oper bob"), "{}", l.warnings[0]);
    assert!(!l.warnings[0].0.contains("server password"));

    // A repeatable option on the command line replaces the file's list; --no-irc empties it.
    let l = with_file(&text, &["--oper", "carol:x", "--no-irc"]).unwrap();
    assert_eq!(l.config.opers.len(), 1);
    assert!(l.config.irc_listen.is_empty());
    assert_eq!(origin(&l, "irc.listen"), Origin::CommandLine);

    let report = report(&l, Some(Path::new("snak.toml")));
    assert!(report.contains("password = <hash>"), "{report}");
    assert!(!report.contains(&hash), "a secret in the report: {report}");
    assert!(report.contains("{ name = \"carol\", password = <set> }"));
    assert!(report.contains("# snak.toml:2, restart"));
    assert!(report.contains("limits.max_line = 8192"));
    assert!(report.contains("# command line, live"));
    assert_eq!(
        report.lines().filter(|l| !l.starts_with('#')).count(),
        OPTIONS.len() + 1
    );
}

#[test]
fn motd_from_a_file_relative_to_the_config_file() {
    let file = temp("motd.txt", "line one\r\nline two\n");
    let motd = &file.path;
    let dir = motd.parent().unwrap();
    let conf = dir.join("snak.toml");
    std::fs::write(&conf, "motd = \"motd.txt\"\n").unwrap();
    let (c, _) = Config::load(&args(&[]), Some(&conf)).unwrap();
    assert_eq!(c.motd, Some(vec!["line one".into(), "line two".into()]));
    std::fs::write(&conf, "motd = \"absent.txt\"\n").unwrap();
    let e = joined(Config::load(&args(&[]), Some(&conf)).unwrap_err());
    assert!(e.contains("snak.toml:1: key \"motd\": cannot read"), "{e}");
    // From the command line, relative to the working directory as ever.
    let c = run(&["--motd", motd.to_str().unwrap()]).unwrap();
    assert_eq!(c.motd.unwrap().len(), 2);
}

#[test]
fn every_file_error_names_the_file_line_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[limits]\nmax_sendq = \"lots\"\n",
            "snak.toml:2: key \"limits.max_sendq\": needs a whole number of at least 4096, not \"lots\"",
        ),
        (
            "\n[limits]\nmax_sendq = 1.5\n",
            "snak.toml:3: key \"limits.max_sendq\": needs a whole number of at least 4096, not 1.5",
        ),
        (
            "[limits]\nmax_line = 99999999999\n",
            "snak.toml:2: key \"limits.max_line\": 99999999999 is too large: at most 16777216",
        ),
        (
            "[limits]\nmax_per_ip = -1\n",
            "snak.toml:2: key \"limits.max_per_ip\": needs a whole number of at least 1, not -1",
        ),
        (
            "[limits]\nflood_limit = \"no\"\n",
            "snak.toml:2: key \"limits.flood_limit\": needs true or false, not \"no\"",
        ),
        (
            "[limits]\nmax_sendqq = 5\n",
            "snak.toml:2: unknown key \"limits.max_sendqq\" (did you mean \"limits.max_sendq\"?)",
        ),
        (
            "max_sendq = 5000\n",
            "snak.toml:1: unknown key \"max_sendq\" (did you mean \"limits.max_sendq\"?)",
        ),
        ("colour = 1\n", "snak.toml:1: unknown key \"colour\""),
        (
            "[irc]\nlisten = [\"127.0.0.1:6667\", \"nowhere\"]\n",
            "snak.toml:2: key \"irc.listen\": bad address \"nowhere\": expected HOST:PORT, e.g. \
             127.0.0.1:12345 or [::1]:12345",
        ),
        (
            "[irc]\nlisten = [\n  \"127.0.0.1:6667\",\n  5,\n]\n",
            "snak.toml:4: key \"irc.listen\": needs HOST:PORT in quotes, not 5",
        ),
        (
            "server_name = \"no spaces please\"\n",
            "snak.toml:1: key \"server_name\": bad server name \"no spaces please\": use letters, \
             digits, . and - (at most 63)",
        ),
        (
            "password = \"$argon2id$v=19$oops\"\n",
            "snak.toml:1: key \"password\": not a usable argon2id hash",
        ),
        ("limits = 5\n", "snak.toml:1: \"limits\" is a section: needs [limits] with keys under it"),
        ("listen = \n", "snak.toml:1: not valid TOML: "),
        ("a = 1\na = 2\n", "snak.toml:2: not valid TOML: "),
        (
            "[[oper]]\nname = \"alice\"\npasswd = \"x\"\n",
            "snak.toml:3: unknown key \"oper.passwd\"",
        ),
        (
            "[[oper]]\nname = \"alice\"\npassword = \"\"\n",
            "snak.toml:3: key \"oper.password\": needs a password without spaces",
        ),
        (
            "[[oper]]\nname = \"alice\"\n",
            "snak.toml:1: key \"oper\": an [[oper]] needs both name and password",
        ),
        ("oper = 5\n", "snak.toml:1: key \"oper\": needs [[oper]] tables"),
        (
            "motd = 5\n",
            "snak.toml:1: key \"motd\": needs a file name or an array of lines, not 5",
        ),
    ];
    for (text, want) in cases {
        let got = file_errors(text);
        assert_eq!(got.len(), 1, "{text:?}: {got:?}");
        assert!(
            got[0].starts_with(want),
            "{text:?}:\n got {}\nwant {want}",
            got[0]
        );
    }
    // Every error, in the order of the file.
    let got = file_errors("[limits]\nmax_line = 1\nmax_sendq = 1\nbogus = 1\n");
    let lines: Vec<&str> = got.iter().map(|e| &e[10..11]).collect();
    assert_eq!(lines, ["2", "3", "4"], "{got:?}");
}

#[test]
fn a_reload_reads_the_file_again_and_diff_names_each_change() {
    let file = temp("snak.toml", "[limits]\nmax_sendq = 65536\n");
    let path = file.path.as_path();
    let a = args(&["--listen", "127.0.0.1:0"]);
    let (old, _) = Config::load(&a, Some(path)).unwrap();
    assert_eq!(old.max_sendq, 65536);
    assert!(diff(&old, &old).is_empty());

    let hash = hash_password("new").unwrap();
    std::fs::write(
        path,
        format!(
            "server_name = \"renamed\"\npassword = \"{hash}\"\n[irc]\nlisten = []\n\
             [limits]\nmax_sendq = 131072\n"
        ),
    )
    .unwrap();
    let (new, warnings) = Config::load(&a, Some(path)).unwrap();
    assert!(warnings.is_empty());
    let changes = diff(&old, &new);
    let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "server_name: \"snak.localhost\" -> \"renamed\" (needs a restart)",
            "password: changed",
            "irc.listen: [\"127.0.0.1:6667\"] -> []",
            "limits.max_sendq: 65536 -> 131072",
        ]
    );
    assert!(!changes[0].live() && changes[1..].iter().all(Change::live));
    assert_eq!(changes[3].flag, "--max-sendq");

    // A broken file: errors, and the caller keeps `new`.
    std::fs::write(path, "[limits]\nmax_sendq = 1\n").unwrap();
    let e = joined(Config::load(&a, Some(path)).unwrap_err());
    assert!(
        e.ends_with(
            "snak.toml:2: key \"limits.max_sendq\": needs a whole number of at least 4096, not 1"
        ),
        "{e}"
    );

    // Secrets never show, even when only one side has one.
    let mut pw = new.clone();
    pw.password = Some(Secret::Plain("hunter2".into()));
    pw.opers = vec![("root".into(), Secret::Plain("x".into()))];
    let shown: Vec<String> = diff(&new, &pw).iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["password: changed", "oper: changed"]);
    let mut motd = new.clone();
    motd.motd = Some(vec!["hi".into()]);
    assert_eq!(diff(&new, &motd)[0].to_string(), "motd: unset -> <1 lines>");
}

/// The rules the table keeps, so that `--help`, the file and the docs stay guessable.
#[test]
fn the_option_table_is_consistent() {
    let (mut fields, mut keys, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    for o in OPTIONS {
        for (name, seen) in [
            (o.field, &mut fields),
            (o.key, &mut keys),
            (o.flag_name(), &mut flags),
        ] {
            assert!(!seen.contains(&name), "{name} twice");
            seen.push(name);
        }
        if let Some((off, _)) = o.off {
            assert!(off.starts_with("--no-"), "{off}");
            assert!(!flags.contains(&off));
            flags.push(off);
        }
        // The key follows from the flag: less `--`, a `no-`, the section's prefix; _ for -.
        let mut name = o.flag_name().strip_prefix("--").unwrap();
        if !o.takes_value {
            name = name.strip_prefix("no-").unwrap_or(name);
        }
        if let Some(s) = o.section() {
            name = name.strip_prefix(&format!("{s}-")).unwrap_or(name);
        }
        assert_eq!(o.name(), name.replace('-', "_"), "key of {}", o.flag);
        assert_eq!(o.takes_value, o.flag.contains(' '), "{}: ARG", o.flag);
        assert!(!o.help.is_empty() && !o.help.ends_with('.'), "{}", o.flag);
        // Options of a section are listed together, so --help lists them under one heading.
        let first = OPTIONS
            .iter()
            .position(|p| p.section() == o.section())
            .unwrap();
        let me = OPTIONS.iter().position(|p| p.key == o.key).unwrap();
        assert!(
            OPTIONS[first..me]
                .iter()
                .all(|p| p.section() == o.section()),
            "{}",
            o.key
        );
    }
    // Each default, written as the file writes it, reads back as itself.
    let defaults = Config::default();
    let mut text = String::new();
    for o in OPTIONS.iter().filter(|o| !o.secret) {
        if let Some(v) = o.value(&defaults) {
            if !v.starts_with('<') {
                text.push_str(&format!("{} = {v}\n", o.key));
            }
        }
    }
    let l = with_file(&text, &[]).unwrap_or_else(|e| panic!("{text}{}", joined(e)));
    assert_eq!(l.config, defaults);
    for line in help().lines() {
        assert!(line.len() <= 100, "--help line too long: {line}");
    }
}

/// Settings shown as `# key = value` (and `# [[oper]]`) are the ones unset by default.
fn uncomment(text: &str) -> String {
    fn setting(l: &str) -> Option<&str> {
        l.strip_prefix("# ").filter(|rest| {
            rest.starts_with('[')
                || rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        })
    }
    text.lines()
        .map(|l| setting(l).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_file_lists_every_option_with_its_default() {
    let text = include_str!("../../snak.example.toml");
    let l = with_file(text, &[]).unwrap_or_else(|e| panic!("{}", joined(e)));
    assert_eq!(
        l.config,
        Config::default(),
        "the example's values are not the defaults"
    );
    for (o, origin) in OPTIONS.iter().zip(&l.origins) {
        let set = *origin != Origin::Default;
        let has_default = o.value(&Config::default()).is_some_and(|v| v != "[]");
        let default = o.value(&Config::default()).unwrap_or_default();
        assert_eq!(
            set,
            has_default,
            "snak.example.toml: {} must be there as `{} = {default}` (or, unset by default, as \
             `# {} = EXAMPLE`)",
            o.key,
            o.name(),
            o.name()
        );
        assert!(
            text.contains(&format!("# {}", o.flag_name())),
            "snak.example.toml: a comment above {} must start `# {}` and say what it does",
            o.key,
            o.flag
        );
    }
    // The commented-out settings are valid too, and with them every key is there.
    let all = uncomment(text);
    let l = with_file(&all, &[]).unwrap_or_else(|e| panic!("{all}\n{}", joined(e)));
    for (o, origin) in OPTIONS.iter().zip(&l.origins) {
        assert_ne!(
            *origin,
            Origin::Default,
            "snak.example.toml has no {}",
            o.key
        );
    }
}

#[test]
fn readme_option_list_is_help() {
    let readme = include_str!("../../README.md");
    let usage = &readme[readme.find("\n## Usage\n").expect("README has ## Usage")..];
    let start = usage.find("```\n").expect("a fenced block under ## Usage") + 4;
    let len = usage[start..].find("```\n").expect("the block ends");
    let block = &usage[start..start + len];
    assert!(
        block == help(),
        "README.md's block under ## Usage must be `snak --help` exactly, which is now:\n{}",
        help()
    );
}

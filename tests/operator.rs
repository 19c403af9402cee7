//! What a server operator asks of the server: a reload (IRC REHASH, native /rehash) and the
//! live figures (IRC STATS f, native /stats), refused to everyone else.

mod common;

use common::{Client, Daemon};

fn config_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("snak-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// An IRC client registered as `nick`, its welcome burst read up to the end of the MOTD.
fn irc(d: &Daemon, nick: &str) -> Client {
    let mut c = Client::connect(d.addr("irc"));
    c.nick = nick.to_string();
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    loop {
        let line = c.line();
        if line.contains(" 376 ") || line.contains(" 422 ") {
            return c;
        }
    }
}

#[test]
fn an_irc_operator_rehashes_and_reads_the_figures_and_others_are_refused() {
    let dir = config_dir("rehash-irc");
    let conf = dir.join("snak.toml");
    std::fs::write(&conf, "[limits]\nmax_targets = 4\n").expect("write");
    let d = Daemon::start(&[
        "--config",
        conf.to_str().expect("path"),
        "--oper",
        "root:sesame",
    ]);
    let mut plain = irc(&d, "plain");
    plain.send("REHASH");
    plain.expect(":snak.localhost 481 plain :Permission Denied- You're not an IRC operator");
    plain.send("STATS f");
    plain.expect(":snak.localhost 481 plain :Permission Denied- You're not an IRC operator");

    let mut op = irc(&d, "op");
    op.send("OPER root wrong");
    op.expect(":snak.localhost 464 op :Password incorrect");
    op.send("OPER root sesame");
    op.expect(":snak.localhost 381 op :You are now an IRC operator");
    op.expect(":op!op@127.0.0.1 MODE op +o");

    std::fs::write(&conf, "[limits]\nmax_targets = 2\n").expect("write");
    op.send("REHASH");
    op.expect(&format!(
        ":snak.localhost 382 op {} Rehashing",
        conf.display()
    ));
    op.expect(":snak.localhost NOTICE op :*** REHASH: limits.max_targets: 4 -> 2");
    // The new limit holds for a connection made before the reload.
    plain.send("PRIVMSG a,b,c :hi");
    let refused = plain.line();
    assert!(refused.contains(" 407 "), "too many targets: {refused}");

    std::fs::write(&conf, "[limits]\nmax_targets = \"many\"\n").expect("write");
    op.send("REHASH");
    let failed = op.line();
    assert!(
        failed.starts_with(":snak.localhost NOTICE op :*** REHASH failed, the old settings stay: ")
            && failed.contains("max_targets"),
        "{failed}"
    );

    op.send("STATS f");
    let mut figures = Vec::new();
    loop {
        let line = op.line();
        if line == ":snak.localhost 219 op f :End of /STATS report" {
            break;
        }
        figures.push(line);
    }
    let users = figures
        .iter()
        .find(|l| l.starts_with(":snak.localhost 249 op f :snak_users "))
        .unwrap_or_else(|| panic!("no snak_users in {figures:?}"));
    assert!(users.ends_with(" 2"), "two users: {users}");
    assert!(
        figures
            .iter()
            .all(|l| l.starts_with(":snak.localhost 249 op f :snak_")),
        "{figures:?}"
    );
    // Everyone is still here.
    plain.send("PING still");
    plain.expect(":snak.localhost PONG snak.localhost still");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_native_operator_rehashes_and_reads_the_figures() {
    let dir = config_dir("rehash-native");
    let conf = dir.join("snak.toml");
    std::fs::write(&conf, "[limits]\nmax_targets = 4\n").expect("write");
    let d = Daemon::start(&[
        "--config",
        conf.to_str().expect("path"),
        "--oper",
        "root:sesame",
    ]);
    let mut a = d.named("alice");
    a.send("/stats");
    a.expect("! not-operator you are not a server operator");
    a.send("/rehash");
    a.expect("! not-operator you are not a server operator");
    a.send("/oper root");
    a.expect("! usage /oper NAME PASSWORD");
    a.send("/oper root nope");
    a.expect("! usage wrong password");
    a.send("/oper root sesame");
    a.expect("= oper you are now a server operator");
    a.expect("* alice sets mode +o");

    a.send("/rehash");
    a.expect(&format!("= rehash {}", conf.display()));
    a.expect("= rehash nothing changed");
    std::fs::write(&conf, "[limits]\nmax_targets = 2\n").expect("write");
    a.send("/rehash");
    a.expect(&format!("= rehash {}", conf.display()));
    a.expect("= rehash changed limits.max_targets: 4 -> 2");
    std::fs::write(&conf, "[limits\n").expect("write");
    a.send("/rehash");
    let failed = a.line();
    assert!(
        failed.starts_with("! rehash-failed ") && failed.ends_with("; the old settings stay"),
        "{failed}"
    );

    a.send("/stats");
    let mut names = Vec::new();
    loop {
        let line = a.line();
        if line == "= end stats" {
            break;
        }
        let rest = line
            .strip_prefix("= stats ")
            .unwrap_or_else(|| panic!("{line}"));
        let (name, value) = rest.rsplit_once(' ').expect("NAME VALUE");
        assert!(value.parse::<f64>().is_ok(), "a number: {line}");
        names.push(name.to_string());
    }
    for want in ["snak_users", "snak_rooms", "snak_uptime_seconds"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! The IRC front-end over real sockets against the real binary: registration and CAP,
//! ISUPPORT, every command and error numeric, rooms shared with native users, limits.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Client, Daemon};

const S: &str = ":snak.localhost";
const QUIET: Duration = Duration::from_millis(300);
/// What CAP LS 302 offers, with the values.
const CAPS_302: &str = "account-notify draft/account-registration=before-connect account-tag \
                    away-notify batch draft/read-marker cap-notify draft/chathistory chghost \
                    echo-message extended-join extended-monitor invite-notify labeled-response \
                    message-tags multi-prefix sasl=PLAIN,SCRAM-SHA-256 server-time setname snak.chat/files \
                    standard-replies userhost-in-names";
/// What CAP LS offers (no values without 302).
const CAPS: &str = "account-notify draft/account-registration account-tag away-notify batch \
                    draft/read-marker cap-notify draft/chathistory chghost echo-message \
                    extended-join extended-monitor invite-notify labeled-response message-tags multi-prefix \
                    sasl server-time setname snak.chat/files standard-replies userhost-in-names";

/// An IRC test client: lines go out with CRLF.
struct Irc {
    c: Client,
    nick: String,
}

impl Irc {
    fn connect(d: &Daemon) -> Irc {
        let c = Client::connect(d.irc.expect("an IRC listener"));
        Irc {
            c,
            nick: "*".into(),
        }
    }

    /// Connects and registers as `nick`; skips the welcome burst up to the end of MOTD.
    fn named(d: &Daemon, nick: &str) -> Irc {
        let mut irc = Irc::connect(d);
        irc.send(&format!("NICK {nick}"));
        irc.send(&format!("USER {nick} 0 * :The {nick}"));
        irc.expect(&format!(
            "{S} 001 {nick} :Welcome to the snak IRC network, {nick}!{nick}@127.0.0.1"
        ));
        irc.numeric("422");
        irc.nick = nick.into();
        irc
    }

    fn send(&mut self, line: &str) {
        self.c.send_raw(format!("{line}\r\n").as_bytes());
    }

    fn line(&mut self) -> String {
        self.c.line()
    }

    fn expect(&mut self, want: &str) {
        let got = self.c.line();
        assert_eq!(got, want, "{} expected a line", self.nick);
    }

    /// Skips lines until one has the numeric `code` (as `:server CODE ...`); returns it.
    fn numeric(&mut self, code: &str) -> String {
        let prefix = format!("{S} {code} ");
        self.c.line_starting(&prefix)
    }

    fn silence(&mut self) {
        self.c.expect_silence(QUIET);
    }

    /// Waits for our own PONG: everything the server sent before has arrived.
    fn sync(&mut self) -> Vec<String> {
        self.send("PING :sync");
        self.c
            .expect_eventually(&format!("{S} PONG snak.localhost sync"))
    }

    fn join(&mut self, room: &str) {
        self.send(&format!("JOIN {room}"));
        self.numeric("366");
    }
}

/// Asserts `line` is `prefix` and a Unix time of this session (not 0, not in the future).
fn expect_time(line: &str, prefix: &str) {
    let at: u64 = line
        .strip_prefix(prefix)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{line:?} is not {prefix:?} and a time"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    assert!(at > 1_700_000_000 && at <= now, "{line}");
}

fn src(nick: &str) -> String {
    format!(":{nick}!{nick}@127.0.0.1")
}

#[test]
fn registration_with_cap_302_waits_for_cap_end() {
    let d = Daemon::start(&[]);
    let mut a = Irc::connect(&d);
    a.send("CAP LS 302");
    a.send("NICK alice");
    a.send("USER alice 0 * :Alice Liddell");
    a.expect(&format!("{S} CAP * LS :{CAPS_302}"));
    a.silence();
    a.send("CAP REQ :foo multi-prefix");
    a.expect(&format!("{S} CAP alice NAK :foo multi-prefix"));
    a.send("CAP REQ :multi-prefix");
    a.expect(&format!("{S} CAP alice ACK multi-prefix"));
    a.send("CAP LIST");
    a.expect(&format!("{S} CAP alice LIST :cap-notify multi-prefix"));
    a.send("CAP BOGUS");
    a.expect(&format!("{S} 410 alice BOGUS :Invalid CAP command"));
    a.silence();
    a.send("CAP END");
    a.expect(&format!(
        "{S} 001 alice :Welcome to the snak IRC network, alice!alice@127.0.0.1"
    ));
    assert!(a
        .line()
        .starts_with(&format!("{S} 002 alice :Your host is snak.localhost")));
    assert!(a.line().starts_with(&format!("{S} 003 alice ")));
    assert!(a
        .line()
        .starts_with(&format!("{S} 004 alice snak.localhost snak-")));
    let mut isupport = String::new();
    let mut line = a.line();
    while line.starts_with(&format!("{S} 005 ")) {
        assert!(line.ends_with(":are supported by this server"), "{line}");
        assert!(line.len() <= 510);
        isupport.push_str(&line);
        line = a.line();
    }
    for token in [
        " CASEMAPPING=rfc8265 ",
        " CHANTYPES=# ",
        " NICKLEN=31 ",
        " CHANNELLEN=50 ",
        " TOPICLEN=390 ",
        " PREFIX=(ov)@+ ",
        " CHANMODES=beI,k,l,Cimnst ",
        " NETWORK=snak ",
        " MONITOR=100 ",
        " STATUSMSG=@+ ",
        " BOT=B ",
        " ELIST=MNU ",
        " WHOX ",
        " UTF8ONLY ",
    ] {
        assert!(isupport.contains(token), "{token} missing from {isupport}");
    }
    assert_eq!(
        line,
        format!("{S} 251 alice :There are 1 users and 0 invisible on 1 servers")
    );
    a.expect(&format!("{S} 254 alice 0 :channels formed"));
    a.expect(&format!("{S} 255 alice :I have 1 clients and 0 servers"));
    assert!(a.line().starts_with(&format!("{S} 265 alice 1 1 ")));
    assert!(a.line().starts_with(&format!("{S} 266 alice 1 1 ")));
    a.expect(&format!("{S} 422 alice :MOTD File is missing"));
    // A client that only lists capabilities (IRCv3.1 style) is not left hanging either.
    let mut b = Irc::connect(&d);
    b.send("CAP LS");
    b.expect(&format!("{S} CAP * LS :{CAPS}"));
    b.send("NICK bob");
    b.send("USER bob 0 * :Bob");
    b.send("CAP END");
    b.numeric("001");
}

#[test]
fn registration_errors_answer_with_numerics() {
    let d = Daemon::start(&[]);
    let _native = d.named("taken");
    let mut a = Irc::connect(&d);
    a.send("JOIN #x");
    a.expect(&format!("{S} 451 * :You have not registered"));
    a.send("NICK");
    a.expect(&format!("{S} 431 * :No nickname given"));
    a.send("NICK 9lives");
    a.expect(&format!(
        "{S} 432 * 9lives :a nick cannot start with a digit or -"
    ));
    a.send(&format!("NICK {}", "n".repeat(32)));
    assert!(a.line().starts_with(&format!("{S} 432 * ")));
    a.send("NICK TAKEN");
    a.expect(&format!("{S} 433 * TAKEN :Nickname is already in use"));
    a.send("USER onlyone");
    a.expect(&format!("{S} 461 * USER :Not enough parameters"));
    // The longest nick (31) is fine.
    let long = "n".repeat(31);
    a.send(&format!("NICK {long}"));
    a.send("USER u 0 * :U");
    a.numeric("001");
    a.numeric("422");
    a.send("USER u 0 * :again");
    a.expect(&format!("{S} 462 {long} :You may not reregister"));
    a.send("PASS late");
    a.expect(&format!("{S} 462 {long} :You may not reregister"));
    a.send("FROBNICATE now");
    a.expect(&format!("{S} 421 {long} FROBNICATE :Unknown command"));
    a.send("PING");
    a.expect(&format!("{S} 409 {long} :No origin specified"));
}

#[test]
fn server_password() {
    let d = Daemon::start(&["--password", "sesame"]);
    let mut bad = Irc::connect(&d);
    bad.send("PASS wrong");
    bad.send("NICK bad");
    bad.send("USER bad 0 * :Bad");
    bad.expect(&format!("{S} 464 bad :Password incorrect"));
    bad.expect("ERROR :Closing link (Bad password)");
    bad.c.expect_closed();
    let mut none = Irc::connect(&d);
    none.send("NICK none");
    none.send("USER none 0 * :None");
    none.expect(&format!("{S} 464 none :Password incorrect"));
    none.c.expect_closed();
    let mut good = Irc::connect(&d);
    good.send("PASS sesame");
    good.send("NICK good");
    good.send("USER good 0 * :Good");
    good.numeric("001");
}

#[test]
fn ping_pong_and_ping_timeout() {
    let d = Daemon::start(&["--irc-ping", "1"]);
    let mut a = Irc::named(&d, "alice");
    a.send("PING :are you there");
    a.expect(&format!("{S} PONG snak.localhost :are you there"));
    let mut b = Irc::named(&d, "bob");
    let mut native = d.named("nat");
    native.send("/join #p");
    native.expect("* nat joined #p");
    b.join("#p");
    native.expect("* bob joined #p");
    // bob answers the server's pings and stays; alice stays silent and is dropped.
    b.expect("PING snak.localhost");
    b.send("PONG snak.localhost");
    a.expect("PING snak.localhost");
    let lines = a.c.expect_closed();
    assert_eq!(lines, ["ERROR :Closing link (Ping timeout: 1 seconds)\r"]);
    b.expect("PING snak.localhost");
    b.send("PONG :snak.localhost");
    b.sync();
    native.send("/who #p");
    native.expect("= who #p @nat bob");
}

#[test]
fn join_part_names_topic_list() {
    let d = Daemon::start(&[]);
    let mut a = Irc::named(&d, "alice");
    let mut b = Irc::named(&d, "bob");
    a.send("JOIN #one,#two");
    for room in ["#one", "#two"] {
        // RFC 2812 sends the topic on JOIN only when there is one: no 331.
        a.expect(&format!("{} JOIN {room}", src("alice")));
        a.expect(&format!("{S} 353 alice = {room} @alice"));
        a.expect(&format!("{S} 366 alice {room} :End of /NAMES list"));
    }
    b.send("JOIN #ONE");
    b.expect(&format!("{} JOIN #one", src("bob")));
    let names = b.line();
    assert!(
        names == format!("{S} 353 bob = #one :@alice bob")
            || names == format!("{S} 353 bob = #one :bob @alice"),
        "{names}"
    );
    b.expect(&format!("{S} 366 bob #one :End of /NAMES list"));
    a.expect(&format!("{} JOIN #one", src("bob")));
    a.send("NAMES #nowhere");
    a.expect(&format!("{S} 366 alice #nowhere :End of /NAMES list"));
    a.send("JOIN room");
    a.expect(&format!("{S} 403 alice room :room names start with #"));
    a.send("JOIN");
    a.expect(&format!("{S} 461 alice JOIN :Not enough parameters"));
    // TOPIC: the op sets it; +t keeps others out until -t.
    a.send("TOPIC #one :Rust and more");
    a.expect(&format!("{} TOPIC #one :Rust and more", src("alice")));
    b.expect(&format!("{} TOPIC #one :Rust and more", src("alice")));
    b.send("TOPIC #one");
    b.expect(&format!("{S} 332 bob #one :Rust and more"));
    // Who set it and when, in seconds since the epoch.
    expect_time(
        &b.line(),
        &format!("{S} 333 bob #one alice!alice@127.0.0.1 "),
    );
    b.send("TOPIC #one :mine now");
    b.expect(&format!("{S} 482 bob #one :You're not channel operator"));
    a.send("MODE #one -t");
    b.expect(&format!("{} MODE #one -t", src("alice")));
    b.send("TOPIC #one :mine now");
    b.expect(&format!("{} TOPIC #one :mine now", src("bob")));
    b.send("TOPIC #nowhere");
    b.expect(&format!("{S} 403 bob #nowhere :No such channel"));
    // LIST
    b.send("LIST");
    b.expect(&format!("{S} 321 bob Channel :Users  Name"));
    let mut entries = vec![b.line(), b.line()];
    entries.sort();
    assert_eq!(
        entries,
        [
            format!("{S} 322 bob #one 2 :mine now"),
            format!("{S} 322 bob #two 1 :"),
        ]
    );
    b.expect(&format!("{S} 323 bob :End of /LIST"));
    b.send("LIST #two");
    b.numeric("321");
    b.expect(&format!("{S} 322 bob #two 1 :"));
    b.expect(&format!("{S} 323 bob :End of /LIST"));
    // PART, PART with reason, errors, JOIN 0.
    a.sync();
    b.send("PART #one :bye all");
    b.expect(&format!("{} PART #one :bye all", src("bob")));
    a.expect(&format!("{} PART #one :bye all", src("bob")));
    b.send("PART #one");
    b.expect(&format!("{S} 442 bob #one :You're not on that channel"));
    b.send("PART");
    b.expect(&format!("{S} 461 bob PART :Not enough parameters"));
    a.send("JOIN 0");
    let mut parts = vec![a.line(), a.line()];
    parts.sort();
    assert_eq!(
        parts,
        [
            format!("{} PART #one", src("alice")),
            format!("{} PART #two", src("alice"))
        ]
    );
    a.send("LIST");
    a.numeric("321");
    a.expect(&format!("{S} 323 alice :End of /LIST"));
}

#[test]
fn who_and_whois() {
    let d = Daemon::start(&[]);
    let mut a = Irc::named(&d, "alice");
    let mut b = Irc::named(&d, "bob");
    a.join("#w");
    b.join("#w");
    a.sync();
    b.send("AWAY :lunch");
    b.expect(&format!("{S} 306 bob :You have been marked as being away"));
    a.send("WHO #w");
    let mut who = vec![a.line(), a.line()];
    who.sort();
    assert_eq!(
        who,
        [
            format!("{S} 352 alice #w alice 127.0.0.1 snak.localhost alice H@ :0 The alice"),
            format!("{S} 352 alice #w bob 127.0.0.1 snak.localhost bob G :0 The bob"),
        ]
    );
    a.expect(&format!("{S} 315 alice #w :End of /WHO list"));
    a.send("WHO bob");
    a.expect(&format!(
        "{S} 352 alice * bob 127.0.0.1 snak.localhost bob G :0 The bob"
    ));
    a.expect(&format!("{S} 315 alice bob :End of /WHO list"));
    a.send("WHO #nowhere");
    a.expect(&format!("{S} 315 alice #nowhere :End of /WHO list"));
    a.send("WHOIS bob");
    a.expect(&format!("{S} 311 alice bob bob 127.0.0.1 * :The bob"));
    a.expect(&format!("{S} 319 alice bob #w"));
    a.expect(&format!("{S} 312 alice bob snak.localhost snak"));
    a.expect(&format!("{S} 301 alice bob lunch"));
    a.expect(&format!("{S} 318 alice bob :End of /WHOIS list"));
    a.send("WHOIS nobody");
    a.expect(&format!("{S} 401 alice nobody :No such nick/channel"));
    a.expect(&format!("{S} 318 alice nobody :End of /WHOIS list"));
    a.send("WHOIS");
    a.expect(&format!("{S} 431 alice :No nickname given"));
    // Away: 301 on a message, 305 when back.
    a.send("PRIVMSG bob :you there?");
    a.expect(&format!("{S} 301 alice bob lunch"));
    b.expect(&format!("{} PRIVMSG bob :you there?", src("alice")));
    a.send("NOTICE bob :no auto-reply to notices");
    b.expect(&format!(
        "{} NOTICE bob :no auto-reply to notices",
        src("alice")
    ));
    a.silence();
    b.send("AWAY");
    b.expect(&format!(
        "{S} 305 bob :You are no longer marked as being away"
    ));
    // USERHOST, ISON, LUSERS, MOTD.
    a.send("USERHOST bob nobody alice");
    a.expect(&format!(
        "{S} 302 alice :bob=+bob@127.0.0.1 alice=+alice@127.0.0.1"
    ));
    a.send("ISON Bob nobody alice");
    a.expect(&format!("{S} 303 alice :bob alice"));
    a.send("ISON nobody");
    a.expect(&format!("{S} 303 alice :"));
    a.send("LUSERS");
    a.expect(&format!(
        "{S} 251 alice :There are 2 users and 0 invisible on 1 servers"
    ));
    a.expect(&format!("{S} 254 alice 1 :channels formed"));
    a.numeric("266");
    a.send("MOTD");
    a.expect(&format!("{S} 422 alice :MOTD File is missing"));
    // WHOWAS after a nick change and a quit.
    b.send("NICK robert");
    b.expect(&format!("{} NICK robert", src("bob")));
    a.expect(&format!("{} NICK robert", src("bob")));
    b.send("QUIT :gone");
    b.expect("ERROR :Closing link (Quit: gone)");
    a.expect(":robert!bob@127.0.0.1 QUIT :gone");
    a.send("WHOWAS robert");
    a.expect(&format!("{S} 314 alice robert bob 127.0.0.1 * :The bob"));
    a.expect(&format!("{S} 369 alice robert :End of WHOWAS"));
    a.send("WHOWAS bob");
    a.expect(&format!("{S} 314 alice bob bob 127.0.0.1 * :The bob"));
    a.expect(&format!("{S} 369 alice bob :End of WHOWAS"));
    a.send("WHOWAS never");
    a.expect(&format!("{S} 406 alice never :There was no such nickname"));
    a.expect(&format!("{S} 369 alice never :End of WHOWAS"));
}

#[test]
fn motd_from_a_file() {
    let dir = std::env::temp_dir().join(format!("snak-motd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("motd.txt");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"Be nice.\nNo spam.\n")
        .unwrap();
    let d = Daemon::start(&["--motd", path.to_str().unwrap()]);
    let mut a = Irc::connect(&d);
    a.send("NICK alice");
    a.send("USER alice 0 * :A");
    a.numeric("375");
    a.expect(&format!("{S} 372 alice :- Be nice."));
    a.expect(&format!("{S} 372 alice :- No spam."));
    a.expect(&format!("{S} 376 alice :End of /MOTD command."));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn privmsg_and_notice_targets_and_errors() {
    let d = Daemon::start(&[]);
    let mut a = Irc::named(&d, "alice");
    let mut b = Irc::named(&d, "bob");
    let mut c = Irc::named(&d, "carol");
    a.join("#m");
    b.join("#m");
    a.sync();
    a.send("PRIVMSG #m,carol :hi  all ");
    b.expect(&format!("{} PRIVMSG #m :hi  all ", src("alice")));
    c.expect(&format!("{} PRIVMSG carol :hi  all ", src("alice")));
    a.send("PRIVMSG bob,carol :group");
    b.expect(&format!("{} PRIVMSG bob :group", src("alice")));
    c.expect(&format!("{} PRIVMSG carol :group", src("alice")));
    a.send("NOTICE #m :note");
    b.expect(&format!("{} NOTICE #m :note", src("alice")));
    a.send("PRIVMSG #m :\x01ACTION waves\x01");
    b.expect(&format!(
        "{} PRIVMSG #m :\x01ACTION waves\x01",
        src("alice")
    ));
    // Errors, and a notice that draws none.
    a.send("PRIVMSG nobody :x");
    a.expect(&format!("{S} 401 alice nobody :No such nick/channel"));
    a.send("PRIVMSG #nowhere :x");
    a.expect(&format!("{S} 403 alice #nowhere :No such channel"));
    c.send("PRIVMSG #m :from outside");
    c.expect(&format!("{S} 404 carol #m :Cannot send to channel"));
    c.send("NOTICE #m :from outside");
    c.send("NOTICE nobody :x");
    c.silence();
    a.send("PRIVMSG");
    a.expect(&format!("{S} 411 alice :No recipient given (PRIVMSG)"));
    a.send("PRIVMSG bob");
    a.expect(&format!("{S} 412 alice :No text to send"));
    a.send("PRIVMSG bob :");
    a.expect(&format!("{S} 412 alice :No text to send"));
    // -n lets outsiders talk.
    a.send("MODE #m -n");
    a.expect(&format!("{} MODE #m -n", src("alice")));
    c.send("PRIVMSG #m :now it works");
    b.expect(&format!("{} MODE #m -n", src("alice")));
    b.expect(&format!("{} PRIVMSG #m :now it works", src("carol")));
    b.silence();
}

#[test]
fn native_and_irc_users_share_rooms_both_ways() {
    let d = Daemon::start(&[]);
    let mut n = d.named("nat");
    let mut i = Irc::named(&d, "ircy");
    n.send("/join #mix");
    n.expect("* nat joined #mix");
    i.send("JOIN #mix");
    i.expect(&format!("{} JOIN #mix", src("ircy")));
    i.numeric("353");
    i.numeric("366");
    n.expect("* ircy joined #mix");
    // Both directions, actions included.
    n.send("hello irc");
    i.expect(":nat!native@127.0.0.1 PRIVMSG #mix :hello irc");
    n.send("/me waves");
    i.expect(":nat!native@127.0.0.1 PRIVMSG #mix :\x01ACTION waves\x01");
    i.send("PRIVMSG #mix :hello native");
    n.expect("#mix <ircy> hello native");
    i.send("PRIVMSG #mix :\x01ACTION nods\x01");
    n.expect("#mix * ircy nods");
    i.send("NOTICE #mix :a notice");
    n.expect("#mix -ircy- a notice");
    // Direct messages.
    n.send("/msg ircy psst");
    i.expect(":nat!native@127.0.0.1 PRIVMSG ircy :psst");
    i.send("PRIVMSG nat :back");
    let dm = n.line();
    assert!(dm.starts_with('@') && dm.ends_with(" <ircy> back"), "{dm}");
    // Nicks are one namespace, case-insensitive.
    i.send("NICK NAT");
    i.expect(&format!("{S} 433 ircy NAT :Nickname is already in use"));
    n.send("/nick IRCY");
    n.expect("! nick-taken IRCY is already in use");
    // Nick changes cross over.
    i.send("NICK ircy2");
    i.expect(&format!("{} NICK ircy2", src("ircy")));
    n.expect("* ircy is now known as ircy2");
    n.send("/nick nat2");
    n.expect("* nat is now known as nat2");
    i.expect(":nat!native@127.0.0.1 NICK nat2");
    // Topic set natively, seen by IRC; modes set by IRC are seen natively.
    n.send("/topic #mix natives rule");
    n.expect("* nat2 set the topic of #mix to: natives rule");
    i.expect(":nat2!native@127.0.0.1 TOPIC #mix :natives rule");
    n.send("/join #irc-made");
    n.expect("* nat2 joined #irc-made");
    // Parts and quits cross over.
    i.send("PART #mix :later");
    i.expect(":ircy2!ircy@127.0.0.1 PART #mix :later");
    n.expect("* ircy2 left #mix (later)");
    i.send("JOIN #mix");
    i.numeric("366");
    n.expect("* ircy2 joined #mix");
    n.send("/part #mix");
    n.expect("* nat2 left #mix");
    // After the room's latest lines, which a rejoiner is given (tests/history.rs).
    i.c.line_starting(":nat2!native@127.0.0.1 PART #mix");
    n.send("/join #mix");
    i.expect(":nat2!native@127.0.0.1 JOIN #mix");
    n.line_starting("* nat2 joined #mix");
    n.line_starting("= end history #mix ");
    i.send("QUIT :bye now");
    n.expect("* ircy2 quit (bye now)");
    let mut i2 = Irc::named(&d, "other");
    i2.join("#mix");
    n.expect("* other joined #mix");
    n.send("/quit see ya");
    i2.c.line_starting(":nat2!native@127.0.0.1 QUIT :see ya");
}

#[test]
fn file_offers_to_irc_users_are_refused_without_a_web_listener() {
    // With a web listener they get a download link: tests/web.rs.
    let d = Daemon::start(&["--no-web"]);
    let mut n = d.named("sender");
    let mut i = Irc::named(&d, "ircy");
    n.send("/offer ircy 10 notes.txt");
    n.expect("! cannot-receive-files ircy uses a client that cannot take files");
    // The IRC user hears of the offer it cannot take.
    i.expect(&format!(
        "{S} NOTICE ircy :sender wanted to send you the file \"notes.txt\" (10 bytes); this server \
         has no file links for IRC clients, so the offer was refused. Ask sender for another way."
    ));
    i.silence();
}

#[test]
fn room_modes_key_limit_invite_and_ops() {
    let d = Daemon::start(&[]);
    let mut a = Irc::named(&d, "alice");
    let mut b = Irc::named(&d, "bob");
    let mut n = d.named("nat");
    a.join("#r");
    a.send("MODE #r");
    a.expect(&format!("{S} 324 alice #r +nt"));
    expect_time(&a.line(), &format!("{S} 329 alice #r "));
    a.send("MODE #r b");
    a.expect(&format!("{S} 368 alice #r :End of channel ban list"));
    a.send("MODE #nowhere");
    a.expect(&format!("{S} 403 alice #nowhere :No such channel"));
    // +k
    a.send("MODE #r +k sesame");
    a.expect(&format!("{} MODE #r +k sesame", src("alice")));
    b.send("JOIN #r");
    b.expect(&format!("{S} 475 bob #r :Cannot join channel (+k)"));
    n.send("/join #r");
    n.expect("! bad-key #r");
    b.send("JOIN #r sesame");
    b.expect(&format!("{} JOIN #r", src("bob")));
    b.numeric("366");
    a.expect(&format!("{} JOIN #r", src("bob")));
    a.send("MODE #r");
    a.expect(&format!("{S} 324 alice #r +ntk sesame"));
    a.numeric("329");
    // +o, and what a non-operator may not do.
    b.send("MODE #r -k *");
    b.expect(&format!("{S} 482 bob #r :You're not channel operator"));
    a.send("MODE #r +o bob");
    a.expect(&format!("{} MODE #r +o bob", src("alice")));
    b.expect(&format!("{} MODE #r +o bob", src("alice")));
    b.send("MODE #r -k+l *");
    b.expect(&format!("{S} 461 bob MODE :Not enough parameters"));
    b.expect(&format!("{} MODE #r -k *", src("bob")));
    b.send("MODE #r +l 2");
    b.expect(&format!("{} MODE #r +l 2", src("bob")));
    n.send("/join #r");
    n.expect("! room-full #r");
    b.send("MODE #r -l+i");
    b.expect(&format!("{} MODE #r -l+i", src("bob")));
    n.send("/join #r");
    n.expect("! invite-only #r");
    b.send("INVITE nat #r");
    b.expect(&format!("{S} 341 bob nat #r"));
    n.expect("* bob invites you to #r");
    n.send("/join #r");
    n.expect("* nat joined #r");
    a.c.line_starting(":nat!native@127.0.0.1 JOIN #r");
    // Errors around modes and invites.
    a.send("MODE #r +x");
    a.expect(&format!("{S} 472 alice x :is unknown mode char to me"));
    a.send("MODE #r +o nobody");
    a.expect(&format!("{S} 401 alice nobody :No such nick/channel"));
    let mut c = Irc::named(&d, "carol");
    a.send("MODE #r +o carol");
    a.expect(&format!(
        "{S} 441 alice carol #r :They aren't on that channel"
    ));
    a.send("INVITE bob #r");
    a.expect(&format!("{S} 443 alice bob #r :is already on channel"));
    c.send("INVITE bob #r");
    c.expect(&format!("{S} 442 carol #r :You're not on that channel"));
    c.send("INVITE nobody #r");
    c.expect(&format!("{S} 401 carol nobody :No such nick/channel"));
    c.send("INVITE bob");
    c.expect(&format!("{S} 461 carol INVITE :Not enough parameters"));
    // User modes.
    c.send("MODE carol");
    c.expect(&format!("{S} 221 carol +"));
    c.send("MODE carol +i");
    c.expect(&format!("{} MODE carol +i", src("carol")));
    c.send("MODE carol");
    c.expect(&format!("{S} 221 carol +i"));
    c.send("MODE carol +z");
    c.expect(&format!("{S} 501 carol :Unknown MODE flag"));
    c.send("MODE alice +i");
    c.expect(&format!("{S} 502 carol :Cant change mode for other users"));
    c.send("MODE");
    c.expect(&format!("{S} 461 carol MODE :Not enough parameters"));
    c.send("MODE nobody");
    c.expect(&format!("{S} 401 carol nobody :No such nick/channel"));
}

#[test]
fn kick() {
    let d = Daemon::start(&[]);
    let mut a = Irc::named(&d, "alice");
    let mut b = Irc::named(&d, "bob");
    let mut n = d.named("nat");
    a.join("#k");
    b.join("#k");
    n.send("/join #k");
    n.expect("* nat joined #k");
    a.sync();
    b.sync();
    b.send("KICK #k alice");
    b.numeric("482");
    a.send("KICK #k nobody");
    a.expect(&format!("{S} 401 alice nobody :No such nick/channel"));
    a.send("KICK #nowhere bob");
    a.expect(&format!("{S} 403 alice #nowhere :No such channel"));
    a.send("KICK #k");
    a.expect(&format!("{S} 461 alice KICK :Not enough parameters"));
    let mut c = Irc::named(&d, "carol");
    c.send("KICK #k bob");
    c.expect(&format!("{S} 442 carol #k :You're not on that channel"));
    a.send("KICK #k carol");
    a.expect(&format!(
        "{S} 441 alice carol #k :They aren't on that channel"
    ));
    a.send("KICK #k bob,nat :behave");
    for line in [
        format!("{} KICK #k bob :behave", src("alice")),
        format!("{} KICK #k nat :behave", src("alice")),
    ] {
        a.c.expect_eventually(&line);
    }
    b.c.expect_eventually(&format!("{} KICK #k bob :behave", src("alice")));
    n.expect("* bob was kicked from #k by alice (behave)");
    n.expect("* nat was kicked from #k by alice (behave)");
    n.expect("= current #lobby");
    b.send("PRIVMSG #k :still here?");
    b.expect(&format!("{S} 404 bob #k :Cannot send to channel"));
    a.send("KICK #k alice");
    a.expect(&format!("{} KICK #k alice :alice", src("alice")));
}

#[test]
fn server_operators_kill_and_kick_anywhere() {
    let d = Daemon::start(&["--oper", "root:hunter2"]);
    let mut op = Irc::named(&d, "op");
    let mut a = Irc::named(&d, "alice");
    let mut n = d.named("nat");
    a.join("#x");
    n.send("/join #x");
    n.expect("* nat joined #x");
    op.send("KILL nat :spam");
    op.expect(&format!(
        "{S} 481 op :Permission Denied- You're not an IRC operator"
    ));
    op.send("OPER root wrong");
    op.expect(&format!("{S} 464 op :Password incorrect"));
    op.send("OPER root");
    op.expect(&format!("{S} 461 op OPER :Not enough parameters"));
    op.send("OPER root hunter2");
    op.expect(&format!("{S} 381 op :You are now an IRC operator"));
    op.expect(&format!("{} MODE op +o", src("op")));
    op.send("MODE op");
    op.expect(&format!("{S} 221 op +o"));
    a.send("WHOIS op");
    a.numeric("311");
    a.numeric("313");
    a.numeric("318");
    // Kick from a room the operator is not in; set its topic.
    op.send("KICK #x alice :moderation");
    a.expect(&format!("{} KICK #x alice :moderation", src("op")));
    n.expect("* alice was kicked from #x by op (moderation)");
    // KILL a native user.
    op.send("KILL nat :spamming");
    let lines = n.expect_closed();
    assert_eq!(lines[0], "* you were disconnected by op (spamming)");
    op.send("KILL nobody");
    op.expect(&format!("{S} 401 op nobody :No such nick/channel"));
    op.send("KILL");
    op.expect(&format!("{S} 461 op KILL :Not enough parameters"));
    // KILL an IRC user: it sees KILL and ERROR; its rooms see a QUIT.
    let mut b = Irc::named(&d, "bob");
    b.join("#y");
    a.join("#y");
    b.expect(&format!("{} JOIN #y", src("alice")));
    op.send("KILL bob :bye");
    let lines = b.c.expect_closed();
    assert_eq!(lines[0], format!("{} KILL bob :bye\r", src("op")));
    assert_eq!(lines[1], "ERROR :Closing link: Killed by op (bye)\r");
    a.expect(":bob!bob@127.0.0.1 QUIT :Killed by op (bye)");
    // LUSERS counts the operator.
    a.send("LUSERS");
    a.numeric("251");
    a.expect(&format!("{S} 252 alice 1 :operator(s) online"));
}

#[test]
fn line_limits() {
    let d = Daemon::start(&[]);
    let mut a = Irc::named(&d, "alice");
    let mut n = d.named("nat");
    a.join("#l");
    n.send("/join #l");
    n.expect("* nat joined #l");
    a.expect(":nat!native@127.0.0.1 JOIN #l");
    // Over 512 bytes from an IRC client: 417, and nothing relayed.
    a.send(&format!("PRIVMSG #l :{}", "x".repeat(600)));
    a.expect(&format!("{S} 417 alice :Input line was too long"));
    // Exactly 512 with CRLF is fine.
    let text = "y".repeat(510 - "PRIVMSG #l :".len());
    a.send(&format!("PRIVMSG #l :{text}"));
    n.expect(&format!("#l <alice> {text}"));
    // Tags do not count toward the 512 bytes.
    let tags = format!("@label={} ", "t".repeat(1000));
    a.send(&format!("{tags}PRIVMSG #l :tagged"));
    n.expect("#l <alice> tagged");
    // A long native line reaches IRC split into lines of at most 512 bytes at character
    // boundaries, nothing lost.
    let long = "é".repeat(1000);
    n.send(&long);
    let prefix = ":nat!native@127.0.0.1 PRIVMSG #l :";
    let mut got = String::new();
    while got.len() < long.len() {
        let line = a.line();
        assert!(line.len() + 2 <= 512, "{} bytes", line.len() + 2);
        let piece = line.strip_prefix(prefix).expect("a PRIVMSG piece");
        assert!(!piece.is_empty());
        got.push_str(piece);
    }
    assert_eq!(got, long);
    // Odd spacing and an empty trailing parameter.
    a.send("PRIVMSG   #l    :  spaced  ");
    n.expect("#l <alice>   spaced  ");
    a.send("TOPIC #l :");
    a.expect(&format!("{} TOPIC #l :", src("alice")));
    n.expect("* alice set the topic of #l to: ");
    // Invalid UTF-8 and bare LF line endings.
    a.c.send_raw(b"PRIVMSG #l :\xff\xfe\r\n");
    a.expect(&format!(
        "{S} FAIL PRIVMSG INVALID_UTF8 :Your line was not valid UTF-8; this server takes UTF-8 only"
    ));
    a.c.send_raw(b"PRIVMSG #l :lf only\n");
    n.expect("#l <alice> lf only");
}

#[test]
fn voice_moderated_rooms_and_multi_prefix() {
    let d = Daemon::start(&[]);
    let mut a = Irc::connect(&d);
    a.send("CAP LS 302");
    a.send("NICK alice");
    a.send("USER alice 0 * :The alice");
    a.send("CAP REQ :multi-prefix");
    a.send("CAP END");
    a.numeric("422");
    a.nick = "alice".into();
    let mut b = Irc::named(&d, "bob");
    let mut n = d.named("nat");
    a.join("#m");
    b.join("#m");
    n.send("/join #m");
    n.expect("* nat joined #m");
    a.sync();
    b.sync();
    a.send("MODE #m +mv bob");
    a.expect(&format!("{} MODE #m +mv bob", src("alice")));
    b.expect(&format!("{} MODE #m +mv bob", src("alice")));
    n.expect("* alice sets mode +mv bob on #m");
    // Only operators and voiced members speak in a moderated room.
    n.send("hello?");
    n.expect("! cannot-send #m (the room is moderated)");
    b.send("PRIVMSG #m :I have a voice");
    a.expect(&format!("{} PRIVMSG #m :I have a voice", src("bob")));
    n.expect("#m <bob> I have a voice");
    a.send("MODE #m +v alice");
    a.expect(&format!("{} MODE #m +v alice", src("alice")));
    // With multi-prefix every prefix shows, highest first; without, only the highest.
    a.send("NAMES #m");
    let names = a.numeric("353");
    assert!(
        names.contains("@+alice") && names.contains("+bob"),
        "{names}"
    );
    b.sync();
    b.send("NAMES #m");
    let names = b.numeric("353");
    assert!(
        names.contains(" :@alice") || names.contains(" @alice"),
        "{names}"
    );
    assert!(!names.contains("@+alice"), "{names}");
    a.sync();
    a.send("WHO #m");
    let who = a.numeric("352");
    assert!(who.contains(" alice H@+ :0 "), "{who}");
    a.sync();
    n.send("/who #m");
    let listed = n.line_starting("= who #m");
    assert!(
        listed.contains("@alice") && listed.contains("+bob") && listed.contains(" nat"),
        "{listed}"
    );
    a.send("MODE #m");
    a.expect(&format!("{S} 324 alice #m +mnt"));
}

/// A burst of lines to one room in one write is queued to the members together (when they
/// all share one encoding); whatever else reaches a member in between (a direct message, a
/// nick change, an action) still arrives in the order it happened.
#[test]
fn a_burst_to_a_room_arrives_in_order_with_what_came_between() {
    let d = Daemon::start(&[]);
    let mut alice = d.named("alice");
    let mut bob = d.named("bob");
    alice.expect_eventually("* guest-2 is now known as bob");
    let mut carol = d.named("carol");
    bob.expect_eventually("* guest-3 is now known as carol");
    alice.expect_eventually("* guest-3 is now known as carol");
    alice.send_raw(
        b"one\ntwo\n/msg bob psst\nthree\nfour\n/nick alicia\nfive\n/me waves\nsix\n/msg carol hey\n",
    );
    let lines = [
        "#lobby <alice> one",
        "#lobby <alice> two",
        "@bob <alice> psst",
        "#lobby <alice> three",
        "#lobby <alice> four",
        "* alice is now known as alicia",
        "#lobby <alicia> five",
        "#lobby * alicia waves",
        "#lobby <alicia> six",
        "@carol <alicia> hey",
    ];
    for want in lines.iter().filter(|l| !l.starts_with("@carol")) {
        assert_eq!(&bob.line(), want);
    }
    for want in lines.iter().filter(|l| !l.starts_with("@bob")) {
        assert_eq!(&carol.line(), want);
    }
    bob.expect_silence(QUIET);
    carol.expect_silence(QUIET);
}

/// The same over IRC, with a member of two rooms and a member whose caps differ (two
/// encodings of each line).
#[test]
fn an_irc_burst_arrives_in_order_for_every_kind_of_member() {
    let d = Daemon::start(&[]);
    let mut a = Irc::named(&d, "alice");
    let mut b = Irc::named(&d, "bob");
    let mut c = Irc::named(&d, "carol");
    c.send("CAP REQ :server-time");
    c.numeric("CAP");
    for x in [&mut a, &mut b, &mut c] {
        x.send("JOIN #r");
        x.numeric("366");
    }
    b.send("JOIN #s");
    b.numeric("366");
    a.send("JOIN #s");
    a.numeric("366");
    a.sync();
    b.sync();
    c.sync();
    a.c.send_raw(
        b"PRIVMSG #r :one\r\nPRIVMSG #r :two\r\nPRIVMSG #s :elsewhere\r\nPRIVMSG #r :three\r\n\
NOTICE bob :psst\r\nPRIVMSG #r :four\r\nNICK alicia\r\nPRIVMSG #r :five\r\n",
    );
    let (old, new) = ("alice!alice@127.0.0.1", "alicia!alice@127.0.0.1");
    for want in [
        format!(":{old} PRIVMSG #r :one"),
        format!(":{old} PRIVMSG #r :two"),
        format!(":{old} PRIVMSG #s :elsewhere"),
        format!(":{old} PRIVMSG #r :three"),
        format!(":{old} NOTICE bob :psst"),
        format!(":{old} PRIVMSG #r :four"),
        format!(":{old} NICK alicia"),
        format!(":{new} PRIVMSG #r :five"),
    ] {
        b.expect(&want);
    }
    for want in [
        format!(":{old} PRIVMSG #r :one"),
        format!(":{old} PRIVMSG #r :two"),
        format!(":{old} PRIVMSG #r :three"),
        format!(":{old} PRIVMSG #r :four"),
        format!(":{old} NICK alicia"),
        format!(":{new} PRIVMSG #r :five"),
    ] {
        let got = c.line();
        let (tags, rest) = got.split_once(' ').expect("a tagged line");
        assert!(tags.starts_with("@time="), "{got}");
        assert_eq!(rest, want);
    }
    b.silence();
    c.silence();
}

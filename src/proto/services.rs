//! The services' command language (pure): the text of a message to NickServ or ChanServ
//! (`IDENTIFY sesame`, `REGISTER #room`) as a typed request. IRC users send it with
//! `PRIVMSG NickServ :...` or `NS ...`; native users with `/msg NickServ ...`, and native
//! commands (`/login`, `/register #room`) parse into the same requests.

use crate::event::services::Service;
use crate::event::Role;
use crate::hub::RoomRequest;

/// An account request, whatever the protocol that carried it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AccountRequest<'a> {
    /// Registers the caller's current nick as an account.
    Register {
        password: &'a str,
        email: Option<&'a str>,
    },
    /// Logs in (the account named, or the one of the caller's nick).
    Identify {
        account: Option<&'a str>,
        password: &'a str,
    },
    Logout,
    Password {
        old: &'a str,
        new: &'a str,
    },
    /// Deletes the caller's account, after checking its password.
    Drop {
        password: &'a str,
    },
    /// An account's details (the caller's own if None).
    Info(Option<&'a str>),
    Ghost(&'a str),
    /// Adds a TLS client certificate fingerprint (the connection's own if None).
    CertAdd(Option<&'a str>),
    CertDel(&'a str),
    CertList,
}

impl std::fmt::Debug for AccountRequest<'_> {
    // Passwords never reach a log or a test failure through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountRequest::Register { email, .. } => write!(f, "Register(email {email:?})"),
            AccountRequest::Identify { account, .. } => write!(f, "Identify({account:?})"),
            AccountRequest::Logout => write!(f, "Logout"),
            AccountRequest::Password { .. } => write!(f, "Password"),
            AccountRequest::Drop { .. } => write!(f, "Drop"),
            AccountRequest::Info(a) => write!(f, "Info({a:?})"),
            AccountRequest::Ghost(n) => write!(f, "Ghost({n})"),
            AccountRequest::CertAdd(fp) => write!(f, "CertAdd({fp:?})"),
            AccountRequest::CertDel(fp) => write!(f, "CertDel({fp})"),
            AccountRequest::CertList => write!(f, "CertList"),
        }
    }
}

/// What a message to a service asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    Account(AccountRequest<'a>),
    Room(RoomRequest<'a>),
    Help(Service),
    /// A command the service does not have.
    Unknown(Service, &'a str),
    /// A known command with the wrong arguments: its form.
    Usage(Service, &'static str),
}

/// The forms of the NickServ commands, also its HELP.
pub const NICKSERV: &[(&str, &str)] = &[
    (
        "REGISTER <password> [email]",
        "make your current nick an account (you are logged in to it)",
    ),
    (
        "IDENTIFY [account] <password>",
        "log in (to the account of your nick if none is named)",
    ),
    ("LOGOUT", "log out"),
    ("PASSWORD <old> <new>", "change your account's password"),
    (
        "GHOST <nick>",
        "take your account's nick back from whoever holds it",
    ),
    (
        "INFO [account]",
        "when an account was registered (yours: its e-mail and certificates too)",
    ),
    ("DROP <password>", "delete your account"),
    (
        "CERT ADD [fingerprint]",
        "log in by TLS client certificate (SASL EXTERNAL); CERT DEL <fp>, CERT LIST",
    ),
];

/// The forms of the ChanServ commands, also its HELP.
pub const CHANSERV: &[(&str, &str)] = &[
    (
        "REGISTER <#room>",
        "keep a room you operate: topic, modes, bans and access lists survive restarts",
    ),
    ("DROP <#room>", "unregister a room (its founder)"),
    (
        "INFO <#room>",
        "a registered room's founder and ops and voice lists",
    ),
    (
        "OP <#room> <account>",
        "put an account on the ops list (ops now and on every join); DEOP takes it off",
    ),
    (
        "VOICE <#room> <account>",
        "put an account on the voice list; DEVOICE takes it off",
    ),
];

fn form(table: &'static [(&'static str, &'static str)], command: &str) -> &'static str {
    table
        .iter()
        .find(|(f, _)| f.split(' ').next() == Some(command))
        .map_or("HELP", |(f, _)| f)
}

/// Splits off the first space-separated word.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim_start_matches(' ')),
        None => (s, ""),
    }
}

/// The words of `s`, at most `N` of them; None if there are more.
fn words<const N: usize>(s: &str) -> Option<([&str; N], usize)> {
    let mut out = [""; N];
    let mut n = 0;
    for w in s.split(' ').filter(|w| !w.is_empty()) {
        if n == N {
            return None;
        }
        out[n] = w;
        n += 1;
    }
    Some((out, n))
}

/// Parses the text of a message to `service`.
pub fn parse(service: Service, text: &str) -> Request<'_> {
    let (command, rest) = word(text.trim_end_matches(' '));
    let upper = command.to_ascii_uppercase();
    match service {
        Service::NickServ => nickserv(&upper, command, rest),
        Service::ChanServ => chanserv(&upper, command, rest),
    }
}

fn nickserv<'a>(upper: &str, command: &'a str, rest: &'a str) -> Request<'a> {
    use AccountRequest as A;
    let usage = |c: &str| Request::Usage(Service::NickServ, form(NICKSERV, c));
    let ok = Request::Account;
    match upper {
        "HELP" | "" => Request::Help(Service::NickServ),
        "REGISTER" => match words::<2>(rest) {
            Some(([password, email], 1..=2)) => ok(A::Register {
                password,
                email: (!email.is_empty()).then_some(email),
            }),
            _ => usage("REGISTER"),
        },
        "IDENTIFY" | "LOGIN" => match words::<2>(rest) {
            Some(([password, _], 1)) => ok(A::Identify {
                account: None,
                password,
            }),
            Some(([account, password], 2)) => ok(A::Identify {
                account: Some(account),
                password,
            }),
            _ => usage("IDENTIFY"),
        },
        "LOGOUT" if rest.is_empty() => ok(A::Logout),
        "LOGOUT" => usage("LOGOUT"),
        "PASSWORD" | "SET" => {
            // SET PASSWORD <old> <new>, as other services spell it.
            let rest = match upper {
                "SET" => match word(rest) {
                    (what, rest) if what.eq_ignore_ascii_case("PASSWORD") => rest,
                    _ => return usage("PASSWORD"),
                },
                _ => rest,
            };
            match words::<2>(rest) {
                Some(([old, new], 2)) => ok(A::Password { old, new }),
                _ => usage("PASSWORD"),
            }
        }
        "DROP" => match words::<1>(rest) {
            Some(([password], 1)) => ok(A::Drop { password }),
            _ => usage("DROP"),
        },
        "INFO" => match words::<1>(rest) {
            Some(([account], n)) => ok(A::Info((n == 1).then_some(account))),
            None => usage("INFO"),
        },
        "GHOST" | "RECOVER" | "REGAIN" => match words::<1>(rest) {
            Some(([nick], 1)) => ok(A::Ghost(nick)),
            _ => usage("GHOST"),
        },
        "CERT" => {
            let (sub, args) = word(rest);
            match (sub.to_ascii_uppercase().as_str(), words::<1>(args)) {
                ("ADD", Some(([fp], n))) => ok(A::CertAdd((n == 1).then_some(fp))),
                ("DEL" | "DELETE", Some(([fp], 1))) => ok(A::CertDel(fp)),
                ("LIST" | "", Some((_, 0))) => ok(A::CertList),
                _ => usage("CERT"),
            }
        }
        _ => Request::Unknown(Service::NickServ, command),
    }
}

fn chanserv<'a>(upper: &str, command: &'a str, rest: &'a str) -> Request<'a> {
    let usage = |c: &str| Request::Usage(Service::ChanServ, form(CHANSERV, c));
    let room_only = |make: fn(&'a str) -> RoomRequest<'a>, c: &str| match words::<1>(rest) {
        Some(([room], 1)) if room.starts_with('#') => Request::Room(make(room)),
        _ => usage(c),
    };
    let access = |role, add, c: &str| match words::<2>(rest) {
        Some(([room, account], 2)) if room.starts_with('#') => Request::Room(RoomRequest::Access {
            room,
            role,
            account,
            add,
        }),
        _ => usage(c),
    };
    match upper {
        "HELP" | "" => Request::Help(Service::ChanServ),
        "REGISTER" => room_only(RoomRequest::Register, "REGISTER"),
        "DROP" => room_only(RoomRequest::Drop, "DROP"),
        "INFO" | "ACCESS" => room_only(RoomRequest::Info, "INFO"),
        "OP" => access(Role::Op, true, "OP"),
        "DEOP" => access(Role::Op, false, "OP"),
        "VOICE" => access(Role::Voice, true, "VOICE"),
        "DEVOICE" => access(Role::Voice, false, "VOICE"),
        _ => Request::Unknown(Service::ChanServ, command),
    }
}

/// Which service a message target names, if any (`NickServ`, `ChanServ`, any case).
pub fn service_named(target: &str) -> Option<Service> {
    if target.eq_ignore_ascii_case("NickServ") {
        Some(Service::NickServ)
    } else if target.eq_ignore_ascii_case("ChanServ") {
        Some(Service::ChanServ)
    } else {
        None
    }
}

/// A certificate fingerprint as typed (hex, any case, colons allowed) in the form the store
/// keeps: 64 lowercase hex digits. None if it is not one.
pub fn fingerprint(typed: &str) -> Option<String> {
    let hex: String = typed
        .chars()
        .filter(|&c| c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccountRequest as A;

    fn ns(text: &str) -> Request<'_> {
        parse(Service::NickServ, text)
    }

    fn cs(text: &str) -> Request<'_> {
        parse(Service::ChanServ, text)
    }

    #[test]
    fn nickserv_commands() {
        assert_eq!(
            ns("register sesame"),
            Request::Account(A::Register {
                password: "sesame",
                email: None
            })
        );
        assert_eq!(
            ns("REGISTER sesame a@b.c"),
            Request::Account(A::Register {
                password: "sesame",
                email: Some("a@b.c")
            })
        );
        assert_eq!(
            ns("identify  sesame "),
            Request::Account(A::Identify {
                account: None,
                password: "sesame"
            })
        );
        assert_eq!(
            ns("IDENTIFY alice sesame"),
            Request::Account(A::Identify {
                account: Some("alice"),
                password: "sesame"
            })
        );
        assert_eq!(
            ns("SET PASSWORD a b"),
            Request::Account(A::Password { old: "a", new: "b" })
        );
        assert_eq!(ns("info"), Request::Account(A::Info(None)));
        assert_eq!(ns("ghost bob"), Request::Account(A::Ghost("bob")));
        assert_eq!(ns("cert add"), Request::Account(A::CertAdd(None)));
        assert_eq!(ns("CERT"), Request::Account(A::CertList));
        assert_eq!(ns(""), Request::Help(Service::NickServ));
        assert_eq!(
            ns("register"),
            Request::Usage(Service::NickServ, "REGISTER <password> [email]")
        );
        assert_eq!(
            ns("register a b c"),
            Request::Usage(Service::NickServ, "REGISTER <password> [email]")
        );
        assert_eq!(ns("frob x"), Request::Unknown(Service::NickServ, "frob"));
        // A password never shows in Debug.
        assert!(!format!("{:?}", ns("IDENTIFY alice hunter2")).contains("hunter2"));
    }

    #[test]
    fn chanserv_commands() {
        assert_eq!(
            cs("register #r"),
            Request::Room(RoomRequest::Register("#r"))
        );
        assert_eq!(
            cs("DEOP #r bob"),
            Request::Room(RoomRequest::Access {
                room: "#r",
                role: Role::Op,
                account: "bob",
                add: false
            })
        );
        assert_eq!(cs("access #r"), Request::Room(RoomRequest::Info("#r")));
        assert_eq!(
            cs("register r"),
            Request::Usage(Service::ChanServ, "REGISTER <#room>")
        );
        assert_eq!(
            cs("voice #r"),
            Request::Usage(Service::ChanServ, "VOICE <#room> <account>")
        );
    }

    #[test]
    fn fingerprints_and_service_names() {
        let fp = "AB:".repeat(31) + "AB";
        assert_eq!(fingerprint(&fp), Some("ab".repeat(32)));
        assert_eq!(fingerprint("abc"), None);
        assert_eq!(fingerprint(&"g".repeat(64)), None);
        assert_eq!(service_named("nickserv"), Some(Service::NickServ));
        assert_eq!(service_named("chanServ"), Some(Service::ChanServ));
        assert_eq!(service_named("nick"), None);
    }
}

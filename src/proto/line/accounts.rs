//! The native protocol's account and room registration commands (`/register`, `/login`,
//! `/logout`, `/password`, `/drop`, `/info`, `/ghost`, `/access`, `/cert`) and how it writes
//! the services' answers. See `docs/PROTOCOL.md`, "Accounts".

use std::io::Write;

use super::{push, usage};
use crate::event::services::{AccountFail, Reclaim, RoomFail, Service};
use crate::event::{Fail, Role, ServiceReply};
use crate::hub::RoomRequest;
use crate::proto::services::{AccountRequest, Request, CHANSERV, NICKSERV};

/// A native account command, as a service request; None if `cmd` is not one.
pub(super) fn parse<'a>(cmd: &str, rest: &'a str) -> Option<Result<Request<'a>, Fail<'a>>> {
    use AccountRequest as A;
    let words: Vec<&'a str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
    let account = |r| Some(Ok(Request::Account(r)));
    let room = |r| Some(Ok(Request::Room(r)));
    let bad = || Some(Err(usage(cmd)));
    let is_room = |w: &str| w.starts_with('#');
    match (cmd, words.as_slice()) {
        ("/register", [r]) if is_room(r) => room(RoomRequest::Register(r)),
        ("/register", [password]) => account(A::Register {
            password,
            email: None,
        }),
        ("/register", [password, email]) if !is_room(password) => account(A::Register {
            password,
            email: Some(email),
        }),
        ("/login", [password]) => account(A::Identify {
            account: None,
            password,
        }),
        ("/login", [name, password]) => account(A::Identify {
            account: Some(name),
            password,
        }),
        ("/logout", []) => account(A::Logout),
        ("/password", [old, new]) => account(A::Password { old, new }),
        ("/drop", [r]) if is_room(r) => room(RoomRequest::Drop(r)),
        ("/drop", [password]) => account(A::Drop { password }),
        ("/info", []) => account(A::Info(None)),
        ("/info", [r]) if is_room(r) => room(RoomRequest::Info(r)),
        ("/info", [name]) => account(A::Info(Some(name))),
        ("/ghost", [nick]) => account(A::Ghost(nick)),
        ("/access", [r]) if is_room(r) => room(RoomRequest::Info(r)),
        ("/access", [r, change, name]) if is_room(r) => {
            let (add, role) = match *change {
                "+o" => (true, Role::Op),
                "-o" => (false, Role::Op),
                "+v" => (true, Role::Voice),
                "-v" => (false, Role::Voice),
                _ => return bad(),
            };
            room(RoomRequest::Access {
                room: r,
                role,
                account: name,
                add,
            })
        }
        ("/cert", []) => account(A::CertList),
        ("/cert", [sub, rest @ ..]) => match (sub.to_ascii_lowercase().as_str(), rest) {
            ("list", []) => account(A::CertList),
            ("add", []) => account(A::CertAdd(None)),
            ("add", [fp]) => account(A::CertAdd(Some(fp))),
            ("del", [fp]) => account(A::CertDel(fp)),
            _ => bad(),
        },
        (
            "/register" | "/login" | "/logout" | "/password" | "/drop" | "/info" | "/ghost"
            | "/access",
            _,
        ) => bad(),
        _ => None,
    }
}

fn role_letter(role: Role) -> &'static str {
    match role {
        Role::Op => "o",
        Role::Voice => "v",
    }
}

/// Writes a service's reply as native lines (without the last line's `\n`).
pub(super) fn encode(reply: &ServiceReply<'_>, out: &mut Vec<u8>) {
    match *reply {
        ServiceReply::Registered { account } => push(out, &["= registered ", account]),
        ServiceReply::LoggedIn { account } => push(out, &["= login ", account]),
        ServiceReply::LoggedOut => push(out, &["= logout"]),
        ServiceReply::PasswordChanged => push(out, &["= password changed"]),
        ServiceReply::AccountDropped { account } => push(out, &["= dropped ", account]),
        ServiceReply::AccountInfo {
            account,
            registered_secs,
            email,
            certs,
        } => {
            push(out, &["= info ", account]);
            let _ = writeln!(out, " registered {registered_secs}");
            if let Some(email) = email {
                push(out, &["= info ", account, " email ", email]);
                out.push(b'\n');
            }
            for fp in certs.unwrap_or(&[]) {
                push(out, &["= info ", account, " certfp ", fp]);
                out.push(b'\n');
            }
            push(out, &["= end info ", account]);
        }
        ServiceReply::CertAdded(fp) => push(out, &["= cert added ", fp]),
        ServiceReply::CertRemoved(fp) => push(out, &["= cert removed ", fp]),
        ServiceReply::Certs { list, .. } => {
            for fp in list {
                push(out, &["= cert ", fp]);
                out.push(b'\n');
            }
            push(out, &["= end cert"]);
        }
        ServiceReply::Ghosted { nick } => push(out, &["= ghost ", nick]),
        ServiceReply::NickProtected {
            nick,
            account,
            grace_secs,
        } => {
            push(
                out,
                &["* ", nick, " is registered to the account ", account],
            );
            let _ = write!(
                out,
                ": /login {account} PASSWORD within {grace_secs} s, or you will be renamed"
            );
        }
        ServiceReply::NickReclaimed { nick, why } => {
            push(out, &["* ", nick, " belongs to an account"]);
            let _ = match why {
                Reclaim::GraceOver => write!(out, ": you were not logged in to it in time"),
                Reclaim::Ghosted(by) => write!(out, ": {by} took it back (GHOST)"),
                Reclaim::OwnerLoggedIn => write!(out, ": the owner logged in"),
            };
        }
        ServiceReply::AccountFail(f) => account_fail(&f, out),
        ServiceReply::RoomRegistered { room, founder } => {
            push(out, &["= registered ", room, " founder ", founder])
        }
        ServiceReply::RoomDropped { room } => push(out, &["= dropped ", room]),
        ServiceReply::RoomInfo {
            room,
            founder,
            registered_secs,
            ops,
            voices,
        } => {
            push(out, &["= info ", room, " founder ", founder]);
            out.push(b'\n');
            push(out, &["= info ", room]);
            let _ = writeln!(out, " registered {registered_secs}");
            push(out, &["= info ", room, " ops"]);
            for a in ops {
                push(out, &[" ", a]);
            }
            out.push(b'\n');
            push(out, &["= info ", room, " voices"]);
            for a in voices {
                push(out, &[" ", a]);
            }
            out.push(b'\n');
            push(out, &["= end info ", room]);
        }
        ServiceReply::AccessChanged {
            room,
            role,
            account,
            add,
        } => {
            let sign = if add { "+" } else { "-" };
            push(
                out,
                &[
                    "= access ",
                    room,
                    " ",
                    sign,
                    role_letter(role),
                    " ",
                    account,
                ],
            );
        }
        ServiceReply::RoomFail(f) => room_fail(&f, out),
        ServiceReply::Help(service) => {
            let (name, table) = match service {
                Service::NickServ => ("NickServ", NICKSERV),
                Service::ChanServ => ("ChanServ", CHANSERV),
            };
            for (form, what) in table {
                let _ = writeln!(out, "= help {name} {form} - {what}");
            }
            push(out, &["= end help"]);
        }
        ServiceReply::UnknownCommand(service, command) => push(
            out,
            &[
                "! unknown-command ",
                service.nick(),
                " has no ",
                command,
                "; /msg ",
                service.nick(),
                " HELP",
            ],
        ),
    }
}

fn account_fail(f: &AccountFail<'_>, out: &mut Vec<u8>) {
    let _ = match *f {
        AccountFail::BadCredentials => write!(out, "! login-failed wrong account or password"),
        AccountFail::NoSuchAccount(a) => {
            push(out, &["! no-such-account ", a]);
            Ok(())
        }
        AccountFail::Exists(a) => {
            push(out, &["! account-exists ", a, " is registered already"]);
            Ok(())
        }
        AccountFail::BadPassword(why) => {
            push(out, &["! bad-password ", why]);
            Ok(())
        }
        AccountFail::BadEmail(e) => {
            push(out, &["! bad-email ", e, " is not an e-mail address"]);
            Ok(())
        }
        AccountFail::BadName(name, why) => {
            push(out, &["! bad-account-name ", name, ": ", why]);
            Ok(())
        }
        AccountFail::RateLimited(secs) => write!(
            out,
            "! too-many-failures too many failed logins; try again in {secs} s"
        ),
        AccountFail::Busy => write!(
            out,
            "! busy too many password checks are waiting; try again in a moment"
        ),
        AccountFail::Unavailable => write!(
            out,
            "! unavailable accounts cannot be changed now (the server's store is failing); try again later"
        ),
        AccountFail::NotLoggedIn => write!(
            out,
            "! not-logged-in you are not logged in; /login ACCOUNT PASSWORD first"
        ),
        AccountFail::AlreadyLoggedIn(a) => {
            push(out, &["! already-logged-in you are logged in to ", a, "; /logout first"]);
            Ok(())
        }
        AccountFail::NotOwner(n) => {
            push(out, &["! not-owner ", n, " is not your account's nick"]);
            Ok(())
        }
        AccountFail::OwnNick(n) => {
            push(out, &["! not-owner you hold ", n, " yourself"]);
            Ok(())
        }
        AccountFail::NoSuchNick(n) => {
            push(out, &["! no-such-nick ", n]);
            Ok(())
        }
        AccountFail::NoCertificate => write!(
            out,
            "! no-certificate you connected without a TLS client certificate; name its fingerprint"
        ),
        AccountFail::BadFingerprint(fp) => {
            push(out, &["! bad-fingerprint ", fp, " is not a SHA-256 fingerprint (64 hex digits)"]);
            Ok(())
        }
        AccountFail::CertTaken(fp) => {
            push(out, &["! cert-taken ", fp, " belongs to another account"]);
            Ok(())
        }
        AccountFail::Usage(form) => write!(out, "! usage /msg NickServ {form}"),
    };
}

fn room_fail(f: &RoomFail<'_>, out: &mut Vec<u8>) {
    let _ = match *f {
        RoomFail::NeedLogin => write!(
            out,
            "! not-logged-in you are not logged in; /login ACCOUNT PASSWORD first"
        ),
        RoomFail::NotRegistered(r) => {
            push(out, &["! not-registered ", r, " is not a registered room"]);
            Ok(())
        }
        RoomFail::AlreadyRegistered(r) => {
            push(out, &["! room-exists ", r, " is registered already"]);
            Ok(())
        }
        RoomFail::NotOperator(r) => {
            push(out, &["! not-operator you are not an operator of ", r]);
            Ok(())
        }
        RoomFail::NotFounder(r) => {
            push(
                out,
                &["! not-founder only the founder of ", r, " may do that"],
            );
            Ok(())
        }
        RoomFail::NoAccess(r) => {
            push(
                out,
                &[
                    "! no-access only the founder of ",
                    r,
                    " and accounts on its ops list may do that",
                ],
            );
            Ok(())
        }
        RoomFail::NoSuchAccount(a) => {
            push(out, &["! no-such-account ", a]);
            Ok(())
        }
        RoomFail::NoSuchRoom(r) => {
            push(out, &["! no-such-room ", r]);
            Ok(())
        }
        RoomFail::Usage(form) => write!(out, "! usage /msg ChanServ {form}"),
    };
}

#[cfg(test)]
mod tests {
    use super::super::{encode as encode_event, parse as parse_line, Input};
    use super::*;
    use crate::event::Event;

    fn req(line: &str) -> Request<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Input::Service(r)) => r,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn enc(reply: ServiceReply<'_>) -> String {
        let mut out = Vec::new();
        encode_event(&Event::Service(reply), "me", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn account_commands() {
        use AccountRequest as A;
        assert_eq!(
            req("/register sesame"),
            Request::Account(A::Register {
                password: "sesame",
                email: None
            })
        );
        assert_eq!(
            req("/REGISTER sesame me@example.org"),
            Request::Account(A::Register {
                password: "sesame",
                email: Some("me@example.org")
            })
        );
        assert_eq!(
            req("/register #rust"),
            Request::Room(RoomRequest::Register("#rust"))
        );
        assert_eq!(
            req("/login alice sesame"),
            Request::Account(A::Identify {
                account: Some("alice"),
                password: "sesame"
            })
        );
        assert_eq!(req("/logout"), Request::Account(A::Logout));
        assert_eq!(req("/drop #r"), Request::Room(RoomRequest::Drop("#r")));
        assert_eq!(req("/info"), Request::Account(A::Info(None)));
        assert_eq!(req("/info #r"), Request::Room(RoomRequest::Info("#r")));
        assert_eq!(
            req("/access #r +v bob"),
            Request::Room(RoomRequest::Access {
                room: "#r",
                role: Role::Voice,
                account: "bob",
                add: true
            })
        );
        assert_eq!(req("/cert add"), Request::Account(A::CertAdd(None)));
        assert_eq!(
            parse_line(b"/password onlyone"),
            Err(Fail::Usage("/password OLD NEW"))
        );
        assert_eq!(
            parse_line(b"/access #r +x bob"),
            Err(Fail::Usage("/access #ROOM [+o|-o|+v|-v ACCOUNT]"))
        );
        assert_eq!(parse_line(b"/logout now"), Err(Fail::Usage("/logout")));
    }

    #[test]
    fn replies() {
        assert_eq!(
            enc(ServiceReply::LoggedIn { account: "alice" }),
            "= login alice\n"
        );
        assert_eq!(
            enc(ServiceReply::AccountInfo {
                account: "alice",
                registered_secs: 7,
                email: Some("a@b"),
                certs: Some(&["ff"]),
            }),
            "= info alice registered 7\n= info alice email a@b\n= info alice certfp ff\n\
             = end info alice\n"
        );
        assert_eq!(
            enc(ServiceReply::RoomInfo {
                room: "#r",
                founder: "alice",
                registered_secs: 9,
                ops: &["bob", "carol"],
                voices: &[],
            }),
            "= info #r founder alice\n= info #r registered 9\n= info #r ops bob carol\n\
             = info #r voices\n= end info #r\n"
        );
        assert_eq!(
            enc(ServiceReply::AccountFail(AccountFail::RateLimited(4))),
            "! too-many-failures too many failed logins; try again in 4 s\n"
        );
        assert_eq!(
            enc(ServiceReply::AccessChanged {
                room: "#r",
                role: Role::Op,
                account: "bob",
                add: false
            }),
            "= access #r -o bob\n"
        );
    }
}

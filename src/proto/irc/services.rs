//! How IRC hears the services: every answer is a NOTICE from `NickServ` or `ChanServ`
//! (`:NickServ!NickServ@services NOTICE alice :You are now logged in as alice.`), one line per
//! sentence, as IRC services have always spoken.

use crate::event::services::{AccountFail, Reclaim, RoomFail, Service, ServiceReply};
use crate::event::Role;
use crate::proto::irc_msg::write_notice;
use crate::proto::services::{CHANSERV, NICKSERV};

/// The source of the services' lines.
pub fn source(service: Service) -> &'static str {
    match service {
        Service::NickServ => "NickServ!NickServ@services",
        Service::ChanServ => "ChanServ!ChanServ@services",
    }
}

/// A time as server-time writes it.
fn date(secs: u64) -> String {
    let mut out = Vec::new();
    crate::proto::irc::write_time(secs * 1000, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(" ")
    }
}

fn role_list(role: Role) -> &'static str {
    match role {
        Role::Op => "ops",
        Role::Voice => "voice",
    }
}

/// The lines of a reply, as sentences.
fn lines(reply: &ServiceReply<'_>) -> Vec<String> {
    let one = |s: String| vec![s];
    match *reply {
        ServiceReply::Registered { account } => one(format!(
            "Account {account} registered; you are now logged in to it."
        )),
        ServiceReply::LoggedIn { account } => one(format!("You are now logged in as {account}.")),
        ServiceReply::LoggedOut => one("You are now logged out.".into()),
        ServiceReply::PasswordChanged => one("Your password was changed.".into()),
        ServiceReply::AccountDropped { account } => one(format!("Account {account} was deleted.")),
        ServiceReply::AccountInfo {
            account,
            registered_secs,
            email,
            certs,
        } => {
            let mut v = vec![format!(
                "Account {account}, registered at {}.",
                date(registered_secs)
            )];
            if let Some(email) = email {
                v.push(format!(
                    "E-mail: {email} (never verified, never written to)"
                ));
            }
            if let Some(certs) = certs {
                v.push(format!("Certificates: {}", list(certs)));
            }
            v
        }
        ServiceReply::CertAdded(fp) => one(format!(
            "Certificate {fp} added: it logs you in with SASL EXTERNAL."
        )),
        ServiceReply::CertRemoved(fp) => one(format!("Certificate {fp} removed.")),
        ServiceReply::Certs {
            account,
            list: certs,
        } => one(format!("Certificates of {account}: {}", list(certs))),
        ServiceReply::Ghosted { nick } => one(format!("{nick} is yours again.")),
        ServiceReply::NickProtected {
            nick,
            account,
            grace_secs,
        } => vec![
            format!("{nick} is registered to the account {account}."),
            format!(
                "Log in with /msg NickServ IDENTIFY {account} <password> within {grace_secs} \
                 seconds, or you will be renamed."
            ),
        ],
        ServiceReply::NickReclaimed { nick, why } => one(match why {
            Reclaim::GraceOver => {
                format!("{nick} belongs to an account you did not log in to in time.")
            }
            Reclaim::Ghosted(by) => format!("{nick} was taken back by {by} (GHOST)."),
            Reclaim::OwnerLoggedIn => format!("{nick} was taken back: its owner logged in."),
        }),
        ServiceReply::AccountFail(f) => one(account_fail(&f)),
        ServiceReply::RoomRegistered { room, founder } => one(format!(
            "{room} is registered, founder {founder}: its topic, modes, bans and access lists \
             are kept."
        )),
        ServiceReply::RoomDropped { room } => one(format!("{room} is no longer registered.")),
        ServiceReply::RoomInfo {
            room,
            founder,
            registered_secs,
            ops,
            voices,
        } => vec![
            format!(
                "{room}: founder {founder}, registered at {}.",
                date(registered_secs)
            ),
            format!("Ops: {}", list(ops)),
            format!("Voice: {}", list(voices)),
        ],
        ServiceReply::AccessChanged {
            room,
            role,
            account,
            add,
        } => one(if add {
            format!("{account} is on the {} list of {room}.", role_list(role))
        } else {
            format!(
                "{account} is not on the {} list of {room}.",
                role_list(role)
            )
        }),
        ServiceReply::RoomFail(f) => one(room_fail(&f)),
        ServiceReply::Help(service) => {
            let table = match service {
                Service::NickServ => NICKSERV,
                Service::ChanServ => CHANSERV,
            };
            let mut v = vec![format!(
                "{} commands (/msg {} COMMAND ...):",
                service.nick(),
                service.nick()
            )];
            v.extend(table.iter().map(|(form, what)| format!("{form}: {what}")));
            v
        }
        ServiceReply::UnknownCommand(service, command) => one(format!(
            "Unknown command {command}. /msg {} HELP lists them.",
            service.nick()
        )),
    }
}

fn account_fail(f: &AccountFail<'_>) -> String {
    match *f {
        AccountFail::BadCredentials => "Invalid account or password.".into(),
        AccountFail::NoSuchAccount(a) => format!("{a} is not a registered account."),
        AccountFail::Exists(a) => format!("{a} is already registered."),
        AccountFail::BadPassword(why) => format!("That password cannot be used: {why}."),
        AccountFail::BadEmail(e) => format!("{e} is not an e-mail address."),
        AccountFail::BadName(name, why) => format!("{name} cannot be an account: {why}."),
        AccountFail::RateLimited(secs) => {
            format!("Too many failed logins; try again in {secs} seconds.")
        }
        AccountFail::Busy => "Too many password checks are waiting; try again in a moment.".into(),
        AccountFail::Unavailable => {
            "Accounts cannot be changed now (the server's store is failing); try again later."
                .into()
        }
        AccountFail::NotLoggedIn => "You are not logged in.".into(),
        AccountFail::AlreadyLoggedIn(a) => format!("You are already logged in as {a}."),
        AccountFail::NotOwner(n) => format!("{n} is not your account's nick."),
        AccountFail::OwnNick(n) => format!("You hold {n} yourself."),
        AccountFail::NoSuchNick(n) => format!("Nobody uses {n}."),
        AccountFail::NoCertificate => {
            "You connected without a TLS client certificate; name a fingerprint.".into()
        }
        AccountFail::BadFingerprint(fp) => {
            format!("{fp} is not a SHA-256 fingerprint (64 hex digits).")
        }
        AccountFail::CertTaken(fp) => format!("{fp} belongs to another account."),
        AccountFail::Usage(form) => format!("Syntax: {form}"),
    }
}

fn room_fail(f: &RoomFail<'_>) -> String {
    match *f {
        RoomFail::NeedLogin => "You must be logged in to an account.".into(),
        RoomFail::NotRegistered(r) => format!("{r} is not registered."),
        RoomFail::AlreadyRegistered(r) => format!("{r} is already registered."),
        RoomFail::NotOperator(r) => format!("You must be an operator of {r} to register it."),
        RoomFail::NotFounder(r) => format!("Only the founder of {r} may do that."),
        RoomFail::NoAccess(r) => {
            format!("Only the founder of {r} and accounts on its ops list may do that.")
        }
        RoomFail::NoSuchAccount(a) => format!("{a} is not a registered account."),
        RoomFail::NoSuchRoom(r) => format!("{r} does not exist (join it first)."),
        RoomFail::Usage(form) => format!("Syntax: {form}"),
    }
}

/// Appends a reply as NOTICEs to `me`.
pub fn encode(reply: &ServiceReply<'_>, me: &str, out: &mut Vec<u8>) {
    let from = source(reply.service());
    for line in lines(reply) {
        write_notice(out, from, me, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(reply: ServiceReply<'_>) -> String {
        let mut out = Vec::new();
        encode(&reply, "alice", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn notices_from_the_right_service() {
        assert_eq!(
            enc(ServiceReply::LoggedIn { account: "alice" }),
            ":NickServ!NickServ@services NOTICE alice :You are now logged in as alice.\r\n"
        );
        assert_eq!(
            enc(ServiceReply::RoomDropped { room: "#r" }),
            ":ChanServ!ChanServ@services NOTICE alice :#r is no longer registered.\r\n"
        );
        let help = enc(ServiceReply::Help(Service::ChanServ));
        assert!(help.starts_with(":ChanServ!ChanServ@services NOTICE alice :ChanServ commands"));
        assert_eq!(help.lines().count(), 1 + CHANSERV.len());
        assert_eq!(
            enc(ServiceReply::AccountFail(AccountFail::Usage(
                "GHOST <nick>"
            ))),
            ":NickServ!NickServ@services NOTICE alice :Syntax: GHOST <nick>\r\n"
        );
    }
}

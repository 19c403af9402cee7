//! Accounts and their certificate fingerprints. Names are unique by the primary key, decided
//! inside the group's transaction: two nodes registering one name at once, the second waits
//! for the first's commit and finds the name taken (`Conflict`).

use postgres::Row;

use super::{pg_error, storable, Db, Pg};
use crate::auth::password::PasswordHashes;
use crate::auth::scram::ScramCredentials;
use crate::store::backend::{Applied, Effect, StoreError, StoredAccount};
use crate::store::request::Write;
use crate::store::types::*;

pub fn names(db: &mut Db<'_>) -> Result<Vec<AccountName>, StoreError> {
    let rows = db
        .query("SELECT key, name FROM accounts ORDER BY key", &[])
        .map_err(pg_error)?;
    rows.iter()
        .map(|r| {
            Ok(AccountName {
                key: r.try_get(0)?,
                name: r.try_get(1)?,
            })
        })
        .collect::<Pg<_>>()
        .map_err(pg_error)
}

fn stored(r: &Row) -> Pg<StoredAccount> {
    let salt: Option<Vec<u8>> = r.try_get(3)?;
    let iterations: Option<i64> = r.try_get(4)?;
    let stored: Option<Vec<u8>> = r.try_get(5)?;
    let server: Option<Vec<u8>> = r.try_get(6)?;
    // A row with damaged SCRAM columns still logs in by password.
    let scram = match (
        salt,
        iterations.and_then(|i| u32::try_from(i).ok()),
        stored,
        server,
    ) {
        (Some(salt), Some(iterations), Some(stored), Some(server)) => {
            match (<[u8; 32]>::try_from(stored), <[u8; 32]>::try_from(server)) {
                (Ok(stored_key), Ok(server_key)) => Some(ScramCredentials {
                    salt,
                    iterations,
                    stored_key,
                    server_key,
                }),
                _ => None,
            }
        }
        _ => None,
    };
    Ok(StoredAccount {
        name: AccountName {
            key: r.try_get(0)?,
            name: r.try_get(1)?,
        },
        phc: r.try_get(2)?,
        scram,
    })
}

pub fn get(db: &mut Db<'_>, key: &str) -> Result<Option<StoredAccount>, StoreError> {
    db.query_opt(
        "SELECT key, name, password, scram_salt, scram_iterations, scram_stored_key,
         scram_server_key FROM accounts WHERE key = $1",
        &[&key],
    )
    .and_then(|r| r.as_ref().map(stored).transpose())
    .map_err(pg_error)
}

pub fn by_certificate(
    db: &mut Db<'_>,
    fingerprint: &str,
) -> Result<Option<AccountName>, StoreError> {
    db.query_opt(
        "SELECT a.key, a.name FROM account_certificates c JOIN accounts a ON a.key = c.account
         WHERE c.fingerprint = $1",
        &[&fingerprint],
    )
    .and_then(|r| {
        r.map(|r| {
            Ok(AccountName {
                key: r.try_get(0)?,
                name: r.try_get(1)?,
            })
        })
        .transpose()
    })
    .map_err(pg_error)
}

pub fn info(db: &mut Db<'_>, key: &str) -> Result<Option<AccountInfo>, StoreError> {
    let row = db
        .query_opt(
            "SELECT key, name, email, registered_ms FROM accounts WHERE key = $1",
            &[&key],
        )
        .map_err(pg_error)?;
    let Some(r) = row else { return Ok(None) };
    let certs = db
        .query(
            "SELECT fingerprint FROM account_certificates WHERE account = $1 ORDER BY fingerprint",
            &[&key],
        )
        .map_err(pg_error)?;
    let info = (|| -> Pg<AccountInfo> {
        Ok(AccountInfo {
            name: AccountName {
                key: r.try_get(0)?,
                name: r.try_get(1)?,
            },
            email: r.try_get(2)?,
            registered: r.try_get(3)?,
            certificates: certs.iter().map(|c| c.try_get(0)).collect::<Pg<_>>()?,
        })
    })()
    .map_err(pg_error)?;
    Ok(Some(info))
}

/// Whether every text of an effect can be stored (PostgreSQL text holds no NUL).
pub fn storable_effect(e: &Effect) -> bool {
    match e {
        Effect::CreateAccount {
            name,
            hashes,
            email,
            ..
        } => {
            storable(&name.key)
                && storable(&name.name)
                && storable(&hashes.phc)
                && email.as_deref().is_none_or(storable)
        }
        Effect::SetPassword { key, hashes } => storable(key) && storable(&hashes.phc),
        Effect::DropAccount { key } => storable(key),
        Effect::AddCertificate { key, fingerprint } => storable(key) && storable(fingerprint),
    }
}

pub fn storable_write(w: &Write) -> bool {
    match w {
        Write::AccountEmail { key, email } => {
            storable(key) && email.as_deref().is_none_or(storable)
        }
        Write::AccountCertRemove { key, fingerprint } => storable(key) && storable(fingerprint),
        _ => true,
    }
}

fn scram(h: &PasswordHashes) -> (&[u8], i64, &[u8], &[u8]) {
    (
        &h.scram.salt,
        i64::from(h.scram.iterations),
        &h.scram.stored_key,
        &h.scram.server_key,
    )
}

pub fn effect(db: &mut Db<'_>, e: &Effect) -> Pg<Applied> {
    let done = |n: u64, otherwise: Applied| if n > 0 { Applied::Done } else { otherwise };
    match e {
        Effect::CreateAccount {
            name,
            hashes,
            email,
            registered,
        } => {
            let (salt, iterations, stored, server) = scram(hashes);
            let n = db.exec(
                "INSERT INTO accounts (key, name, password, scram_salt, scram_iterations,
                 scram_stored_key, scram_server_key, email, registered_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING",
                &[
                    &name.key,
                    &name.name,
                    &hashes.phc,
                    &salt,
                    &iterations,
                    &stored,
                    &server,
                    email,
                    registered,
                ],
            )?;
            Ok(done(n, Applied::Conflict))
        }
        Effect::SetPassword { key, hashes } => {
            let (salt, iterations, stored, server) = scram(hashes);
            let n = db.exec(
                "UPDATE accounts SET password = $2, scram_salt = $3, scram_iterations = $4,
                 scram_stored_key = $5, scram_server_key = $6 WHERE key = $1",
                &[key, &hashes.phc, &salt, &iterations, &stored, &server],
            )?;
            Ok(done(n, Applied::Missing))
        }
        Effect::DropAccount { key } => {
            let n = db.exec("DELETE FROM accounts WHERE key = $1", &[key])?;
            Ok(done(n, Applied::Missing))
        }
        Effect::AddCertificate { key, fingerprint } => {
            // The account row is locked against a drop on another node until the commit.
            let exists = db
                .query_opt(
                    "SELECT 1 FROM accounts WHERE key = $1 FOR KEY SHARE",
                    &[key],
                )?
                .is_some();
            if !exists {
                return Ok(Applied::Missing);
            }
            let n = db.exec(
                "INSERT INTO account_certificates (fingerprint, account) VALUES ($1, $2)
                 ON CONFLICT (fingerprint) DO NOTHING",
                &[fingerprint, key],
            )?;
            if n > 0 {
                return Ok(Applied::Done);
            }
            let owner: Option<String> = db
                .query_opt(
                    "SELECT account FROM account_certificates WHERE fingerprint = $1",
                    &[fingerprint],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
            Ok(match owner {
                Some(o) if &o == key => Applied::Done,
                _ => Applied::Conflict,
            })
        }
    }
}

pub fn apply(db: &mut Db<'_>, write: &Write) -> Pg<()> {
    match write {
        Write::AccountEmail { key, email } => db
            .exec(
                "UPDATE accounts SET email = $2 WHERE key = $1",
                &[key, email],
            )
            .map(drop),
        Write::AccountCertRemove { key, fingerprint } => db
            .exec(
                "DELETE FROM account_certificates WHERE account = $1 AND fingerprint = $2",
                &[key, fingerprint],
            )
            .map(drop),
        _ => Ok(()),
    }
}

//! Accounts and their certificate fingerprints.

use rusqlite::{params, Connection, OptionalExtension};

use super::sql_error;
use crate::auth::password::PasswordHashes;
use crate::auth::scram::ScramCredentials;
use crate::store::backend::{Applied, Effect, StoreError, StoredAccount};
use crate::store::request::Write;
use crate::store::types::*;

pub fn names(conn: &Connection) -> Result<Vec<AccountName>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT key, name FROM accounts ORDER BY key")
        .map_err(sql_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(AccountName {
                key: r.get(0)?,
                name: r.get(1)?,
            })
        })
        .map_err(sql_error)?;
    rows.collect::<Result<_, _>>().map_err(sql_error)
}

pub fn get(conn: &Connection, key: &str) -> Result<Option<StoredAccount>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, name, password, scram_salt, scram_iterations, scram_stored_key,
             scram_server_key FROM accounts WHERE key = ?1",
        )
        .map_err(sql_error)?;
    stmt.query_row(params![key], |r| {
        let salt: Option<Vec<u8>> = r.get(3)?;
        let iterations: Option<u32> = r.get(4)?;
        let stored: Option<Vec<u8>> = r.get(5)?;
        let server: Option<Vec<u8>> = r.get(6)?;
        // A row with damaged SCRAM columns still logs in by password.
        let scram = match (salt, iterations, stored, server) {
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
                key: r.get(0)?,
                name: r.get(1)?,
            },
            phc: r.get(2)?,
            scram,
        })
    })
    .optional()
    .map_err(sql_error)
}

pub fn by_certificate(
    conn: &Connection,
    fingerprint: &str,
) -> Result<Option<AccountName>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT a.key, a.name FROM account_certificates c JOIN accounts a ON a.key = c.account
             WHERE c.fingerprint = ?1",
        )
        .map_err(sql_error)?;
    stmt.query_row(params![fingerprint], |r| {
        Ok(AccountName {
            key: r.get(0)?,
            name: r.get(1)?,
        })
    })
    .optional()
    .map_err(sql_error)
}

pub fn info(conn: &Connection, key: &str) -> Result<Option<AccountInfo>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT key, name, email, registered_ms FROM accounts WHERE key = ?1")
        .map_err(sql_error)?;
    let Some(mut info) = stmt
        .query_row(params![key], |r| {
            Ok(AccountInfo {
                name: AccountName {
                    key: r.get(0)?,
                    name: r.get(1)?,
                },
                email: r.get(2)?,
                registered: r.get(3)?,
                certificates: Vec::new(),
            })
        })
        .optional()
        .map_err(sql_error)?
    else {
        return Ok(None);
    };
    let mut certs = conn
        .prepare_cached(
            "SELECT fingerprint FROM account_certificates WHERE account = ?1 ORDER BY fingerprint",
        )
        .map_err(sql_error)?;
    let rows = certs
        .query_map(params![key], |r| r.get(0))
        .map_err(sql_error)?;
    info.certificates = rows.collect::<Result<_, _>>().map_err(sql_error)?;
    Ok(Some(info))
}

fn changed(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(p))
        .map_err(sql_error)
}

fn scram_params(h: &PasswordHashes) -> (&[u8], u32, &[u8], &[u8]) {
    (
        &h.scram.salt,
        h.scram.iterations,
        &h.scram.stored_key,
        &h.scram.server_key,
    )
}

pub fn effect(conn: &Connection, e: &Effect) -> Result<Applied, StoreError> {
    let done = |n: usize, otherwise: Applied| if n > 0 { Applied::Done } else { otherwise };
    match e {
        Effect::CreateAccount {
            name,
            hashes,
            email,
            registered,
        } => {
            let (salt, iterations, stored, server) = scram_params(hashes);
            let n = changed(
                conn,
                "INSERT OR IGNORE INTO accounts (key, name, password, scram_salt, scram_iterations,
                 scram_stored_key, scram_server_key, email, registered_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    name.key, name.name, hashes.phc, salt, iterations, stored, server, email,
                    registered
                ],
            )?;
            Ok(done(n, Applied::Conflict))
        }
        Effect::SetPassword { key, hashes } => {
            let (salt, iterations, stored, server) = scram_params(hashes);
            let n = changed(
                conn,
                "UPDATE accounts SET password = ?2, scram_salt = ?3, scram_iterations = ?4,
                 scram_stored_key = ?5, scram_server_key = ?6 WHERE key = ?1",
                params![key, hashes.phc, salt, iterations, stored, server],
            )?;
            Ok(done(n, Applied::Missing))
        }
        Effect::DropAccount { key } => {
            let n = changed(conn, "DELETE FROM accounts WHERE key = ?1", params![key])?;
            Ok(done(n, Applied::Missing))
        }
        Effect::AddCertificate { key, fingerprint } => {
            let exists: bool = conn
                .query_row(
                    "SELECT 1 FROM accounts WHERE key = ?1",
                    params![key],
                    |_| Ok(()),
                )
                .optional()
                .map_err(sql_error)?
                .is_some();
            if !exists {
                return Ok(Applied::Missing);
            }
            let owner: Option<String> = conn
                .query_row(
                    "SELECT account FROM account_certificates WHERE fingerprint = ?1",
                    params![fingerprint],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_error)?;
            match owner {
                Some(o) if &o == key => Ok(Applied::Done),
                Some(_) => Ok(Applied::Conflict),
                None => {
                    changed(
                        conn,
                        "INSERT INTO account_certificates (fingerprint, account) VALUES (?1, ?2)",
                        params![fingerprint, key],
                    )?;
                    Ok(Applied::Done)
                }
            }
        }
    }
}

pub fn apply(conn: &Connection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::AccountEmail { key, email } => changed(
            conn,
            "UPDATE accounts SET email = ?2 WHERE key = ?1",
            params![key, email],
        )
        .map(drop),
        Write::AccountCertRemove { key, fingerprint } => changed(
            conn,
            "DELETE FROM account_certificates WHERE account = ?1 AND fingerprint = ?2",
            params![key, fingerprint],
        )
        .map(drop),
        _ => Err(StoreError::row("not an account write")),
    }
}

//! The non-server subcommands: `migrate`, `user create`, `user set-password`.

use std::io::BufRead;

use anyhow::{Context, bail};

use crate::{
    auth::{cache::PrincipalCache, password::PasswordHasher},
    config::{GlobalArgs, UserCommand},
    db::Db,
    error::Error,
    realtime::Realtime,
    users::service::{self, NewUser, PasswordOf},
    write::Writer,
};

pub async fn migrate(global: &GlobalArgs) -> anyhow::Result<()> {
    let db = Db::connect(&global.database_url(), Some(1)).await?;
    db.migrate().await?;
    db.close().await;
    println!("migrations applied");
    Ok(())
}

/// Reads the first line of standard input (without its line ending).
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

pub async fn user(global: &GlobalArgs, cmd: UserCommand) -> anyhow::Result<()> {
    let password = read_password()?;
    let db = Db::connect(&global.database_url(), Some(2)).await?;
    db.migrate().await?;
    let hasher = PasswordHasher::new(1)?;
    // No hub and no session cache here: running servers learn of revocations through the
    // database (PostgreSQL notifications; on SQLite at their next session check).
    let writer = Writer::new(
        db.clone(),
        Realtime::detached(db.clone()),
        PrincipalCache::new(false),
    );
    let result = match cmd {
        UserCommand::Create {
            username,
            role,
            email,
            display_name,
        } => {
            let email = email.unwrap_or_else(|| format!("{username}@switchboard.local"));
            service::create(
                &writer,
                &hasher,
                None,
                NewUser {
                    username: username.clone(),
                    email,
                    display_name,
                    password,
                    role,
                },
            )
            .await
            .map(|u| println!("created user {} ({})", u.username, u.id))
        }
        UserCommand::SetPassword { username } => service::set_password(
            &writer,
            &hasher,
            PasswordOf::Username(&username),
            "password",
            password,
        )
        .await
        .map(|_| println!("password set for {username}; their sessions have ended")),
    };
    drop(writer);
    db.close().await;
    result.map_err(describe)
}

fn describe(err: Error) -> anyhow::Error {
    match err {
        Error::Validation(fields) => {
            let list: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            anyhow::anyhow!("invalid input: {}", list.join("; "))
        }
        other => anyhow::anyhow!("{other}"),
    }
}

//! The non-server subcommands: `migrate`, `user create`, `user set-password`, `backup …`.

use std::io::BufRead;

use anyhow::{Context, bail};

use crate::{
    auth::{cache::PrincipalCache, password::PasswordHasher},
    backup::{self, service::Backups},
    config::{BackupCommand, BackupTargetArgs, GlobalArgs, UserCommand},
    db::Db,
    error::Error,
    realtime::Realtime,
    s3,
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

/// The backup service over the database and stores the command line names, with no hub.
async fn backups(global: &GlobalArgs, target: &BackupTargetArgs) -> anyhow::Result<(Backups, Db)> {
    let db = Db::connect(&global.database_url(), Some(2)).await?;
    db.migrate().await?;
    let live = s3::open_storage(&target.storage, &global.data_dir).await?;
    let writer = Writer::new(
        db.clone(),
        Realtime::detached(db.clone()),
        PrincipalCache::new(false),
    );
    let ctx = backup::create::Context {
        db: db.clone(),
        database_url: global.database_url(),
        tmp: live.tmp_dir().to_owned(),
        live,
        target: s3::open_backup_location(&target.target, &global.data_dir)?,
        max_bytes_per_sec: 0,
    };
    Ok((Backups::new(ctx, writer), db))
}

pub async fn backup(global: &GlobalArgs, cmd: BackupCommand) -> anyhow::Result<()> {
    match cmd {
        BackupCommand::Create { target } => {
            let (backups, db) = backups(global, &target).await?;
            let info = backups.create_now("cli").await;
            db.close().await;
            if let Some(error) = info.error {
                bail!("backup {} failed: {error}", info.id);
            }
            println!(
                "backup {} complete: seq {}, {} objects ({} copied, {} bytes), {} bytes in all, in {}",
                info.id,
                info.last_seq.unwrap_or(0),
                info.objects_total,
                info.objects_copied,
                info.bytes_copied,
                info.size_bytes,
                backups.location()
            );
            Ok(())
        }
        BackupCommand::List { target } => {
            let (backups, db) = backups(global, &target).await?;
            let items = backups.list().await;
            db.close().await;
            println!(
                "{:<22} {:<9} {:<8} {:>10} {:>8} {:>14}  finished",
                "id", "status", "trigger", "last_seq", "objects", "bytes"
            );
            for b in items.map_err(describe)? {
                println!(
                    "{:<22} {:<9} {:<8} {:>10} {:>8} {:>14}  {}",
                    b.id,
                    b.status,
                    b.trigger,
                    b.last_seq.unwrap_or(0),
                    b.objects_total,
                    b.size_bytes,
                    b.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                );
            }
            Ok(())
        }
        BackupCommand::Delete { id, target } => {
            let (backups, db) = backups(global, &target).await?;
            let result = backups.delete(&id, None).await;
            db.close().await;
            result.map_err(describe)?;
            println!("backup {id} deleted");
            Ok(())
        }
        BackupCommand::Restore { source, target } => {
            let live = s3::open_storage(&target.storage, &global.data_dir).await?;
            let location = s3::open_backup_location(&target.target, &global.data_dir).ok();
            let source = backup::restore::open_source(&source, location, &global.data_dir).await?;
            let result =
                backup::restore::restore(&source, &global.database_url(), &global.data_dir, &live)
                    .await;
            if let Some(dir) = &source.unpacked {
                let _ = std::fs::remove_dir_all(dir);
            }
            let done = result?;
            println!(
                "restored backup {} (seq {}, {} files, {} objects written); the log's new epoch is {}; \
                 the replaced database is kept in {} until you delete it",
                done.manifest.id,
                done.manifest.last_seq,
                done.manifest.objects.len(),
                done.objects_written,
                done.epoch,
                done.aside.display()
            );
            Ok(())
        }
    }
}

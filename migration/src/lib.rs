//! Schema migrations, shared by SQLite and PostgreSQL. Applied at start and by `switchboard migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_users_sessions;
mod m20261122_000002_events;
mod m20261122_000003_files;
mod m20261122_000004_download_slots;
mod m20261201_000005_list_indexes;
mod m20261202_000006_event_filter_indexes;
mod m20261202_000007_uploads;
mod m20261202_000008_tasks;
mod m20261202_000009_accounts;
mod m20261202_000010_log_identity;
mod m20261203_000011_traffic;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_users_sessions::Migration),
            Box::new(m20261122_000002_events::Migration),
            Box::new(m20261122_000003_files::Migration),
            Box::new(m20261122_000004_download_slots::Migration),
            Box::new(m20261201_000005_list_indexes::Migration),
            Box::new(m20261202_000006_event_filter_indexes::Migration),
            Box::new(m20261202_000007_uploads::Migration),
            Box::new(m20261202_000008_tasks::Migration),
            Box::new(m20261202_000009_accounts::Migration),
            Box::new(m20261202_000010_log_identity::Migration),
            Box::new(m20261203_000011_traffic::Migration),
        ]
    }
}

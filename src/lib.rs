//! nbu_exporter: a Prometheus exporter for Veritas/Cohesity NetBackup.
//!
//! Data path: [`config`] → [`netbackup`] client → [`collector`]s → [`snapshot`] → [`exposition`] → [`http`];
//! [`poller`] runs every source of every site on its own thread and schedule; beside them [`reload`] (with [`watch`] and the signal thread in [`app`])
//! applies configuration changes, [`health`] probes NetBackup on demand and [`notify`] talks to systemd.

pub mod app;
pub mod build_info;
pub mod cli;
pub mod collector;
pub mod config;
pub mod exposition;
pub mod health;
pub mod http;
pub mod logging;
pub mod netbackup;
pub mod notify;
pub mod poller;
pub mod process;
pub mod reload;
pub mod snapshot;
pub mod watch;
pub mod web_config;

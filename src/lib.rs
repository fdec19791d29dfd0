//! nbu_exporter: a Prometheus exporter for Veritas/Cohesity NetBackup.
//!
//! Data path: [`config`] → [`netbackup`] client → [`collector`]s → [`snapshot`] → [`exposition`] → [`http`];
//! [`poller`] drives collection per site, [`app`] wires everything and handles signals.

pub mod app;
pub mod cli;
pub mod collector;
pub mod config;
pub mod exposition;
pub mod http;
pub mod logging;
pub mod netbackup;
pub mod poller;
pub mod snapshot;

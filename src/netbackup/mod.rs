//! The NetBackup side: REST client, response models and the API's time formats.

pub mod client;
pub mod lenient;
pub mod models;
mod resolve;
pub mod time;

pub use client::{ApiError, At, Client, List, Paging, Walk};

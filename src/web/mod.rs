//! HTTP: the axum app and its routes ([`server`]), the landing page's topology pictures
//! ([`topology`], pure), the exporter-toolkit web configuration file
//! ([`config`]), basic auth ([`auth`]) and the HTTPS listener ([`listener`]). It reads the
//! [`crate::store::Store`] and never imports a poller.

pub mod auth;
pub mod config;
pub mod fleet;
pub mod lifecycle;
pub mod listener;
pub mod server;
pub mod topology;

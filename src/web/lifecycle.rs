//! `POST /-/reload` (Prometheus's lifecycle API): asks the exporter's reloader to read the
//! configuration file again and answers with the outcome. Off unless `--web.enable-lifecycle`
//! (403 then, as Prometheus answers); SIGHUP reloads either way.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use crate::web::server::AppState;

/// One reload asked over HTTP; the reply is the summary of what changed, or why the file was
/// refused (the configuration error's one line).
pub struct ReloadRequest {
    pub reply: oneshot::Sender<Result<String, String>>,
}

pub(crate) async fn reload(State(state): State<AppState>) -> Response {
    let Some(tx) = state.lifecycle.as_ref() else {
        return (
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled (start with --web.enable-lifecycle).\n",
        )
            .into_response();
    };
    let (reply, answer) = oneshot::channel();
    if tx.send(ReloadRequest { reply }).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the exporter is stopping\n",
        )
            .into_response();
    }
    match answer.await {
        Ok(Ok(summary)) => (
            StatusCode::OK,
            format!("configuration reloaded: {summary}\n"),
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the exporter is stopping\n",
        )
            .into_response(),
    }
}

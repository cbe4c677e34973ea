//! Picks up a changed auth config without a restart: polls the files' contents.
//!
//! Contents rather than modification times, because Kubernetes updates a mounted Secret by
//! swapping a symlink, and a file rewritten within the same second keeps its mtime on some file
//! systems. The files are small, so reading them every few seconds costs nothing. The server may
//! also call [`Auth::reload`] on SIGHUP.

use crate::auth::Auth;
use crate::config::fingerprint;
use std::path::PathBuf;
use std::time::Duration;

impl Auth {
    /// Starts a task that checks the auth config file and its htpasswd file every `interval`
    /// and reloads when their content changed. A failed reload is logged once per content and
    /// keeps the previous configuration. `None` when there is no config file. Needs a Tokio
    /// runtime; abort the handle to stop it.
    pub fn spawn_watcher(&self, interval: Duration) -> Option<tokio::task::JoinHandle<()>> {
        self.config_file()?;
        let auth = self.clone();
        Some(tokio::spawn(async move {
            let mut failed_fingerprint = None;
            loop {
                tokio::time::sleep(interval).await;
                let Some(current) = auth.current_file() else { continue };
                let sources = current.sources.clone();
                let Ok(Some(now)) = tokio::task::spawn_blocking(move || read_fingerprint(&sources)).await else {
                    // A file cannot be read right now (being replaced?): try a reload, which
                    // reports the error, unless that already failed for the same state.
                    if failed_fingerprint != Some(None) {
                        failed_fingerprint = Some(None);
                        auth.reload_and_log().await;
                    }
                    continue;
                };
                if now == current.fingerprint {
                    // Back to what is loaded: a later failure is news again.
                    failed_fingerprint = None;
                    continue;
                }
                if failed_fingerprint == Some(Some(now)) {
                    continue;
                }
                if auth.reload_and_log().await {
                    failed_fingerprint = None;
                } else {
                    failed_fingerprint = Some(Some(now));
                }
            }
        }))
    }

    async fn reload_and_log(&self) -> bool {
        let auth = self.clone();
        match tokio::task::spawn_blocking(move || auth.reload()).await {
            Ok(Ok(summary)) => {
                tracing::info!(
                    users = summary.users,
                    tokens = summary.tokens,
                    grants = summary.grants,
                    "auth config reloaded"
                );
                true
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "auth config reload failed; the previous configuration stays in force");
                false
            }
            Err(error) => {
                tracing::error!(%error, "auth config reload task failed");
                false
            }
        }
    }
}

fn read_fingerprint(sources: &[PathBuf]) -> Option<[u8; 32]> {
    let contents = sources.iter().map(std::fs::read).collect::<Result<Vec<_>, _>>().ok()?;
    Some(fingerprint(contents.iter().map(Vec::as_slice)))
}

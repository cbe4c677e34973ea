//! Client errors. Every error has a [`ErrorKind`] that decides the process exit code, so scripts
//! can tell a usage mistake from a missing chart, a conflict or a network failure.

/// What went wrong, coarsely; each kind has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad arguments or invalid input: a malformed reference, an unreadable chart folder, an
    /// invalid chart, or an archive that does not load as a chart (whatever its digest).
    Usage,
    /// The repository, chart or version does not exist.
    NotFound,
    /// The version already exists on the server (upload without `--force`).
    Conflict,
    /// The server refused the credentials (401/403).
    Auth,
    /// The server or repository could not be reached, or answered with a server error.
    Network,
    /// Downloaded bytes do not match the digest the index promised (only that: bytes that match
    /// but do not load as a chart are [`ErrorKind::Usage`], an invalid archive).
    Integrity,
    /// Anything else (I/O on the local disk, unexpected answers).
    Other,
}

impl ErrorKind {
    /// The process exit code for this kind (0 is success; clap's usage errors also exit with 2).
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Other => 1,
            ErrorKind::Usage => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::Conflict => 4,
            ErrorKind::Network => 5,
            ErrorKind::Auth => 6,
            ErrorKind::Integrity => 7,
        }
    }
}

/// A client error: a kind and a message meant for people.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ClientError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    /// An archive (or a chart in it) that does not load: exit code 2, like any invalid input.
    pub fn invalid_archive(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Network, message)
    }
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_exit_codes() {
        let kinds = [
            ErrorKind::Usage,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::Auth,
            ErrorKind::Network,
            ErrorKind::Integrity,
            ErrorKind::Other,
        ];
        let mut codes: Vec<i32> = kinds.iter().map(|k| k.exit_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len());
        assert!(codes.iter().all(|&c| c != 0));
    }
}

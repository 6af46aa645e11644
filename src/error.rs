//! The crate-wide domain error.
//!
//! Domain code returns [`Error`]; it knows nothing of HTTP. The `http` module renders it as the JSON error
//! shape of the API (`{"error": {"code", "message"}}`) and the CLI prints it. Every variant has a stable
//! snake_case [`Error::code`] that clients may match on: never rename one.

use std::borrow::Cow;

/// `Result` with the crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist, or the caller may not know that it does.
    #[error("not found")]
    NotFound,
    /// No credentials, or credentials that are not valid.
    #[error("authentication required")]
    Unauthorized,
    /// The caller is known but may not do this.
    #[error("not allowed")]
    Forbidden,
    /// The request is malformed (not JSON, wrong types, ...).
    #[error("{0}")]
    BadRequest(Cow<'static, str>),
    /// A field of the input has a value that is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field, as named in the request.
        field: Cow<'static, str>,
        /// What is wrong with it, as a sentence for a person.
        message: Cow<'static, str>,
    },
    /// The request conflicts with the current state (duplicate, full, already done).
    #[error("{message}")]
    Conflict {
        /// A stable snake_case code naming the conflict, e.g. `already_enrolled`.
        code: &'static str,
        /// A sentence for a person.
        message: Cow<'static, str>,
    },
    /// The request or an uploaded file is larger than allowed.
    #[error("{0}")]
    TooLarge(Cow<'static, str>),
    /// The uploaded file is of a kind that is not accepted.
    #[error("{0}")]
    Unsupported(Cow<'static, str>),
    /// An upload stopped sending data for longer than `server.upload_stall_secs` (408 `upload_stalled`).
    #[error("{0}")]
    Stalled(Cow<'static, str>),
    /// The requested byte range lies outside the file.
    #[error("the requested range is not in the file")]
    RangeNotSatisfiable,
    /// Too many requests; try again after this many seconds.
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// The disk holding the data directory is full.
    #[error("the server's storage is full")]
    StorageFull,
    /// A dependency of the request (storage, a model) is not usable right now.
    #[error("{0}")]
    Unavailable(Cow<'static, str>),
    /// A bug or an environment failure. Logged with its chain; never shown to clients.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<smartcourse_formats::Error> for Error {
    fn from(e: smartcourse_formats::Error) -> Error {
        match e {
            smartcourse_formats::Error::Invalid { field, message } => {
                Error::Invalid { field, message }
            }
            smartcourse_formats::Error::TooLarge(message) => Error::TooLarge(message),
            smartcourse_formats::Error::Internal(e) => Error::Internal(e),
        }
    }
}

impl Error {
    /// The stable snake_case code of this error, as sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound => "not_found",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden => "forbidden",
            Error::BadRequest(_) => "bad_request",
            Error::Invalid { .. } => "invalid_input",
            Error::Conflict { code, .. } => code,
            Error::TooLarge(_) => "too_large",
            Error::Unsupported(_) => "unsupported_media_type",
            Error::Stalled(_) => "upload_stalled",
            Error::RangeNotSatisfiable => "range_not_satisfiable",
            Error::RateLimited { .. } => "rate_limited",
            Error::StorageFull => "storage_full",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// A field-level validation error.
    pub fn invalid(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A conflict with a stable code.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Error::StorageFull,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                Error::Unavailable("the database is busy, try again".into())
            }
            _ => Error::Internal(anyhow::Error::new(e).context("sqlite")),
        }
    }
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        content_store_error(e)
    }
}

macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                content_store_error(e.into())
            }
        }
    )*};
}
redb_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

fn content_store_error(e: redb::Error) -> Error {
    if let redb::Error::Io(io) = &e
        && io.kind() == std::io::ErrorKind::StorageFull
    {
        return Error::StorageFull;
    }
    Error::Internal(anyhow::Error::new(e).context("content store"))
}

/// A domain error as a sentence for the terminal (internal details stay in the server's log).
pub fn describe(e: &Error) -> String {
    match e {
        Error::Internal(inner) => {
            tracing::error!(error = format!("{inner:#}"), "control request failed");
            "the server hit an internal error; see its log".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_from_sqlite_is_storage_full() {
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert_eq!(Error::from(e).code(), "storage_full");
    }

    #[test]
    fn other_sqlite_errors_are_internal() {
        let e = rusqlite::Error::QueryReturnedNoRows;
        assert_eq!(Error::from(e).code(), "internal");
    }
}

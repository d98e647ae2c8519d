//! What a query on the store can fail with, from either database.

/// What a query can fail with, from either database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sqlite(rusqlite::Error),
    #[error("{}", describe(.0))]
    Postgres(#[from] postgres::Error),
    /// A PostgreSQL error with the statement (translated) that met it.
    #[error("{} in: {sql}", describe(.error))]
    PostgresStatement { sql: String, error: postgres::Error },
    /// `query_row` found no row.
    #[error("the query returned no row")]
    NoRows,
    /// A column could not be read as the type asked for.
    #[error("column {column}: {source}")]
    Column { column: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// What one of the two databases cannot do, named.
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Error {
        match error {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            error => Error::Sqlite(error),
        }
    }
}

impl From<rusqlite::types::FromSqlError> for Error {
    fn from(error: rusqlite::types::FromSqlError) -> Error {
        Error::Column { column: "?".to_string(), source: Box::new(error) }
    }
}

impl Error {
    /// SQLite's error code, when SQLite failed.
    pub fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => Some(failure.code),
            _ => None,
        }
    }

    /// PostgreSQL's SQLSTATE, when the server answered with an error.
    pub fn postgres_code(&self) -> Option<&postgres::error::SqlState> {
        match self {
            Error::Postgres(error) | Error::PostgresStatement { error, .. } => error.code(),
            _ => None,
        }
    }

    /// Whether the PostgreSQL connection itself failed (the server went away).
    pub fn postgres_connection_lost(&self) -> bool {
        match self {
            Error::Postgres(error) | Error::PostgresStatement { error, .. } => error.is_closed() || error.as_db_error().is_none() && error.code().is_none(),
            _ => false,
        }
    }

    /// An error for a value a row holds that the caller cannot use.
    pub fn conversion(column: impl std::fmt::Display, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Column { column: column.to_string(), source: source.into() }
    }
}

/// `.optional()` on a single-row query, as rusqlite's.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Error::NoRows) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// A PostgreSQL error as an admin reads it: the server's message, detail and hint, and
/// its SQLSTATE code.
pub fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("PostgreSQL: {} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => format!("PostgreSQL: {error}"),
    }
}
